-- Put a task in the ready zset: higher priority first, FIFO within one
-- priority (a per-queue sequence breaks ties).
local function make_ready(Q, id, tkey, now)
  local pri = tonumber(redis.call('HGET', tkey, 'priority') or '0') or 0
  local seq = redis.call('HINCRBY', Q.meta, 'seq', 1) % SEQ_SPAN
  redis.call('ZADD', Q.queued, (PRIORITY_MAX - pri) * SEQ_SPAN + seq, id)
  redis.call('HSET', tkey, 'status', 'queued', 'updated', now)
end

-- Wake up to n blocked workers (each BLPOP takes one token).
local function wake(Q, n)
  if n > 0 then
    local tokens = {}
    for i = 1, math.min(n, 16) do tokens[i] = '1' end
    redis.call('LPUSH', Q.wake, unpack(tokens))
    redis.call('LTRIM', Q.wake, 0, 63)
  end
end

-- Move due delayed tasks to the ready zset; returns how many moved.
local function promote_due(Q, now, limit)
  local due = redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', now, 'LIMIT', 0, limit)
  for i = 1, #due do
    local id = due[i]
    redis.call('ZREM', Q.delayed, id)
    make_ready(Q, id, Q.task_prefix .. id, now)
  end
  return #due
end
