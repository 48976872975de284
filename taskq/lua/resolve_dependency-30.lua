--[[ Cross-queue dependencies, step 2, run in the dependent's queue: dep_id
(of another queue) ended with outcome. Idempotent: delivering twice, or after
the dependent moved on, changes nothing.
KEYS: the dependent's queue's keys (includes/queue_keys.lua)
ARGV[1] dependent id   ARGV[2] dep_id   ARGV[3] outcome
Returns {OK, outbox_entries}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"

local id, dep, outcome = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local r = dependency_done(Q, id, dep, outcome, now)
if r == 'ready' then
  wake(Q, 1)
elseif r == 'fail' then
  return {OK, finish(Q, id, Q.task_prefix .. id, 'blocked', 'failed', now,
    'dependency ' .. dep .. ' ' .. outcome, {'reason', 'dependency'})}
end
return {OK, 0}
