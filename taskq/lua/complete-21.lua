--[[ Complete a leased task with its result. Idempotent for the holder: a
second complete with the same token is a no-op; any other token is refused.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] result (JSON text)
Returns {OK, outbox_entries} | {NOOP} | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"
--- @include "includes/lease.lua"

local id, token = ARGV[1], ARGV[2]
local tkey = Q.task_prefix .. id
local now = now_ms()
local done = redis.call('HMGET', tkey, 'status', 'token')
if done[1] == 'completed' and done[2] == token then return {NOOP} end
local f, refusal = check_lease(tkey, token, now, 'leased')
if refusal then return refusal end

redis.call('ZREM', Q.running, id)
release_concurrency(Q, tkey)
redis.call('HSET', tkey, 'result', ARGV[3])
redis.call('HDEL', tkey, 'expires', 'cancel')
local runtime = now - tonumber(f[4] or now)
redis.call('HINCRBY', Q.stats, 'runtime_ms', runtime)
local minute = math.floor(now / 60000)
redis.call('HINCRBY', Q.series, 'm:' .. minute .. ':runtime_ms', runtime)
redis.call('HINCRBY', Q.series, 'h:' .. math.floor(minute / 60) .. ':runtime_ms', runtime)
return {OK, finish(Q, id, tkey, 'running', 'completed', now, nil, {'runtime_ms', runtime})}
