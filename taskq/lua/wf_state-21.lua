--[[ File a workflow under the status an observation of its steps found.
The status indexes are kept by this script alone: a workflow sits in the
indexes of exactly one status, its record's 'state'. Observations race
(workers, readers, the sweep): one older than the last filed (ARGV[4], the
observation's Redis TIME) changes nothing, so the newest always wins; one
made while the workflow was filed under another status than the caller
read (ARGV[2]) is refused with -1 (observe again). The first time a
workflow is filed finished, its outcome is recorded and counted, once.
KEYS[1] the workflow's record   KEYS[2] check zset   KEYS[3] ended zset
KEYS[4] the stats hash of the hour it finished in (any {wf} key for an unfinished
status)   KEYS[5] the 'all' '*' index
KEYS[6..13] the indexes of ARGV[2]   KEYS[14..21] the indexes of ARGV[3]
(each its 8 scopes, '*' first)
ARGV[1] workflow id   ARGV[2] the status it is filed under, as the caller read it
('open': a record of an older release, unfiled)   ARGV[3] the status observed
ARGV[4] observed at (Redis TIME, microseconds)   ARGV[5] now ms (when the sweep
looks at a reopened one); with a finished status only: ARGV[6] finished ms
ARGV[7] duration ms   ARGV[8] '1' = a step needed more than one attempt
ARGV[9] counter field prefix   ARGV[10] histogram bucket of the duration
ARGV[11] stats TTL seconds
Returns 2 when this call recorded the outcome, 1 when it moved the workflow,
0 when nothing changed (stale, same status, or gone), -1 when ARGV[2] is not
its status any more.
]]
local record_key, check_key, ended_key, stats_key, all_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, from, to, seen = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local FINISHED = {complete = true, error = true, cancelled = true}
local f = redis.call('HMGET', record_key, 'state', 'seen', 'outcome', 'namespace')
if not f[4] then return 0 end
if f[2] and tonumber(f[2]) >= seen then return 0 end
-- a record of an older release has no state: filed by its outcome, else open
if (f[1] or f[3] or 'open') ~= from then return -1 end
redis.call('HSET', record_key, 'seen', ARGV[4])
if from == to then return 0 end
local created = redis.call('ZSCORE', all_key, id)
if not created then return 0 end
for _, index_key in ipairs({KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]}) do
  redis.call('ZREM', index_key, id)
end
for _, index_key in ipairs({KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18], KEYS[19], KEYS[20], KEYS[21]}) do
  redis.call('ZADD', index_key, created, id)
end
redis.call('HSET', record_key, 'state', to)
if not FINISHED[to] then
  if FINISHED[from] then -- reopened (a step retried by hand): the sweep looks again
    redis.call('ZREM', ended_key, id)
    redis.call('ZADD', check_key, ARGV[5], id)
  end
  return 1
end
redis.call('ZREM', check_key, id)
redis.call('ZADD', ended_key, ARGV[6], id)
local counted = f[3]
redis.call('HSET', record_key, 'outcome', to, 'finished', ARGV[6])
if counted then return 1 end
local p = ARGV[9]
redis.call('HINCRBY', stats_key, p .. 'finished', 1)
redis.call('HINCRBY', stats_key, p .. to, 1)
redis.call('HINCRBY', stats_key, p .. 'sum_ms', ARGV[7])
redis.call('HINCRBY', stats_key, p .. 'b' .. ARGV[10], 1)
if ARGV[8] == '1' then redis.call('HINCRBY', stats_key, p .. 'retried', 1) end
-- the same facts system-wide per epoch minute, for sliding trend windows
local m = 'm|' .. math.floor(tonumber(ARGV[6]) / 60000) .. '|'
redis.call('HINCRBY', stats_key, m .. 'finished', 1)
redis.call('HINCRBY', stats_key, m .. to, 1)
redis.call('HINCRBY', stats_key, m .. 'sum_ms', ARGV[7])
if ARGV[8] == '1' then redis.call('HINCRBY', stats_key, m .. 'retried', 1) end
redis.call('EXPIRE', stats_key, ARGV[11])
return 2
