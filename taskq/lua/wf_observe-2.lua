--[[ Read every step task of one workflow at one instant, for its status.
A read, not a transition: taskq.workflows.status derives the workflow's
status from the reply (engine.step_status, as a full read does) and files
it with wf_state-53.lua, whose version guard is this call's TIME.
KEYS[1] the workflow's tag index in its steps' queue (zset of its step task ids)
KEYS[2] that queue's task key prefix
Returns {seconds, microseconds, id, status, attempts, dep, finished, ...}: five
values per step task that exists, dep '1' when its error says a step it
needs ended it ('dependency ...'), finished '' while it has not.
]]
local t = redis.call('TIME')
local out = {t[1], t[2]}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', KEYS[2] .. id, 'status', 'attempts', 'error', 'finished')
  if f[1] then
    out[#out + 1] = id
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or '0'
    out[#out + 1] = (f[3] and string.sub(f[3], 1, 11) == 'dependency ') and '1' or '0'
    out[#out + 1] = f[4] or ''
  end
end
return out
