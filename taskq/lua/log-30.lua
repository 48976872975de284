--[[ Append lines to a leased task's log, keeping only the newest max_lines.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] max_lines   ARGV[4..] level, message pairs
Each line is stored as JSON {ts (ms, Redis time), level, message}.
Returns {OK, length} | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/lease.lua"

local id, token, max_lines = ARGV[1], ARGV[2], tonumber(ARGV[3])
local tkey = Q.task_prefix .. id
local now = now_ms()
local _, refusal = check_lease(tkey, token, now)
if refusal then return refusal end
local lkey = Q.log_prefix .. id
local len = 0
for i = 4, #ARGV - 1, 2 do
  len = redis.call('RPUSH', lkey, cjson.encode({ts = now, level = ARGV[i], message = ARGV[i + 1]}))
end
if len > max_lines then
  redis.call('LTRIM', lkey, -max_lines, -1)
  len = max_lines
end
return {OK, len}
