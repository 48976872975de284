--[[ File a workflow under the status an observation of its steps found.
The status indexes are kept by this script alone: a workflow sits in the
indexes of exactly one status (its record's 'state'). Observations race
(workers, readers, the sweep): one older than the last filed (ARGV[3], the
observation's Redis TIME) changes nothing, so the newest always wins. The
first time a workflow is filed finished, its outcome is recorded and
counted (exactly once, whatever comes later).
KEYS[1] the workflow's record   KEYS[2] check zset   KEYS[3] ended zset
KEYS[4] the stats hash of the hour it finished in   KEYS[5] the 'all' '*' index
KEYS[6..13] pending   KEYS[14..21] in_progress   KEYS[22..29] complete
KEYS[30..37] error   KEYS[38..45] cancelled   KEYS[46..53] open (older releases)
(each 8: its scopes, '*' first)
ARGV[1] workflow id   ARGV[2] status   ARGV[3] observed at (microseconds)
ARGV[4] finished ms (finished statuses)   ARGV[5] duration ms   ARGV[6] '1' = a step
needed more than one attempt   ARGV[7] counter field prefix
ARGV[8] histogram bucket of the duration   ARGV[9] stats TTL seconds
ARGV[10] now ms (the next sweep look at a reopened workflow)
Returns 2 when this call recorded the outcome, 1 when it moved the
workflow to another status, 0 otherwise (stale, unchanged or gone).
]]
local record_key, check_key, ended_key, stats_key, all_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, state, seen = ARGV[1], ARGV[2], tonumber(ARGV[3])
local FIRST = {pending = 6, in_progress = 14, complete = 22, error = 30, cancelled = 38, open = 46}
local FINISHED = {complete = true, error = true, cancelled = true}
if not FIRST[state] or state == 'open' then return redis.error_reply('bad status ' .. state) end
local f = redis.call('HMGET', record_key, 'state', 'seen', 'outcome', 'namespace')
if not f[4] then return 0 end
if f[2] and tonumber(f[2]) >= seen then return 0 end
redis.call('HSET', record_key, 'seen', ARGV[3])
-- a record of an older release has no state: indexed by its outcome, else open
local from = f[1] or f[3] or 'open'
if from == state then return 0 end
local created = redis.call('ZSCORE', all_key, id)
if not created then return 0 end
local function each(s, fn)
  for i = FIRST[s], FIRST[s] + 7 do fn(KEYS[i]) end
end
each(from, function(k) redis.call('ZREM', k, id) end)
each(state, function(k) redis.call('ZADD', k, created, id) end)
redis.call('HSET', record_key, 'state', state)
if not FINISHED[state] then
  if FINISHED[from] then -- reopened (a step retried by hand): the sweep looks again
    redis.call('ZREM', ended_key, id)
    redis.call('ZADD', check_key, ARGV[10], id)
  end
  return 1
end
redis.call('ZREM', check_key, id)
redis.call('ZADD', ended_key, ARGV[4], id)
if f[3] then
  redis.call('HSET', record_key, 'outcome', state, 'finished', ARGV[4])
  return 1
end
redis.call('HSET', record_key, 'outcome', state, 'finished', ARGV[4])
local p = ARGV[7]
redis.call('HINCRBY', stats_key, p .. 'finished', 1)
redis.call('HINCRBY', stats_key, p .. state, 1)
redis.call('HINCRBY', stats_key, p .. 'sum_ms', ARGV[5])
redis.call('HINCRBY', stats_key, p .. 'b' .. ARGV[8], 1)
if ARGV[6] == '1' then redis.call('HINCRBY', stats_key, p .. 'retried', 1) end
-- the same facts system-wide per epoch minute, for sliding trend windows
local m = 'm|' .. math.floor(tonumber(ARGV[4]) / 60000) .. '|'
redis.call('HINCRBY', stats_key, m .. 'finished', 1)
redis.call('HINCRBY', stats_key, m .. state, 1)
redis.call('HINCRBY', stats_key, m .. 'sum_ms', ARGV[5])
if ARGV[6] == '1' then redis.call('HINCRBY', stats_key, m .. 'retried', 1) end
redis.call('EXPIRE', stats_key, ARGV[9])
return 2
