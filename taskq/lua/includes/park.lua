-- Parking: a ready task whose concurrency key is full waits in its key's
-- parked zset (score = its ready score, so order is kept) and stays in the
-- ready zset under the score +inf, a band no claim reads (claims range over
-- scores below +inf). So a parked task is still `queued` to every reader
-- (ZCARD, ZRANGE, counts and listings of the ready zset), costs a claim
-- nothing however many there are, and ZCOUNT +inf +inf counts them all.
-- A slot of the key given back moves the head of its parked zset back to
-- its place in the ready zset.
local PARKED = '+inf'
local UNPARK_WINDOW = 32 -- parked tasks one freed slot looks at, at most

local function key_is_full(Q, group, limit)
  return tonumber(redis.call('HGET', Q.conc, group) or '0') >= tonumber(limit or '1')
end

local function park(Q, id, group, score)
  redis.call('ZADD', Q.parked_prefix .. group, score, id)
  redis.call('ZADD', Q.queued, PARKED, id)
end

-- The key now runs `busy` tasks: move parked tasks back to the ready zset,
-- in order, as many as could run now (each parked task has its own limit);
-- entries whose task is no longer queued there are dropped. Returns how
-- many moved (the caller wakes that many workers).
local function unpark(Q, group, busy)
  local pkey = Q.parked_prefix .. group
  local head = redis.call('ZRANGE', pkey, 0, UNPARK_WINDOW - 1, 'WITHSCORES')
  local moved = 0
  for i = 1, #head, 2 do
    local id = head[i]
    local f = redis.call('HMGET', Q.task_prefix .. id, 'status', 'ckey', 'climit')
    if f[1] ~= 'queued' or f[2] ~= group then
      redis.call('ZREM', pkey, id)
    elseif tonumber(f[3] or '1') > busy + moved then
      redis.call('ZREM', pkey, id)
      redis.call('ZADD', Q.queued, head[i + 1], id)
      moved = moved + 1
    end
  end
  return moved
end
