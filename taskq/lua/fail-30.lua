--[[ Report a leased task's attempt as failed (or acknowledge its cancel).
Retries after the backoff delay while retries remain and the failure is
retryable; else the task fails for good and its dependents are resolved.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] error text
ARGV[4] retryable '1' | '0'   ARGV[5] jitter in [0, 1)
ARGV[6] mode 'fail' | 'cancel' (the holder stopped because cancel was requested)
Returns {OK, 'retrying', delay_ms} | {OK, 'failed'|'cancelled', outbox_entries}
      | {NOOP, final status} (a repeated report) | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"
--- @include "includes/lease.lua"
--- @include "includes/backoff.lua"

local id, token, err = ARGV[1], ARGV[2], ARGV[3]
local tkey = Q.task_prefix .. id
local now = now_ms()
local done = redis.call('HMGET', tkey, 'status', 'token')
if (done[1] == 'failed' or done[1] == 'cancelled') and done[2] == token then return {NOOP, done[1]} end
local f, refusal = check_lease(tkey, token, now,
  'attempts', 'max_retries', 'backoff', 'backoff_base', 'cancel', 'worker')
if refusal then return refusal end

redis.call('ZREM', Q.running, id)
release_concurrency(Q, tkey)
release_hold(Q, id, f[9])
redis.call('HSET', tkey, 'error', err)
redis.call('HDEL', tkey, 'expires')

if ARGV[6] == 'cancel' or f[8] == '1' then
  return {OK, 'cancelled', finish(Q, id, tkey, nil, 'cancelled', now, nil)}
end
local attempts = tonumber(f[4] or '0')
if ARGV[4] == '1' and attempts <= tonumber(f[5] or '0') then
  local delay = backoff_ms(f[6] or 'exponential_jitter', attempts, tonumber(ARGV[5]),
    tonumber(f[7] or '1000'))
  redis.call('HDEL', tkey, 'token', 'worker')
  redis.call('HINCRBY', tkey, 'retries', 1)
  if delay > 0 then
    redis.call('ZADD', Q.delayed, now + delay, id)
    wake_if_earliest(Q, {now + delay, id}) -- a worker learns the retry's due time
    redis.call('HSET', tkey, 'status', 'delayed', 'scheduled', now + delay, 'updated', now)
  else
    make_ready(Q, id, tkey, now)
    wake(Q, 1)
  end
  emit(Q, now, 'retrying', id, {'attempt', attempts, 'delay_ms', delay})
  return {OK, 'retrying', delay}
end
return {OK, 'failed', finish(Q, id, tkey, nil, 'failed', now, nil)}
