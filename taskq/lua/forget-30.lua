--[[ Remove finished tasks now, leaving their tombstones (as retention does:
includes/retention.lua): the workflow sweep removes a pruned workflow's
steps this way. A task that is not finished is left alone.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV: task ids
Returns {OK, removed}
]]
--- @include "includes/codes.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/retention.lua"

local removed = 0
for i = 1, #ARGV do removed = removed + forget_finished(Q, ARGV[i]) end
return {OK, removed}
