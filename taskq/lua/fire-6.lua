--[[ Fire schedules: the compare-and-set that makes each due time fire once,
for a batch of schedules in one call (all in the schedules' slot).
KEYS[1] schedule hash prefix (+ id)   KEYS[2] due zset   KEYS[3] outbox stream
KEYS[4] runs list prefix (+ id)   KEYS[5] dedupe key prefix (+ the schedule's
        dedupe_key)   KEYS[6] listing index prefix (includes/schedule_listing.lua)
ARGV[1] mode: 'take' (see below) | 'due' (a timed fire) | 'now' (run_now) |
        'event' (a publish)
ARGV[2] runs kept in a runs list
ARGV[3] event payload JSON text ('' = none), copied as text
ARGV[4..] per schedule, four values:
        id;
        the due ms the caller read (mode 'due': the fire happens only if the
        schedule is still active with exactly this due time, and it has come);
        the next due ms ('' = no next run: the schedule is finished);
        '1' = misfire skip: advance to the next due time without a run.
Returns one reply per schedule, in order:
  {1, run id (d<due ms> or n<seq>), now ms, outcome} where outcome is
  deduplicated | skipped, or created followed by the outbox entry id;
  {0, reason} when nothing happened (moved, early, inactive); {-1} unknown
  schedule; {-3, status} refused (canceled);
then one more: {outbox entry id, now ms, runs JSON (as in the entry)} when
runs were created, else {} (so the winner delivers its own runs without
reading them back, and each run's fields travel once).
Mode 'take' (ARGV[2] at most this many, 0 = none: only the reply's first
two values; ARGV[3] lease ms) hands out due schedules before they fire: it
reads up to ARGV[2] due by Redis time and moves each one's score in the due zset ARGV[3] ms ahead (the hash keeps its
due time), so racing schedulers take disjoint batches, and one that dies
holding a batch leaves it to be taken again when the lease ends. Returns
{now ms, earliest score left in the due zset or '', then per schedule taken
seven values: id, due, schedule_kind, schedule_expr, timezone,
misfire_policy, anchor}. An index entry whose schedule is gone or not
active and timed is removed; one behind its hash is moved to the hash's due.
The runs a call creates are one outbox entry (fields at, event, and runs: a
JSON array of [id, run id, queue, payload, priority, max_retries,
backoff_strategy, concurrency_key, rate_key], the run fields copied as text), written
in the same call as the fires, so a run fired is in the outbox whatever
happens next; taskq.schedules.firing turns it into engine tasks with ids
derived from the run key, so enqueueing an entry twice creates nothing the
second time.
]]
--- @include "includes/now_ms.lua"
--- @include "includes/schedule_listing.lua"
local due_key, outbox_key, listing_key = KEYS[2], KEYS[3], KEYS[6]
local mode, kept, event = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = now_ms()

local function record(rkey, run_id, outcome, queue)
  if redis.call('LPUSH', rkey, run_id .. '|' .. now .. '|' .. outcome .. '|' .. (queue or '')) > kept then
    redis.call('LTRIM', rkey, 0, kept - 1)
  end
end

-- 'due' mode: the schedules moving to one next due time, {[ms] = {ms, id, ms, id, ...}},
-- added in one ZADD per distinct time (schedules sharing a rule share it)
local moves = {}
-- the runs this call creates, written as one outbox entry at the end (one XADD
-- a call, not one a run); their replies get that entry's id
local created, created_replies = {}, {}

local function take(limit, lease)
  local ids = limit > 0 and redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, limit) or {}
  local out = {now, ''}
  local leased, stray = {}, {}
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', KEYS[1] .. id, 'status', 'due', 'schedule_kind', 'schedule_expr',
      'timezone', 'misfire_policy', 'anchor')
    if f[1] ~= 'active' or not f[2] or f[2] == '' then
      stray[#stray + 1] = id
    elseif tonumber(f[2]) > now then
      redis.call('ZADD', due_key, f[2], id)
    else
      leased[#leased + 1] = now + lease
      leased[#leased + 1] = id
      out[#out + 1] = id
      out[#out + 1] = f[2]
      for i = 3, 7 do out[#out + 1] = f[i] or '' end
    end
  end
  if #stray > 0 then redis.call('ZREM', due_key, unpack(stray)) end
  if #leased > 0 then redis.call('ZADD', due_key, unpack(leased)) end
  local first = redis.call('ZRANGE', due_key, 0, 0, 'WITHSCORES')
  out[2] = first[2] or ''
  return out
end

local function fire(id, expected, nxt, skip)
  local skey = KEYS[1] .. id
  local rkey = KEYS[4] .. id
  -- everything a fire reads, in one HMGET; what it writes, in one HSET at the end
  local f = redis.call('HMGET', skey, 'status', 'due', 'queue', 'payload', 'priority',
    'max_retries', 'backoff_strategy', 'concurrency_key', 'dedupe_key', 'dedupe_window_seconds',
    'runs_total', 'rate_key')
  local status = f[1]
  if not status then return {-1} end
  local set = {}
  local run_id
  if mode == 'due' then
    if status ~= 'active' then return {0, 'inactive'} end
    if f[2] ~= expected then return {0, 'moved'} end
    if tonumber(expected) > now then return {0, 'early'} end
    if nxt == '' then
      local before = listed_as(skey)
      redis.call('HSET', skey, 'status', 'finished', 'due', '')
      redis.call('ZREM', due_key, id)
      relist(listing_key, id, redis.call('HGET', skey, 'created_at'), before, listed_as(skey))
    else
      set = {'due', nxt}
      local move = moves[nxt]
      if not move then
        move = {}
        moves[nxt] = move
      end
      move[#move + 1] = nxt
      move[#move + 1] = id
    end
    run_id = 'd' .. expected
    if skip == '1' then
      if #set > 0 then redis.call('HSET', skey, unpack(set)) end
      record(rkey, run_id, 'skipped', f[3])
      return {1, run_id, now, 'skipped'}
    end
  else
    if status == 'canceled' then return {-3, status} end
    if mode == 'event' and status ~= 'active' then return {0, 'inactive'} end
    run_id = 'n' .. redis.call('HINCRBY', skey, 'seq', 1)
  end

  local queue, payload = f[3], f[4]
  if f[9] and f[9] ~= '' and f[10] and f[10] ~= '' then
    local dkey = KEYS[5] .. f[9]
    if not redis.call('SET', dkey, run_id, 'NX', 'PX', tonumber(f[10]) * 1000) then
      if #set > 0 then redis.call('HSET', skey, unpack(set)) end
      record(rkey, run_id, 'deduplicated', queue)
      return {1, run_id, now, 'deduplicated'}
    end
  end
  created[#created + 1] = {id, run_id, queue, payload, f[5] or '', f[6] or '', f[7] or '',
    f[8] or '', f[12] or ''}
  set[#set + 1] = 'last_run_at'
  set[#set + 1] = now
  set[#set + 1] = 'runs_total'
  set[#set + 1] = tonumber(f[11] or '0') + 1
  redis.call('HSET', skey, unpack(set))
  record(rkey, run_id, 'created', queue)
  local reply = {1, run_id, now, 'created', ''}
  created_replies[#created_replies + 1] = reply
  return reply
end

if mode == 'take' then return take(tonumber(ARGV[2]), tonumber(ARGV[3])) end
local out = {}
for i = 4, #ARGV, 4 do
  out[#out + 1] = fire(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
for _, move in pairs(moves) do redis.call('ZADD', due_key, unpack(move)) end
local batch = {}
if #created > 0 then
  local runs = cjson.encode(created)
  local entry = redis.call('XADD', outbox_key, '*', 'at', now, 'event', event, 'runs', runs)
  for _, reply in ipairs(created_replies) do reply[5] = entry end
  batch = {entry, now, runs}
end
out[#out + 1] = batch
return out
