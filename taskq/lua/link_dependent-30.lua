--[[ Cross-queue dependencies, step 1, run in the dependency's queue: record
that a task of another queue waits on dep_id, unless dep_id has already ended.
Idempotent.
KEYS: the dependency's queue's keys (includes/queue_keys.lua)
ARGV[1] dep_id   ARGV[2] dependent id
Returns {OK, 'pending'} or {OK, outcome}: completed, failed, cancelled or
missing, which the caller then delivers with resolve_dependency.
]]
--- @include "includes/codes.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/retention.lua"

local st = status_or_gone(Q, ARGV[1]) -- a task retention removed still says how it ended
if not st then return {OK, 'missing'} end
if st == 'completed' or st == 'failed' or st == 'cancelled' then return {OK, st} end
redis.call('SADD', Q.dependents_prefix .. ARGV[1], ARGV[2])
redis.call('HSET', Q.task_prefix .. ARGV[1], 'dependents', '1')
return {OK, 'pending'}
