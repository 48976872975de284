--[[ Status, result and error of many tasks of one queue in one call (a
read): the dependencies of a pool worker's batch of claimed workflow
steps; and the queue's Redis TIME, read after their claim (a start of
their workflows: wf_state-5.lua).
KEYS[1] the queue's task key prefix (a task id appended: its hash)
ARGV: task ids
Returns {seconds, microseconds, then three values per task in turn} (false
where the task or field is not there).
]]
local t = redis.call('TIME')
local out = {t[1], t[2]}
for _, id in ipairs(ARGV) do
  local got = redis.call('HMGET', KEYS[1] .. id, 'status', 'result', 'error')
  out[#out + 1] = got[1]
  out[#out + 1] = got[2]
  out[#out + 1] = got[3]
end
return out
