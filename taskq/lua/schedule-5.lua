--[[ Every change of a schedule but firing: create, update, pause, resume,
snooze, cancel. One call each; the due zset and the listing indexes always
agree with the hash.
KEYS[1] the schedule hash   KEYS[2] due zset   KEYS[3] index zset
KEYS[4] listing index prefix (includes/schedule_listing.lua)
KEYS[5] wake list: a due time set earlier than every other due time pushes
        one element (the list holds one at most), so a scheduler sleeping
        until the earliest due time (BLPOP) wakes and sleeps anew
ARGV[1] op   ARGV[2] schedule id   then per op:
  create  ARGV[3] due ms or ''; ARGV[4..] field, value pairs (values as text)
  update  ARGV[3] expected ver; ARGV[4] due ms, '' (no run left: finished),
          'untimed' (an event schedule: active, never due) or '-' (unchanged);
          ARGV[5..] field, value pairs
  pause   -
  resume  ARGV[3] due ms, '' (none: finished) or 'untimed' (event schedule)
  snooze  ARGV[3] delay ms (the next run moves to max(due, now) + delay); ARGV[4] reason
  cancel  -
  relist  - (list a schedule stored before the listing indexes existed)
Returns {1, status, due} on a change, {0, status, due} when it already was so
(pause twice, cancel twice), {-1} unknown, {-3, status} refused, {-4} exists,
{0, 'changed'} (update) when ver moved since the caller read it.
]]
--- @include "includes/now_ms.lua"
--- @include "includes/schedule_listing.lua"
local skey, due_key, index_key, listing_key, wake_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, id = ARGV[1], ARGV[2]
local now = now_ms()

local function set_due(due)
  if due == '' then
    redis.call('ZREM', due_key, id)
  else
    local first = redis.call('ZRANGE', due_key, 0, 0, 'WITHSCORES')
    if (not first[2] or tonumber(due) < tonumber(first[2])) and redis.call('LLEN', wake_key) == 0 then
      redis.call('RPUSH', wake_key, due)
    end
    redis.call('ZADD', due_key, due, id)
  end
  redis.call('HSET', skey, 'due', due)
end

local function touch()
  redis.call('HSET', skey, 'updated_at', now)
  redis.call('HINCRBY', skey, 'ver', 1)
end

if op == 'create' then
  if redis.call('EXISTS', skey) == 1 then return {-4} end
  for i = 4, #ARGV, 2 do redis.call('HSET', skey, ARGV[i], ARGV[i + 1]) end
  -- The listing order: created ms, but strictly after the newest listed
  -- schedule, so two made in one millisecond still list newest first.
  local order = now
  local top = redis.call('ZREVRANGE', index_key, 0, 0, 'WITHSCORES')
  if top[2] and tonumber(top[2]) >= order then order = tonumber(top[2]) + 1 end
  redis.call('HSET', skey, 'id', id, 'status', 'active', 'created_at', now,
    'updated_at', now, 'ver', 1, 'seq', 0, 'runs_total', 0, 'list_order', order)
  redis.call('ZADD', index_key, order, id)
  relist(listing_key, id, order, nil, listed_as(skey))
  set_due(ARGV[3])
  return {1, 'active', ARGV[3]}
end

local status = redis.call('HGET', skey, 'status')
if not status then return {-1} end
local due = redis.call('HGET', skey, 'due') or ''
local listed_before = listed_as(skey)
-- Schedules stored before 'list_order' existed list by created ms.
local function list_order()
  return redis.call('HGET', skey, 'list_order') or redis.call('HGET', skey, 'created_at')
end
if op == 'relist' then
  relist(listing_key, id, list_order(), nil, listed_before)
  return {1, status, due}
end

-- After a change: the listing indexes follow the hash.
local function changed(reply)
  relist(listing_key, id, list_order(), listed_before, listed_as(skey))
  return reply
end

if op == 'cancel' then
  if status == 'canceled' then return {0, status, ''} end
  redis.call('HSET', skey, 'status', 'canceled')
  set_due('')
  touch()
  return changed({1, 'canceled', ''})
end
if status == 'canceled' then return {-3, status} end

if op == 'update' then
  if redis.call('HGET', skey, 'ver') ~= ARGV[3] then return {0, 'changed'} end
  for i = 5, #ARGV, 2 do redis.call('HSET', skey, ARGV[i], ARGV[i + 1]) end
  if ARGV[4] ~= '-' then
    if status == 'paused' then
      redis.call('HSET', skey, 'due', '')
    elseif ARGV[4] == 'untimed' then
      redis.call('HSET', skey, 'status', 'active')
      set_due('')
    elseif ARGV[4] == '' then
      if status == 'active' then redis.call('HSET', skey, 'status', 'finished') end
      set_due('')
    else
      redis.call('HSET', skey, 'status', 'active')
      set_due(ARGV[4])
    end
    status = redis.call('HGET', skey, 'status')
  end
  touch()
  return changed({1, status, redis.call('HGET', skey, 'due')})
elseif op == 'pause' then
  if status == 'paused' then return {0, status, ''} end
  if status ~= 'active' then return {-3, status} end
  redis.call('HSET', skey, 'status', 'paused')
  set_due('')
  touch()
  return changed({1, 'paused', ''})
elseif op == 'resume' then
  if status == 'active' then return {0, status, due} end
  if status ~= 'paused' then return {-3, status} end
  if ARGV[3] == 'untimed' then
    redis.call('HSET', skey, 'status', 'active')
    set_due('')
  else
    redis.call('HSET', skey, 'status', ARGV[3] == '' and 'finished' or 'active')
    set_due(ARGV[3])
  end
  touch()
  return changed({1, redis.call('HGET', skey, 'status'), redis.call('HGET', skey, 'due')})
elseif op == 'snooze' then
  if status ~= 'active' then return {-3, status} end
  if due == '' then return {-3, 'not timed (an event schedule)'} end
  local moved = tostring(math.max(tonumber(due), now) + tonumber(ARGV[3]))
  set_due(moved)
  redis.call('HSET', skey, 'snooze_reason', ARGV[4], 'snoozed_at', now)
  touch()
  return {1, status, moved}
end
return redis.error_reply('unknown op ' .. tostring(op))
