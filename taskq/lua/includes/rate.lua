-- Rate limits (taskq.rates): at most `limit` starts per `period` ms, for a
-- whole queue (the rates field "") and per rate key (a task's `rkey`).
-- Each limited name keeps a sliding log of its starts (a zset, score =
-- start ms, trimmed to the window as it is read), so no window of `period`
-- ms ever holds more than `limit` starts, with any number of claimers: the
-- claim that counts is the one that writes the log, atomically.
-- A task whose key is at its limit is parked, as a full concurrency key's
-- is (includes/park.lua): out of every claim's way, so tasks behind it
-- that are free to run are not held up; the key goes into rate_due at the
-- time its window next has room, and the first claim from then on lets
-- its parked tasks back in line, as many as the window allows.
local RATE_UNPARK_KEYS = 100 -- due keys one claim looks at, at most
local RATE_UNPARK_WINDOW = 1000 -- parked tasks one key lets back per claim, at most

-- limit, period of a rate key ('' for the queue), or nil when it has none.
local function rate_spec(Q, rname)
  local spec = redis.call('HGET', Q.rates, rname)
  if not spec then return nil end
  local limit, period = string.match(spec, '^(%d+):(%d+)$')
  return tonumber(limit), tonumber(period)
end

-- How many starts the key's window holds now, and when the oldest of them
-- leaves it (nil when empty).
local function rate_window(Q, rname, period, now)
  local log_key = Q.rate_prefix .. rname
  redis.call('ZREMRANGEBYSCORE', log_key, '-inf', int_text(now - period))
  local count = redis.call('ZCARD', log_key)
  if count == 0 then return 0, nil end
  local oldest = tonumber(redis.call('ZRANGE', log_key, 0, 0, 'WITHSCORES')[2])
  return count, oldest + period
end

-- Log starts (members: id:attempt, unique per start) at `now`; the log
-- expires once its window is past.
local function rate_log_starts(Q, rname, members, now, period)
  local log_key = Q.rate_prefix .. rname
  local args = {}
  local now_s = int_text(now)
  for i = 1, #members do
    args[#args + 1] = now_s
    args[#args + 1] = members[i]
  end
  call_chunked('ZADD', log_key, args)
  redis.call('PEXPIRE', log_key, int_text(period))
end

-- Hold a ready task back until its key's window has room at `free_at`.
local function rate_park(Q, rname, id, score, free_at)
  redis.call('ZADD', Q.rate_parked_prefix .. rname, score, id)
  redis.call('ZADD', Q.queued, PARKED, id)
  redis.call('ZADD', Q.rate_due, 'LT', int_text(free_at), rname)
end

-- Let parked tasks of keys whose window has room back in line (in order,
-- as many as each window allows; all of them for a key whose limit was
-- removed); entries whose task left the queue or changed key are dropped.
local function rate_unpark_due(Q, now)
  local due = redis.call('ZRANGEBYSCORE', Q.rate_due, '-inf', int_text(now), 'LIMIT', 0,
    RATE_UNPARK_KEYS)
  for _, rname in ipairs(due) do
    local limit, period = rate_spec(Q, rname)
    local room, free_at = RATE_UNPARK_WINDOW, nil
    if limit then
      local count
      count, free_at = rate_window(Q, rname, period, now)
      room = math.min(room, limit - count)
    end
    local pkey = Q.rate_parked_prefix .. rname
    if room > 0 then
      local head = redis.call('ZRANGE', pkey, 0, room - 1, 'WITHSCORES')
      for i = 1, #head, 2 do
        local id = head[i]
        local f = redis.call('HMGET', Q.task_prefix .. id, 'status', 'rkey')
        redis.call('ZREM', pkey, id)
        if f[1] == 'queued' and f[2] == rname then
          redis.call('ZADD', Q.queued, head[i + 1], id)
        end
      end
    end
    if redis.call('EXISTS', pkey) == 0 then
      redis.call('ZREM', Q.rate_due, rname)
    else -- still parked: look again when the window next has room
      redis.call('ZADD', Q.rate_due, int_text(math.max(free_at or now, now + 1)), rname)
    end
  end
end
