--- @include "includes/now_ms.lua"
--- @include "includes/drop.lua"
-- Retention: how long a finished task is kept (taskq/retention.py).
-- A task's own keep_completed_ms / keep_failed_ms, else its queue's (meta
-- fields of the same names), puts the task in the expiry zset when it
-- finishes, scored with the time it goes; the upkeep's visits of the queue
-- (reap) remove what is due. With neither, the scheduler's default applies
-- (prune, by finish time). A removed task leaves a tombstone in the gone
-- zset: dependencies, dedupe windows and reads still know how it ended.

local GONE_CODE = {completed = 0, failed = 1, cancelled = 2}
local GONE_STATUS = {[0] = 'completed', [1] = 'failed', [2] = 'cancelled'}
local WAITED_KEEP_MS = 10000 -- a waiter may still read the task after its message

-- The status of task id, or of its tombstone (nil when neither exists).
local function status_or_gone(Q, id)
  local st = redis.call('HGET', Q.task_prefix .. id, 'status')
  if st then return st end
  local score = redis.call('ZSCORE', Q.gone, id)
  if score then return GONE_STATUS[tonumber(score) % 4] end
  return nil
end

local queue_keep -- the queue's settings, read once per call
local function queue_keep_ms(Q, field)
  if not queue_keep then
    local m = redis.call('HMGET', Q.meta, 'keep_completed_ms', 'keep_failed_ms')
    queue_keep = {keep_completed_ms = m[1], keep_failed_ms = m[2]}
  end
  return queue_keep[field]
end

-- Task id just finished with `status` at `now`: when a retention of its
-- own or of its queue applies, note when it goes. `own` is the task's own
-- keep field (or nil); `waited`, whether someone waits on its outcome.
local function schedule_expiry(Q, id, status, now, own, waited)
  local field = status == 'completed' and 'keep_completed_ms' or 'keep_failed_ms'
  local keep = tonumber(own or queue_keep_ms(Q, field) or '')
  if not keep then return end
  if waited and keep < WAITED_KEEP_MS then keep = WAITED_KEEP_MS end
  redis.call('ZADD', Q.expiry, int_text(now + keep), id)
end

-- Remove finished task id and everything that is only about it, leaving
-- its tombstone. A task that is no longer finished (retried since) is only
-- taken off the expiry zset. Returns 1 when removed.
local function forget_finished(Q, id)
  local f = redis.call('HMGET', Q.task_prefix .. id, 'status', 'tags', 'finished')
  local code = GONE_CODE[f[1] or '']
  if not code then
    redis.call('ZREM', Q.expiry, id)
    return 0
  end
  drop_task(Q, id, f[1], f[2])
  redis.call('ZADD', Q.gone, int_text((tonumber(f[3]) or 0) * 4 + code), id)
  return 1
end

-- Remove the tasks whose retention ended by `now`, at most `limit`.
local function forget_due(Q, now, limit)
  local due = redis.call('ZRANGEBYSCORE', Q.expiry, '-inf', int_text(now), 'LIMIT', '0',
    int_text(limit))
  local removed = 0
  for _, id in ipairs(due) do removed = removed + forget_finished(Q, id) end
  return removed
end
