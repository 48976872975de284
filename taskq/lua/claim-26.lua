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

-- ms until the next timer: a due time is promoted at it, a lease reaped 1 ms past it
local function next_ms()
  local t = due
  if expiry and (not t or expiry + 1 < t) then t = expiry + 1 end
  if not t then return -1 end
  return math.max(0, t - now)
end

if redis.call('HGET', Q.meta, 'paused') == '1' then return {OK, sent, next_ms()} end

local out = {OK, sent, 0}
local taken, running_args = {}, {}
-- pos: how many entries at the front of the ready band this call has taken
-- (they are removed at the end, in one call); parked and dropped entries
-- leave the band at once.
local scanned, pos = 0, 0
local last_expires, expires_s -- most leases share one expiry: its text is made once
while #taken < n and scanned < SCAN_LIMIT do
  local page = redis.call('ZRANGEBYSCORE', Q.queued, '-inf', '(' .. PARKED, 'WITHSCORES',
    'LIMIT', int_text(pos), int_text(n - #taken))
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local id = page[i]
    scanned = scanned + 1
    local tkey = Q.task_prefix .. id
    local f = redis.call('HMGET', tkey, 'status', 'ckey', 'climit', 'lease_ms', 'attempts', 'started')
    local take = true
    if f[1] ~= 'queued' then
      -- an index entry without its task (never expected): drop it now
      redis.call('ZREM', Q.queued, id)
      take = false
    elseif f[2] and key_is_full(Q, f[2], f[3]) then
      park(Q, id, f[2], page[i + 1])
      take = false
    end
    if take then
      pos = pos + 1
      if f[2] then redis.call('HINCRBY', Q.conc, f[2], 1) end
      local own = tonumber(f[4] or '') or lease
      if cap and own > lease then own = lease end
      local expires = now + own
      if not expiry or expires < expiry then expiry = expires end
      if expires ~= last_expires then last_expires, expires_s = expires, int_text(expires) end
      redis.call('HSET', tkey, 'status', 'running', 'token', token, 'expires', expires_s,
        'worker', worker, 'leased', now_s, 'updated', now_s, 'started', f[6] or now_s,
        'attempts', int_text(tonumber(f[5] or '0') + 1))
      running_args[#running_args + 1] = expires_s
      running_args[#running_args + 1] = id
      taken[#taken + 1] = id
      log_event(Q, 'started', id, {'worker', worker})
      out[#out + 1] = {id, redis.call('HGETALL', tkey)}
    end
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
