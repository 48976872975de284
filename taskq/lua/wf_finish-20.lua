--[[ Record that a workflow finished: exactly once, whoever calls and however often.
The caller (the sweep, or a listing that read the workflow's steps) saw every
step ended; only the call that removes the workflow from the open '*' index
moves it to the finished indexes and counts it, so racing sweepers and
readers count it once.
KEYS[1] the workflow's record   KEYS[2] check zset   KEYS[3] ended zset
KEYS[4] the stats hash of the hour it finished in
KEYS[5..12] its open indexes ('*' scope first)   KEYS[13..20] its indexes of ARGV[2]
ARGV[1] workflow id   ARGV[2] outcome: complete | error | cancelled
ARGV[3] created score (us)   ARGV[4] finished ms   ARGV[5] duration ms
ARGV[6] '1' = a step needed more than one attempt   ARGV[7] counter field prefix
ARGV[8] histogram bucket of the duration   ARGV[9] stats TTL seconds
Returns 1 when recorded by this call, 0 when it was already (or is gone).
]]
local record_key, check_key, ended_key, stats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, outcome, created, finished = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZREM', KEYS[5], id) == 0 then return 0 end
redis.call('ZREM', check_key, id)
for _, open_key in ipairs({KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]}) do redis.call('ZREM', open_key, id) end
for _, done_key in ipairs({KEYS[13], KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18], KEYS[19], KEYS[20]}) do
  redis.call('ZADD', done_key, created, id)
end
redis.call('ZADD', ended_key, finished, id)
if redis.call('EXISTS', record_key) == 1 then
  redis.call('HSET', record_key, 'outcome', outcome, 'finished', finished)
end
local f = ARGV[7]
redis.call('HINCRBY', stats_key, f .. 'finished', 1)
redis.call('HINCRBY', stats_key, f .. outcome, 1)
redis.call('HINCRBY', stats_key, f .. 'sum_ms', ARGV[5])
redis.call('HINCRBY', stats_key, f .. 'b' .. ARGV[8], 1)
if ARGV[6] == '1' then redis.call('HINCRBY', stats_key, f .. 'retried', 1) end
-- the same facts system-wide per epoch minute, for sliding trend windows
local m = 'm|' .. math.floor(tonumber(finished) / 60000) .. '|'
redis.call('HINCRBY', stats_key, m .. 'finished', 1)
redis.call('HINCRBY', stats_key, m .. outcome, 1)
redis.call('HINCRBY', stats_key, m .. 'sum_ms', ARGV[5])
if ARGV[6] == '1' then redis.call('HINCRBY', stats_key, m .. 'retried', 1) end
redis.call('EXPIRE', stats_key, ARGV[9])
return 1
