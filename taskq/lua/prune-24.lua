--[[ Retention: delete finished tasks that ended before a cutoff, and drop
analytics buckets older than their horizon.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] retention ms (tasks that ended longer ago go)   ARGV[2] limit
ARGV[3] minute buckets to keep   ARGV[4] hour buckets to keep
Ages are measured on Redis's clock, like everything else.
Returns {OK, tasks_deleted, buckets_deleted}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"

local now = now_ms()
local cutoff, limit = now - tonumber(ARGV[1]), tonumber(ARGV[2])
local deleted = 0
for _, st in ipairs({'completed', 'failed', 'cancelled'}) do
  local ids = redis.call('ZRANGEBYSCORE', Q[st], '-inf', '(' .. cutoff, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local tkey = Q.task_prefix .. id
    local tags = redis.call('HGET', tkey, 'tags')
    if tags then
      for _, tag in ipairs(cjson.decode(tags)) do redis.call('ZREM', Q.tag_prefix .. tag, id) end
    end
    redis.call('ZREM', Q[st], id)
    redis.call('ZREM', Q.all, id)
    redis.call('DEL', tkey, Q.log_prefix .. id, Q.waiting_prefix .. id, Q.dependents_prefix .. id)
    deleted = deleted + 1
  end
end
local minute = math.floor(now / 60000)
local min_minute = minute - tonumber(ARGV[3])
local min_hour = math.floor(minute / 60) - tonumber(ARGV[4])
local gone = {}
for _, field in ipairs(redis.call('HKEYS', Q.series)) do
  local kind, bucket = string.match(field, '^(%a):(%d+):')
  bucket = tonumber(bucket)
  if bucket and ((kind == 'm' and bucket < min_minute) or (kind == 'h' and bucket < min_hour)) then
    gone[#gone + 1] = field
  end
end
for i = 1, #gone, 500 do
  redis.call('HDEL', Q.series, unpack(gone, i, math.min(i + 499, #gone)))
end
return {OK, deleted, #gone}
