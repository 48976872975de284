--[[ Create one or many tasks in one call, all-or-nothing on validation.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1]       a JSON array with one object per task:
              {id, own = true when the caller chose the id (checked for
               existence; generated ids are unique by construction),
               f = {hash fields to store}, delay = ms?, at = epoch ms?,
               deps = [task ids]?, tags = [strings]?}
              f may hold priority, dedupe / dedupe_window (ms), dep_policy.
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
--- @include "includes/batch.lua"

local specs_in = cjson.decode(ARGV[1])
local n = #specs_in
local now = now_ms()
local now_s = int_text(now)
local own = Q.name .. ':'
local specs, in_batch = {}, {}

for i = 1, n do
  local s = specs_in[i]
  specs[i] = s
  if in_batch[s.id] or (s.own and redis.call('EXISTS', Q.task_prefix .. s.id) == 1) then
    return {E_EXISTS, i, s.id}
  end
  if s.deps then
    for _, d in ipairs(s.deps) do
      if string.sub(d, 1, #own) == own and not in_batch[d] and not status_or_gone(Q, d) then
        return {E_DEP_MISSING, i, d}
      end
    end
  end
  in_batch[s.id] = true
end

local seq = redis.call('HINCRBY', Q.meta, 'seq', n) - n
local out, alias = {OK, now}, {}
local all_args, ready_args, delayed_args, blocked_args = {}, {}, {}, {}
local created, failed = 0, {}
for i = 1, n do
  local s, f, id = specs[i], specs[i].f, specs[i].id
  local holder = nil
  if f.dedupe then
    local dkey = Q.dedupe_prefix .. f.dedupe
    holder = redis.call('GET', dkey)
    -- the window outlives a holder that retention removed (its tombstone)
    if holder and not status_or_gone(Q, holder) then holder = nil end
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
    local unresolved, dep_failed = 0, nil
    if s.deps then
      local wkey = Q.waiting_prefix .. id
      for _, d0 in ipairs(s.deps) do
        local d = alias[d0] or d0
        if string.sub(d, 1, #own) == own then
          local st = status_or_gone(Q, d)
          if st == 'failed' or st == 'cancelled' then
            if f.dep_policy ~= 'release' then
              dep_failed = dep_failed or ('dependency ' .. d .. ' ' .. st)
            end
          elseif st ~= 'completed' then
            redis.call('SADD', wkey, d)
            redis.call('SADD', Q.dependents_prefix .. d, id)
            redis.call('HSET', Q.task_prefix .. d, 'dependents', '1')
            unresolved = unresolved + 1
          end
        else
          redis.call('SADD', wkey, d)
          unresolved = unresolved + 1
        end
      end
    end
    local due = s.at
    if not due and s.delay and s.delay > 0 then due = now + s.delay end

    local status
    if dep_failed then
      status = 'failed'
    elseif unresolved > 0 then
      status = 'blocked'
      blocked_args[#blocked_args + 1] = now_s
      blocked_args[#blocked_args + 1] = id
    elseif due and due > now then
      status = 'delayed'
      delayed_args[#delayed_args + 1] = due
      delayed_args[#delayed_args + 1] = id
    else
      status = 'queued'
      local score = ready_score(tonumber(f.priority or 0), seq + i)
      if f.ckey and key_is_full(Q, f.ckey, f.climit) then
        park(Q, id, f.ckey, score) -- its key is full: no claim need look at it
      else
        ready_args[#ready_args + 1] = score
        ready_args[#ready_args + 1] = id
      end
    end

    local fields = {'status', status, 'created', now_s, 'updated', now_s}
    for k, v in pairs(f) do
      fields[#fields + 1] = k
      fields[#fields + 1] = v
    end
    if due then
      fields[#fields + 1] = 'scheduled'
      fields[#fields + 1] = due
    end
    redis.call('HSET', tkey, unpack(fields))
    all_args[#all_args + 1] = now_s
    all_args[#all_args + 1] = id
    if s.tags then
      for _, tag in ipairs(s.tags) do redis.call('ZADD', Q.tag_prefix .. tag, now_s, id) end
    end
    log_event(Q, 'created', id)
    created = created + 1
    if dep_failed then failed[#failed + 1] = {id, dep_failed} end
    out[#out + 1] = id
    out[#out + 1] = status
  end
end

call_chunked('ZADD', Q.all, all_args)
call_chunked('ZADD', Q.queued, ready_args)
call_chunked('ZADD', Q.delayed, delayed_args)
if #delayed_args > 0 then wake_if_earliest(Q, delayed_args) end -- a worker learns the new due time
call_chunked('ZADD', Q.blocked, blocked_args)
count_event(Q, now, 'created', created)
for _, x in ipairs(failed) do
  finish(Q, x[1], Q.task_prefix .. x[1], nil, 'failed', now, x[2], {'reason', 'dependency'})
end
wake(Q, #ready_args / 2)
return out
