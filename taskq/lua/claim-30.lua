--[[ Lease up to n ready tasks, highest priority first, FIFO within a priority.
Promotes due delayed tasks and reaps expired leases first; a paused queue
leases nothing; a task whose concurrency key is at its limit is parked
(includes/park.lua: it stays queued, and comes back to its place when a slot
of its key frees), so it is looked at once, not by every claim. Each lease
is recorded in its holder's index (held_prefix + worker).
The reply says when the queue next needs a claim for its timers: the
milliseconds to its earliest delayed task's due time or earliest lease
expiry, whichever comes first, -1 when it has neither. A worker sleeps that
long (workers/pool.py) instead of claiming every queue every second.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] n           how many tasks at most
ARGV[2] token       the lease token (random, from the caller)
ARGV[3] lease_ms    lease length, unless the task carries its own lease_ms
ARGV[4] worker      who holds the lease (worker id or agent name)
ARGV[5] cap         optional, '1': lease_ms also caps a task's own lease_ms
                    (a worker that renews every lease it holds in bulk keeps
                    them all short, so its death frees them in seconds)
Returns {OK, outbox_entries, next_ms, {id, {field, value, ...}}, ...}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/full.lua"
--- @include "includes/reap.lua"
--- @include "includes/batch.lua"
--- @include "includes/rate.lua"

-- Every entry a claim looks at is taken, parked or dropped, so no entry is
-- looked at twice; the limit only bounds one call's work (parking a long
-- run of tasks whose key filled up while they were queued).
local SCAN_LIMIT = 10000
local n, token, lease, worker = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local cap = ARGV[5] == '1'
local now = now_ms()
pass_a_full_redis(Q) -- a full Redis still drains (includes/full.lua)
local now_s = int_text(now)
-- the heads of the timer zsets are read once; promotion and reaping run
-- only when one is due, and read them again after
local due, expiry, sent = first_score(Q.delayed), first_score(Q.running), 0
if due and due <= now then
  promote_due(Q, now, 1000)
  due = first_score(Q.delayed)
end
if expiry and expiry < now then
  sent = select(3, reap_expired(Q, now, 100))
  due, expiry = first_score(Q.delayed), first_score(Q.running) -- a reaped task may release others
end

-- A queue with rate limits (meta 'rated', set with them: taskq.rates) lets
-- parked tasks whose window has room back in line, and caps this claim by
-- its own limit's room; `rate_at` is when a window next has room.
local meta = redis.call('HMGET', Q.meta, 'paused', 'rated')
local rated, rate_at = meta[2] == '1', nil
local qlimit, qperiod, qcount
if rated then
  rate_at = first_score(Q.rate_due)
  if rate_at and rate_at <= now then
    rate_unpark_due(Q, now)
    rate_at = first_score(Q.rate_due)
  end
  qlimit, qperiod = rate_spec(Q, '')
end

-- ms until the next timer: a due time is promoted at it, a lease reaped 1 ms
-- past it, parked tasks let back when a window has room
local function next_ms()
  local t = due
  if expiry and (not t or expiry + 1 < t) then t = expiry + 1 end
  if rate_at and (not t or rate_at < t) then t = rate_at end
  if not t then return -1 end
  return math.max(0, t - now)
end

if meta[1] == '1' then return {OK, sent, next_ms()} end
if qlimit then
  local free_at
  qcount, free_at = rate_window(Q, '', qperiod, now)
  if qcount >= qlimit then -- the queue's window is full: come back when it has room
    if not rate_at or free_at < rate_at then rate_at = free_at end
    return {OK, sent, next_ms()}
  end
  if qlimit - qcount < n then n = qlimit - qcount end
end

local out = {OK, sent, 0}
local taken, running_args = {}, {}
-- pos: how many entries at the front of the ready band this call has taken
-- (they are removed at the end, in one call); parked and dropped entries
-- leave the band at once.
local scanned, pos = 0, 0
local last_expires, expires_s -- most leases share one expiry: its text is made once
local keys_seen = {} -- rate key -> its window this call ({limit, period, count, free_at, starts}) or false
local starts = {} -- members of this call's starts in the queue's log
while #taken < n and scanned < SCAN_LIMIT do
  local page = redis.call('ZRANGEBYSCORE', Q.queued, '-inf', '(' .. PARKED, 'WITHSCORES',
    'LIMIT', int_text(pos), int_text(n - #taken))
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local id = page[i]
    scanned = scanned + 1
    local tkey = Q.task_prefix .. id
    local f = redis.call('HMGET', tkey, 'status', 'ckey', 'climit', 'lease_ms', 'attempts', 'started',
      'rkey')
    local take, window = true, nil
    if f[1] ~= 'queued' then
      -- an index entry without its task (never expected): drop it now
      redis.call('ZREM', Q.queued, id)
      take = false
    elseif f[2] and key_is_full(Q, f[2], f[3]) then
      park(Q, id, f[2], page[i + 1])
      take = false
    elseif f[7] and rated then
      window = keys_seen[f[7]]
      if window == nil then
        local limit, period = rate_spec(Q, f[7])
        window = false
        if limit then
          local count, free_at = rate_window(Q, f[7], period, now)
          window = {limit, period, count, free_at, {}}
        end
        keys_seen[f[7]] = window
      end
      if window and window[3] >= window[1] then
        local free_at = window[4] or (now + window[2])
        rate_park(Q, f[7], id, page[i + 1], free_at)
        if not rate_at or free_at < rate_at then rate_at = free_at end
        take, window = false, nil
      end
    end
    if take then
      local attempt = int_text(tonumber(f[5] or '0') + 1)
      if window then
        window[3] = window[3] + 1
        if not window[4] then window[4] = now + window[2] end
        window[5][#window[5] + 1] = id .. ':' .. attempt
      end
      if qlimit then starts[#starts + 1] = id .. ':' .. attempt end
      pos = pos + 1
      if f[2] then redis.call('HINCRBY', Q.conc, f[2], 1) end
      local own = tonumber(f[4] or '') or lease
      if cap and own > lease then own = lease end
      local expires = now + own
      if not expiry or expires < expiry then expiry = expires end
      if expires ~= last_expires then last_expires, expires_s = expires, int_text(expires) end
      redis.call('HSET', tkey, 'status', 'running', 'token', token, 'expires', expires_s,
        'worker', worker, 'leased', now_s, 'updated', now_s, 'started', f[6] or now_s,
        'attempts', attempt)
      running_args[#running_args + 1] = expires_s
      running_args[#running_args + 1] = id
      taken[#taken + 1] = id
      log_event(Q, 'started', id, {'worker', worker})
      out[#out + 1] = {id, redis.call('HGETALL', tkey)}
    end
  end
end
for key, window in pairs(keys_seen) do
  if window and #window[5] > 0 then rate_log_starts(Q, key, window[5], now, window[2]) end
end
if #starts > 0 then
  rate_log_starts(Q, '', starts, now, qperiod)
  if qcount + #starts >= qlimit then -- full now: come back when the window has room
    local free_at = select(2, rate_window(Q, '', qperiod, now))
    if free_at and (not rate_at or free_at < rate_at) then rate_at = free_at end
  end
end
if #taken > 0 then
  call_chunked('ZREM', Q.queued, taken)
  call_chunked('ZADD', Q.running, running_args)
  call_chunked('ZADD', Q.held_prefix .. worker, running_args)
  count_event(Q, now, 'started', #taken)
end
out[3] = next_ms()
return out
