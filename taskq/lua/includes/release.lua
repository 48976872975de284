--- @include "includes/ready.lua"
-- What ends a task's hold on shared things: its concurrency slot (which
-- lets parked tasks of its key back in line), its entry in its holder's
-- index, and a dedupe key that lives only as long as the task (no window
-- given).
local function release_concurrency(Q, tkey)
  local group = redis.call('HGET', tkey, 'ckey')
  if group then
    local busy = redis.call('HINCRBY', Q.conc, group, -1)
    if busy <= 0 then
      redis.call('HDEL', Q.conc, group)
      busy = 0
    end
    wake(Q, unpark(Q, group, busy))
  end
end

-- The lease of task id, held by `holder`, ended (holder may be nil).
local function release_hold(Q, id, holder)
  if holder then redis.call('ZREM', Q.held_prefix .. holder, id) end
end

local function release_dedupe(Q, id, tkey)
  local f = redis.call('HMGET', tkey, 'dedupe', 'dedupe_window')
  if f[1] and not f[2] then
    local dkey = Q.dedupe_prefix .. f[1]
    if redis.call('GET', dkey) == id then redis.call('DEL', dkey) end
  end
end
