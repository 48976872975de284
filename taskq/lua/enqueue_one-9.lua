--[[ Create one plain task: the hot path of Queue.enqueue. A task with
dependencies, a dedupe key, tags or a concurrency key goes through
enqueue-30.lua instead; for the tasks it takes, this stores and emits
exactly what enqueue-30.lua does (a test compares the two).
KEYS[1] meta  [2] queued  [3] delayed  [4] all  [5] stats  [6] events
    [7] wake  [8] series  [9] task_prefix (the queue's keys of those names)
ARGV[1] id   ARGV[2] '1' when the caller chose the id (checked for
existence; generated ids are unique by construction)
ARGV[3] priority   ARGV[4] delay ms or ''   ARGV[5] due epoch ms or ''
ARGV[6..] the task hash's fields, as field, value pairs
Flat arguments, no JSON: nothing to decode on the hot path.
Returns {OK, now_ms, id, status}; refusal, nothing written: {E_EXISTS, 1, id}.
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/emit.lua"
--- @include "includes/ready.lua"

local Q = {
  meta = KEYS[1], queued = KEYS[2], delayed = KEYS[3], all = KEYS[4], stats = KEYS[5],
  events = KEYS[6], wake = KEYS[7], series = KEYS[8], task_prefix = KEYS[9],
}
local id = ARGV[1]
local tkey = Q.task_prefix .. id
if ARGV[2] == '1' and redis.call('EXISTS', tkey) == 1 then
  return {E_EXISTS, 1, id}
end
local now = now_ms()
local now_s = int_text(now)
local due = tonumber(ARGV[5])
if not due then
  local delay = tonumber(ARGV[4])
  if delay and delay > 0 then due = now + delay end
end

local status
if due and due > now then
  status = 'delayed'
  redis.call('ZADD', Q.delayed, due, id)
  wake_if_earliest(Q, {due, id}) -- a sleeping worker learns the new due time
else
  status = 'queued'
  local seq = redis.call('HINCRBY', Q.meta, 'seq', 1)
  redis.call('ZADD', Q.queued, ready_score(tonumber(ARGV[3]), seq), id)
end
if due then
  redis.call('HSET', tkey, 'status', status, 'created', now_s, 'updated', now_s, 'scheduled', due,
             unpack(ARGV, 6))
else
  redis.call('HSET', tkey, 'status', status, 'created', now_s, 'updated', now_s, unpack(ARGV, 6))
end
redis.call('ZADD', Q.all, now_s, id)
emit(Q, now, 'created', id)
if status == 'queued' then wake(Q, 1) end
return {OK, now, id, status}
