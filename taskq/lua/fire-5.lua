--[[ Fire one schedule: the compare-and-set that makes each due time fire once.
KEYS[1] the schedule hash   KEYS[2] due zset   KEYS[3] outbox stream
KEYS[4] the schedule's runs list   KEYS[5] the schedule's dedupe key (unused
        when ARGV[6] is empty)
ARGV[1] schedule id
ARGV[2] mode: 'due' (a timed fire) | 'now' (run_now) | 'event' (a publish)
ARGV[3] due ms the caller read (mode 'due': the fire happens only if the
        schedule is still active with exactly this due time, and it has come)
ARGV[4] next due ms ('' = no next run: the schedule is finished)
ARGV[5] '1' = misfire skip: advance to the next due time without a run
ARGV[6] dedupe window ms ('' = no dedupe)
ARGV[7] event payload JSON text ('' = none), copied as text
ARGV[8] runs kept in the runs list
Returns {1, run id (d<due ms> or n<seq>), now ms, outcome} where outcome is created |
deduplicated | skipped; {0, reason} when nothing happened (moved, early,
inactive); {-1} unknown schedule; {-3, status} refused (canceled).
The run itself is an outbox entry (the schedule's run fields copied as
text); taskq.schedules.firing turns it into engine tasks with ids derived
from the run key, so enqueueing an entry twice creates nothing the second time.
]]
--- @include "includes/now_ms.lua"
local skey, due_key, outbox_key, runs_key, dedupe_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, mode, expected, nxt = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local status = redis.call('HGET', skey, 'status')
if not status then return {-1} end
local now = now_ms()

local function record(run_id, outcome, queue)
  redis.call('LPUSH', runs_key, run_id .. '|' .. now .. '|' .. outcome .. '|' .. queue)
  redis.call('LTRIM', runs_key, 0, tonumber(ARGV[8]) - 1)
end

local run_id
if mode == 'due' then
  if status ~= 'active' then return {0, 'inactive'} end
  if redis.call('HGET', skey, 'due') ~= expected then return {0, 'moved'} end
  if tonumber(expected) > now then return {0, 'early'} end
  if nxt == '' then
    redis.call('HSET', skey, 'status', 'finished', 'due', '')
    redis.call('ZREM', due_key, id)
  else
    redis.call('HSET', skey, 'due', nxt)
    redis.call('ZADD', due_key, nxt, id)
  end
  run_id = 'd' .. expected
  if ARGV[5] == '1' then
    record(run_id, 'skipped', redis.call('HGET', skey, 'queue'))
    return {1, run_id, now, 'skipped'}
  end
else
  if status == 'canceled' then return {-3, status} end
  if mode == 'event' and status ~= 'active' then return {0, 'inactive'} end
  run_id = 'n' .. redis.call('HINCRBY', skey, 'seq', 1)
end

local f = redis.call('HMGET', skey, 'queue', 'payload', 'priority', 'max_retries',
  'backoff_strategy', 'concurrency_key', 'dedupe_key')
if ARGV[6] ~= '' then
  if not redis.call('SET', dedupe_key, run_id, 'NX', 'PX', ARGV[6]) then
    record(run_id, 'deduplicated', f[1])
    return {1, run_id, now, 'deduplicated'}
  end
end
redis.call('XADD', outbox_key, '*', 'sid', id, 'run', run_id, 'at', now, 'queue', f[1],
  'payload', f[2], 'priority', f[3], 'max_retries', f[4], 'backoff_strategy', f[5],
  'concurrency_key', f[6] or '', 'event', ARGV[7])
redis.call('HSET', skey, 'last_run_at', now)
redis.call('HINCRBY', skey, 'runs_total', 1)
record(run_id, 'created', f[1])
return {1, run_id, now, 'created'}
