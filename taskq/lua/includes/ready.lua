--- @include "includes/now_ms.lua"
--- @include "includes/park.lua"
-- The ready zset orders by priority (higher first), then FIFO: a per-queue
-- sequence breaks ties within one priority.
local function ready_score(pri, seq)
  return (PRIORITY_MAX - pri) * SEQ_SPAN + seq % SEQ_SPAN
end

-- Put a task (any status) in the ready zset and mark it queued; parked
-- when its concurrency key is full. 'ready' records since when it may run
-- (`since`: its due time when promoted late, else now): queue latency
-- (taskq.monitoring.latency) reads it, as a task ready at enqueue reads 'created'.
local function make_ready(Q, id, tkey, now, since)
  local f = redis.call('HMGET', tkey, 'priority', 'ckey', 'climit')
  local seq = redis.call('HINCRBY', Q.meta, 'seq', 1)
  local score = ready_score(tonumber(f[1] or '0') or 0, seq)
  if f[2] and key_is_full(Q, f[2], f[3]) then
    park(Q, id, f[2], score)
  else
    redis.call('ZADD', Q.queued, score, id)
  end
  redis.call('HSET', tkey, 'status', 'queued', 'updated', int_text(now),
             'ready', int_text(since or now))
end

-- Wake up to n blocked workers (each BLPOP takes one token). The list
-- holds at most 64 tokens: when it is full nobody has been waiting for a
-- while, and the push is skipped (one LLEN, where LPUSH + LTRIM were two).
local function wake(Q, n)
  if n > 0 then
    local room = 64 - redis.call('LLEN', Q.wake)
    if room > 0 then
      local tokens = {}
      for i = 1, math.min(n, 16, room) do tokens[i] = '1' end
      redis.call('LPUSH', Q.wake, unpack(tokens))
    end
  end
end

-- A queued task leaves the ready zset (and its key's parked zset). One that
-- was in line may have been let back for a slot that a parked task of its
-- key can use now.
local function unqueue(Q, id, tkey)
  redis.call('ZREM', Q.queued, id)
  local group = redis.call('HGET', tkey, 'ckey')
  if group and redis.call('ZREM', Q.parked_prefix .. group, id) == 0 then
    wake(Q, unpark(Q, group, tonumber(redis.call('HGET', Q.conc, group) or '0')))
  end
end

-- The lowest score of a zset (a due time, a lease expiry), or nil.
local function first_score(key)
  return tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
end

-- Delayed tasks were added (ARGV-style {score, id, ...}). A worker sleeps
-- until the earliest due time it has seen (its claim's reply), so when a
-- new one is now the queue's earliest, one wake token sends an idle worker
-- to claim and learn it.
local function wake_if_earliest(Q, scored)
  local head = first_score(Q.delayed)
  for i = 1, #scored, 2 do
    if tonumber(scored[i]) <= head then
      wake(Q, 1)
      return
    end
  end
end

-- Move due delayed tasks to the ready zset; returns how many moved.
local function promote_due(Q, now, limit)
  local due = redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', now, 'LIMIT', 0, limit,
                        'WITHSCORES')
  for i = 1, #due, 2 do
    local id = due[i]
    redis.call('ZREM', Q.delayed, id)
    make_ready(Q, id, Q.task_prefix .. id, now, math.min(tonumber(due[i + 1]), now))
  end
  return #due / 2
end
