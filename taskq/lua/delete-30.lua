--[[ Delete a task and everything it owns. A running task is refused unless
forced; an unfinished one is cancelled first so its dependents are resolved.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] force '1' | '0'
Returns {OK, outbox_entries} | {E_NOT_FOUND} | {E_STATE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"

local id = ARGV[1]
local tkey = Q.task_prefix .. id
local now = now_ms()
local f = redis.call('HMGET', tkey, 'status', 'tags', 'deps', 'dedupe', 'worker')
local st = f[1]
if not st then return {E_NOT_FOUND} end
if st == 'running' and ARGV[2] ~= '1' then return {E_STATE, st} end
local sent = 0
if st == 'running' then
  release_concurrency(Q, tkey)
  release_hold(Q, id, f[5])
end
if st ~= 'completed' and st ~= 'failed' and st ~= 'cancelled' then
  sent = finish(Q, id, tkey, st, 'cancelled', now, 'deleted')
  st = 'cancelled'
end
if f[3] then
  for _, d in ipairs(cjson.decode(f[3])) do redis.call('SREM', Q.dependents_prefix .. d, id) end
end
if f[4] then
  local dkey = Q.dedupe_prefix .. f[4]
  if redis.call('GET', dkey) == id then redis.call('DEL', dkey) end
end
drop_task(Q, id, st, f[2])
emit(Q, now, 'deleted', id)
return {OK, sent}
