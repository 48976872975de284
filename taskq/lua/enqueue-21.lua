--[[ Create one or many tasks in one call, all-or-nothing on validation.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1]       count n
ARGV[2..n+1]  one JSON object per task:
              {id, f = {hash fields to store}, delay = ms?, at = epoch ms?,
               deps = [task ids]?, tags = [strings]?}
              f may hold dedupe / dedupe_window (ms) / dep_policy ('fail'|'release').
Returns {OK, now_ms, id1, status1, ...}: status is the new task's status, or
'duplicate' with the id of the task already holding the dedupe key.
Refusals, nothing written: {E_EXISTS, index, id}, {E_DEP_MISSING, index, dep}.
Dependencies in other queues are recorded as unresolved here; the caller links
them there with link_dependent (an idempotent follow-up).
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"

local n = tonumber(ARGV[1])
local now = now_ms()
local own = Q.name .. ':'
local specs, in_batch = {}, {}

for i = 1, n do
  local s = cjson.decode(ARGV[i + 1])
  specs[i] = s
  if in_batch[s.id] or redis.call('EXISTS', Q.task_prefix .. s.id) == 1 then
    return {E_EXISTS, i, s.id}
  end
  if s.deps then
    for _, d in ipairs(s.deps) do
      if string.sub(d, 1, #own) == own and not in_batch[d]
          and redis.call('EXISTS', Q.task_prefix .. d) == 0 then
        return {E_DEP_MISSING, i, d}
      end
    end
  end
  in_batch[s.id] = true
end

local out, alias, ready = {OK, now}, {}, 0
for i = 1, n do
  local s, f, id = specs[i], specs[i].f, specs[i].id
  local holder = nil
  if f.dedupe then
    local dkey = Q.dedupe_prefix .. f.dedupe
    holder = redis.call('GET', dkey)
    if holder and redis.call('EXISTS', Q.task_prefix .. holder) == 0 then holder = nil end
    if not holder then
      if f.dedupe_window then
        redis.call('SET', dkey, id, 'PX', f.dedupe_window)
      else
        redis.call('SET', dkey, id)
      end
    end
  end
  if holder then
    alias[id] = holder
    out[#out + 1] = holder
    out[#out + 1] = 'duplicate'
  else
    local tkey = Q.task_prefix .. id
    local fields = {'created', now, 'updated', now}
    for k, v in pairs(f) do
      fields[#fields + 1] = k
      fields[#fields + 1] = v
    end
    local due = s.at
    if not due and s.delay and s.delay > 0 then due = now + s.delay end
    if due then
      fields[#fields + 1] = 'scheduled'
      fields[#fields + 1] = due
    end
    redis.call('HSET', tkey, unpack(fields))
    redis.call('ZADD', Q.all, now, id)
    if s.tags then
      for _, tag in ipairs(s.tags) do redis.call('ZADD', Q.tag_prefix .. tag, now, id) end
    end

    local unresolved, dep_failed = 0, nil
    if s.deps then
      local wkey = Q.waiting_prefix .. id
      for _, d0 in ipairs(s.deps) do
        local d = alias[d0] or d0
        if string.sub(d, 1, #own) == own then
          local st = redis.call('HGET', Q.task_prefix .. d, 'status')
          if st == 'failed' or st == 'cancelled' then
            if f.dep_policy ~= 'release' then
              dep_failed = dep_failed or ('dependency ' .. d .. ' ' .. st)
            end
          elseif st ~= 'completed' then
            redis.call('SADD', wkey, d)
            redis.call('SADD', Q.dependents_prefix .. d, id)
            unresolved = unresolved + 1
          end
        else
          redis.call('SADD', wkey, d)
          unresolved = unresolved + 1
        end
      end
    end

    emit(Q, now, 'created', id)
    local status
    if dep_failed then
      status = 'failed'
      finish(Q, id, tkey, nil, 'failed', now, dep_failed, {'reason', 'dependency'})
    elseif unresolved > 0 then
      status = 'blocked'
      redis.call('HSET', tkey, 'status', status)
      redis.call('ZADD', Q.blocked, now, id)
    elseif due and due > now then
      status = 'delayed'
      redis.call('HSET', tkey, 'status', status)
      redis.call('ZADD', Q.delayed, due, id)
    else
      status = 'queued'
      make_ready(Q, id, tkey, now)
      ready = ready + 1
    end
    out[#out + 1] = id
    out[#out + 1] = status
  end
end
wake(Q, ready)
return out
