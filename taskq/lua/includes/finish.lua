--- @include "includes/emit.lua"
--- @include "includes/ready.lua"
--- @include "includes/release.lua"
--- @include "includes/notify.lua"
--- @include "includes/retention.lua"
-- Terminal transitions and dependency resolution.

-- Move one task into a terminal status (no dependents handled here).
local function finish_one(Q, id, tkey, from, to, now, err)
  if from == 'queued' then
    unqueue(Q, id, tkey) -- parked, maybe
  elseif from then
    redis.call('ZREM', Q[from], id)
  end
  local now_s = int_text(now)
  redis.call('ZADD', Q[to], now_s, id)
  redis.call('HSET', tkey, 'status', to, 'finished', now_s, 'updated', now_s)
  if err then redis.call('HSET', tkey, 'error', err) end
  release_dedupe(Q, id, tkey)
  local w = redis.call('HMGET', tkey, 'waiters', 'error',
    to == 'completed' and 'keep_completed_ms' or 'keep_failed_ms')
  if w[1] then notify_waiters(Q, id, tkey, to, w[2]) end
  schedule_expiry(Q, id, to, now, w[3], w[1])
end

-- A task of this queue learns that dependency dep_id ended with outcome
-- (completed, failed, cancelled, missing). Idempotent: a dependency already
-- crossed off changes nothing. Returns 'ready', 'fail' or nil.
local function dependency_done(Q, id, dep_id, outcome, now)
  local tkey = Q.task_prefix .. id
  local wkey = Q.waiting_prefix .. id
  if redis.call('SREM', wkey, dep_id) == 0 then return nil end
  local f = redis.call('HMGET', tkey, 'status', 'dep_policy', 'scheduled')
  if f[1] ~= 'blocked' then return nil end
  if outcome ~= 'completed' and f[2] ~= 'release' then return 'fail' end
  if redis.call('SCARD', wkey) > 0 then return nil end
  redis.call('ZREM', Q.blocked, id)
  local due = tonumber(f[3] or '0')
  if due > now then
    redis.call('ZADD', Q.delayed, due, id)
    wake_if_earliest(Q, {due, id}) -- a sleeping worker learns the due time
    redis.call('HSET', tkey, 'status', 'delayed', 'updated', now)
    return nil
  end
  make_ready(Q, id, tkey, now)
  return 'ready'
end

-- Resolve everything that waits on the tasks in `ended` ({id, outcome}
-- pairs): dependents in this queue at once (failing them, and theirs, by
-- policy), dependents in other queues through the outbox. Returns how many
-- outbox entries were written.
local function cascade(Q, ended, now)
  local prefix = Q.name .. ':'
  local woke, sent = 0, 0
  while #ended > 0 do
    local item = table.remove(ended)
    local src, outcome = item[1], item[2]
    local dkey = Q.dependents_prefix .. src
    local waiters = redis.call('SMEMBERS', dkey)
    if #waiters > 0 then redis.call('DEL', dkey) end
    for _, d in ipairs(waiters) do
      if string.sub(d, 1, #prefix) == prefix then
        local r = dependency_done(Q, d, src, outcome, now)
        if r == 'ready' then
          woke = woke + 1
        elseif r == 'fail' then
          finish_one(Q, d, Q.task_prefix .. d, 'blocked', 'failed', now,
            'dependency ' .. src .. ' ' .. outcome)
          emit(Q, now, 'failed', d, {'reason', 'dependency'})
          ended[#ended + 1] = {d, 'failed'}
        end
      else
        redis.call('RPUSH', Q.outbox, cjson.encode({d, src, outcome}))
        sent = sent + 1
      end
    end
  end
  wake(Q, woke)
  return sent
end

-- Finish a task, emit its event and resolve its dependents.
local function finish(Q, id, tkey, from, to, now, err, extra)
  finish_one(Q, id, tkey, from, to, now, err)
  emit(Q, now, to, id, extra)
  return cascade(Q, {{id, to}}, now)
end
