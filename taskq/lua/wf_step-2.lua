--[[ Count one step attempt's facts, once per (step, attempt).
The runner calls this when the step's code returned or raised; the marker
field in the workflow's record makes a repeated call count nothing.
KEYS[1] the workflow's record   KEYS[2] the stats hash of the current hour
ARGV[1] marker field (fact:<step>:<attempt>)   ARGV[2] counter field prefix
ARGV[3] duration ms   ARGV[4] histogram bucket   ARGV[5] '1' ok | '0' raised
ARGV[6] error type ('' when ok)   ARGV[7] '1' = a retry (attempt > 1)
ARGV[8] the step's timeout in seconds ('' = none known)   ARGV[9] stats TTL seconds
Returns 1 when counted, 0 when already counted or the workflow is gone.
]]
local record_key, stats_key = KEYS[1], KEYS[2]
if redis.call('EXISTS', record_key) == 0 then return 0 end
if redis.call('HSETNX', record_key, ARGV[1], ARGV[3]) == 0 then return 0 end
local f = ARGV[2]
redis.call('HINCRBY', stats_key, f .. 'runs', 1)
redis.call('HINCRBY', stats_key, f .. 'sum_ms', ARGV[3])
redis.call('HINCRBY', stats_key, f .. 'b' .. ARGV[4], 1)
if ARGV[5] ~= '1' then
  redis.call('HINCRBY', stats_key, f .. 'errors', 1)
  redis.call('HINCRBY', stats_key, f .. 'e:' .. ARGV[6], 1)
end
if ARGV[7] == '1' then redis.call('HINCRBY', stats_key, f .. 'retries', 1) end
if ARGV[8] ~= '' then redis.call('HSET', stats_key, f .. 'timeout', ARGV[8]) end
redis.call('EXPIRE', stats_key, ARGV[9])
return 1
