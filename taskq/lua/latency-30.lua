--[[ Read only: since when the queue's oldest runnable task has been ready
(queue latency, taskq.monitoring.latency).
The ready zset orders by priority band, then by the sequence a task took
when it became ready, so the head of each band is that band's oldest; the
walk visits the head of each non-empty band (one ZRANGE each), at most
ARGV[1] bands. Parked tasks (score +inf, behind a full concurrency or rate
key) are not runnable and do not count. A delayed task past its due time
that no claim has promoted yet counts from its due time. Also whether any
lease on the queue is live (a consumer is at work on it: an HTTP agent
that took a task serves its queue while it holds the lease).
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] bands to visit at most
Returns {ms the oldest became ready (-1: nothing ready), now ms, bands visited,
         1 if a lease is live else 0}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"

local now = now_ms()
local oldest = -1
local due = redis.call('ZRANGE', Q.delayed, 0, 0, 'WITHSCORES')[2]
if due and tonumber(due) <= now then oldest = tonumber(due) end

local low, bands = '-inf', 0
for _ = 1, tonumber(ARGV[1]) do
  local head = redis.call('ZRANGEBYSCORE', Q.queued, low, '(+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #head == 0 then break end
  bands = bands + 1
  local f = redis.call('HMGET', Q.task_prefix .. head[1], 'ready', 'created')
  local since = tonumber(f[1] or f[2])
  if since and (oldest < 0 or since < oldest) then oldest = since end
  low = string.format('%.0f', (math.floor(tonumber(head[2]) / SEQ_SPAN) + 1) * SEQ_SPAN)
end
local leased = 0
if redis.call('ZCOUNT', Q.running, now, '+inf') > 0 then leased = 1 end
return {oldest, now, bands, leased}
