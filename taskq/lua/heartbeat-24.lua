--[[ Renew or extend a lease (in the task and in its holder's index); tells
the holder whether cancel was requested.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] ms
ARGV[4] mode 'renew' (expires = now + ms) | 'extend' (expires = expires + ms)
Returns {OK, expires_ms, cancel_requested 0|1} | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/lease.lua"

local id, token, ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local tkey = Q.task_prefix .. id
local now = now_ms()
local f, refusal = check_lease(tkey, token, now, 'cancel', 'worker')
if refusal then return refusal end
local expires = now + ms
if ARGV[4] == 'extend' then expires = tonumber(f[3]) + ms end
redis.call('HSET', tkey, 'expires', expires)
redis.call('ZADD', Q.running, expires, id)
if f[5] then redis.call('ZADD', Q.held_prefix .. f[5], expires, id) end
return {OK, expires, f[4] == '1' and 1 or 0}
