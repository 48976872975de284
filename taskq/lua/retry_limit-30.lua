--[[ Change the retry budget (max_retries) of a task that has not finished:
waiting (queued, delayed, blocked), waiting out a retry's backoff, or
running. A running task keeps its lease, token and expiry untouched: the
holder's next fail report reads the new budget (fail-30.lua compares its
attempts with max_retries), so only future retries change. A finished task
(completed, failed, cancelled) is refused.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] max_retries (a whole number the caller validated)
Returns {OK, status} | {E_NOT_FOUND} | {E_STATE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/emit.lua"

local id = ARGV[1]
local tkey = Q.task_prefix .. id
local f = redis.call('HMGET', tkey, 'status', 'ver')
local st = f[1]
if not st then return {E_NOT_FOUND} end
if st == 'completed' or st == 'failed' or st == 'cancelled' then return {E_STATE, st} end
redis.call('HSET', tkey, 'max_retries', tonumber(ARGV[2]), 'updated', now_ms(),
  'ver', (tonumber(f[2]) or 0) + 1)
log_event(Q, 'updated', id)
return {OK, st}
