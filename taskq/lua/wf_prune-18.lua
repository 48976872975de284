--[[ Delete one finished workflow's record and index entries, once.
KEYS[1] the workflow's record   KEYS[2] ended zset
KEYS[3..10] its 'all' indexes   KEYS[11..18] its indexes of its outcome
ARGV[1] workflow id   ARGV[2] the finished ms the caller read (a workflow
recorded again since, with another time, is left alone)
Returns 1 when deleted by this call, 0 otherwise.
]]
local record_key, ended_key = KEYS[1], KEYS[2]
local id = ARGV[1]
local score = redis.call('ZSCORE', ended_key, id)
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', ended_key, id)
redis.call('DEL', record_key)
for _, index_key in ipairs({KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]}) do redis.call('ZREM', index_key, id) end
for _, index_key in ipairs({KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18]}) do redis.call('ZREM', index_key, id) end
return 1
