-- What ends a task's hold on shared things: its concurrency slot, and a
-- dedupe key that lives only as long as the task (no window given).
local function release_concurrency(Q, tkey)
  local group = redis.call('HGET', tkey, 'ckey')
  if group then
    if redis.call('HINCRBY', Q.conc, group, -1) <= 0 then
      redis.call('HDEL', Q.conc, group)
    end
  end
end

local function release_dedupe(Q, id, tkey)
  local f = redis.call('HMGET', tkey, 'dedupe', 'dedupe_window')
  if f[1] and not f[2] then
    local dkey = Q.dedupe_prefix .. f[1]
    if redis.call('GET', dkey) == id then redis.call('DEL', dkey) end
  end
end
