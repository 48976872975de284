--[[ Cancel a task. Queued (parked too), delayed or blocked: cancelled now
(dependents are resolved by their policy). Running, mode 'request': cancel
is requested; the holder sees it at its next heartbeat and acknowledges with
fail(mode='cancel'); a lease that expires with cancel requested ends
cancelled too. Running, mode 'force': cancelled now, in this call: the lease
token is revoked (the holder's next heartbeat, checkpoint, log, complete or
fail is refused and changes nothing), its concurrency slot and its entry in
its holder's index are given back.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] reason (may be empty)   ARGV[3] mode 'request' | 'force'
Returns {OK, 'cancelled', outbox_entries} | {OK, 'cancel_requested', 0}
      | {E_NOT_FOUND} | {E_STATE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"

local id = ARGV[1]
local reason = ARGV[2] ~= '' and ARGV[2] or nil
local tkey = Q.task_prefix .. id
local now = now_ms()
local st = redis.call('HGET', tkey, 'status')
if not st then return {E_NOT_FOUND} end
if st == 'queued' or st == 'delayed' or st == 'blocked' then
  return {OK, 'cancelled', finish(Q, id, tkey, st, 'cancelled', now, reason)}
end
if st == 'running' and ARGV[3] == 'force' then
  release_concurrency(Q, tkey)
  release_hold(Q, id, redis.call('HGET', tkey, 'worker'))
  redis.call('HDEL', tkey, 'token', 'expires', 'cancel')
  return {OK, 'cancelled', finish(Q, id, tkey, 'running', 'cancelled', now, reason,
    {'reason', 'forced'})}
end
if st == 'running' then
  redis.call('HSET', tkey, 'cancel', '1', 'updated', now)
  emit(Q, now, 'cancel_requested', id)
  return {OK, 'cancel_requested', 0}
end
return {E_STATE, st}
