--[[ Give a lease back unused (a worker stopping cold): the task is queued
again at once and the attempt does not count; a task whose cancel was
requested ends cancelled instead.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token
Returns {OK, 'queued'} | {OK, 'cancelled', outbox_entries} | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/lease.lua"
--- @include "includes/finish.lua"

local id, token = ARGV[1], ARGV[2]
local tkey = Q.task_prefix .. id
local now = now_ms()
local f, refusal = check_lease(tkey, token, now, 'attempts', 'cancel', 'worker')
if refusal then return refusal end
redis.call('ZREM', Q.running, id)
release_concurrency(Q, tkey)
release_hold(Q, id, f[6])
if f[5] == '1' then
  -- ends like an acknowledged cancel: the token stays, so the holder
  -- repeating itself is recognised (fail's no-op) rather than refused
  redis.call('HDEL', tkey, 'expires')
  return {OK, 'cancelled', finish(Q, id, tkey, nil, 'cancelled', now, nil)}
end
redis.call('HDEL', tkey, 'token', 'expires', 'worker')
redis.call('HSET', tkey, 'attempts', math.max(0, tonumber(f[4] or '1') - 1))
make_ready(Q, id, tkey, now)
emit(Q, now, 'released', id)
wake(Q, 1)
return {OK, 'queued'}
