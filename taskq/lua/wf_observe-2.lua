--[[ Read every step task of some workflows at one instant, for their status.
A read, not a transition: taskq.workflows.status derives each workflow's
status from the reply (engine.step_status, as a full read does) and files
it with wf_state-21.lua, whose version guard is this call's TIME.
KEYS[1] the queue's tag key prefix followed by 'workflow:' (with a workflow
id appended: that workflow's tag index, a zset of its step task ids)
KEYS[2] the queue's task key prefix
ARGV: workflow ids
Returns {seconds, microseconds, then per workflow: n, then five values per
step task that exists (n of them): id, status, attempts, dep, finished},
dep '1' when its error says a step it needs ended it ('dependency ...'),
finished '' while it has not.
]]
local t = redis.call('TIME')
local out = {t[1], t[2]}
for _, wid in ipairs(ARGV) do
  local at = #out + 1
  out[at] = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1] .. wid, 0, -1)) do
    local f = redis.call('HMGET', KEYS[2] .. id, 'status', 'attempts', 'error', 'finished')
    if f[1] then
      out[at] = out[at] + 1
      out[#out + 1] = id
      out[#out + 1] = f[1]
      out[#out + 1] = f[2] or '0'
      out[#out + 1] = (f[3] and string.sub(f[3], 1, 11) == 'dependency ') and '1' or '0'
      out[#out + 1] = f[4] or ''
    end
  end
end
return out
