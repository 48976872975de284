--[[ Retention (taskq/retention.py): remove finished tasks whose time is up,
keep at most the set count of each outcome, trim the tombstones, and drop
analytics buckets older than their horizon. Work is O(removed): the expiry
zset and the finished zsets are read from their oldest entry, and a cursor
per finished zset (meta pruned_<status>) remembers how far the by-age rule
has read, so a task kept longer by a setting of its own is read once.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] default keep of completed tasks, ms ('': none)
ARGV[2] default keep of failed and cancelled tasks, ms ('': none)
ARGV[3] default count of completed tasks kept ('': no cap)
ARGV[4] default count of failed and cancelled tasks kept, each ('': no cap)
ARGV[5] limit: tasks removed per rule per call, at most
ARGV[6] minute buckets to keep   ARGV[7] hour buckets to keep
ARGV[8] how long tombstones are kept, ms   ARGV[9] tombstones kept, at most
The queue's own settings (meta keep_completed_ms, keep_failed_ms,
keep_completed_count, keep_failed_count) win over the defaults. Ages are
measured on Redis's clock, like everything else.
Returns {OK, tasks_removed, buckets_deleted}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/full.lua"
--- @include "includes/retention.lua"

local now = now_ms()
pass_a_full_redis(Q) -- a full Redis still drains (includes/full.lua)
local limit = tonumber(ARGV[5])
local m = redis.call('HMGET', Q.meta, 'keep_completed_ms', 'keep_failed_ms',
  'keep_completed_count', 'keep_failed_count', 'pruned_completed', 'pruned_failed',
  'pruned_cancelled')
local CURSOR = {completed = 5, failed = 6, cancelled = 7}
local removed = forget_due(Q, now, limit)

local function setting(i)
  local v = m[i]
  if not v or v == '' then v = ARGV[i] end -- a field not set reads as false
  return tonumber(v or '')
end

for _, st in ipairs({'completed', 'failed', 'cancelled'}) do
  local which = st == 'completed' and 1 or 2
  local keep = setting(which)
  if keep then
    -- by age: tasks without an expiry of their own (those have theirs)
    local cursor = m[CURSOR[st]] or '-inf'
    local page = redis.call('ZRANGEBYSCORE', Q[st], cursor, int_text(now - keep), 'WITHSCORES',
      'LIMIT', '0', int_text(limit))
    for i = 1, #page, 2 do
      if not redis.call('ZSCORE', Q.expiry, page[i]) then
        removed = removed + forget_finished(Q, page[i])
      end
    end
    if #page > 0 then redis.call('HSET', Q.meta, 'pruned_' .. st, page[#page]) end
  end
  local cap = setting(which + 2)
  if cap then
    -- by count: the oldest beyond the cap, whatever their own retention
    local excess = redis.call('ZCARD', Q[st]) - cap
    if excess > 0 then
      local ids = redis.call('ZRANGE', Q[st], '0', int_text(math.min(excess, limit) - 1))
      for _, id in ipairs(ids) do removed = removed + forget_finished(Q, id) end
    end
  end
end

-- tombstones: by age, then by count (oldest first)
redis.call('ZREMRANGEBYSCORE', Q.gone, '-inf', '(' .. int_text((now - tonumber(ARGV[8])) * 4))
local extra = redis.call('ZCARD', Q.gone) - tonumber(ARGV[9])
if extra > 0 then redis.call('ZREMRANGEBYRANK', Q.gone, '0', int_text(extra - 1)) end

local minute = math.floor(now / 60000)
local min_minute = minute - tonumber(ARGV[6])
local min_hour = math.floor(minute / 60) - tonumber(ARGV[7])
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
return {OK, removed, #gone}
