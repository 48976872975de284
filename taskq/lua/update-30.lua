--[[ Change a task that has not started (queued, delayed or blocked): its
priority, due time, retry budget, timeout, tags, meta fields and
dependencies, all in one call. The task is then placed where its new values
put it: blocked while a dependency is unresolved, delayed while its due time
is ahead, else queued (a new priority keeps its FIFO place among equals).
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id
ARGV[2] JSON object of changes, every key optional:
        priority (int), at (epoch ms as text, '0' = due now),
        max_retries (int), timeout (seconds as text, '' = none),
        tags ([strings]) with tags_text (their JSON text to store, '' = none),
        meta (the whole new meta as JSON text, '' = none) with ver (the
        task's 'ver' field when the caller read the meta it merged, '' when
        absent): user JSON arrives as text and is stored as sent, never
        decoded here (cjson would turn [] into {} and round big integers),
        deps ([task ids], replaces the list; ids of other queues are recorded
        as unresolved here and returned: the caller links them with
        link_dependent, as after enqueue) with deps_text (their JSON text)
Every update bumps the task's 'ver' field, so a caller merging meta outside
this script knows whether the meta it read is still the task's.
Returns {OK, new_status, foreign_dep, ...} | {E_NOT_FOUND} | {E_STATE, status}
      | {E_DEP_MISSING, dep} | {E_STATE, 'cycle'}
      | {E_STATE, 'meta_changed'} (ver moved on since the caller read meta)
      | {E_STATE, 'dependency <id> <status>'} (it failed or was cancelled and
        the task's policy is 'fail')
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/emit.lua"
--- @include "includes/ready.lua"

local CYCLE_SCAN_LIMIT = 10000
local id = ARGV[1]
local ch = cjson.decode(ARGV[2])
local tkey = Q.task_prefix .. id
local wkey = Q.waiting_prefix .. id
local now = now_ms()
local f = redis.call('HMGET', tkey, 'status', 'tags', 'deps', 'created', 'scheduled',
  'dep_policy', 'ver')
local st = f[1]
if not st then return {E_NOT_FOUND} end
if st ~= 'queued' and st ~= 'delayed' and st ~= 'blocked' then return {E_STATE, st} end
if ch.meta and (f[7] or '') ~= ch.ver then return {E_STATE, 'meta_changed'} end
local own = Q.name .. ':'
local function is_own(d) return string.sub(d, 1, #own) == own end

-- Check the new dependencies before writing anything.
if ch.deps then
  local stack = {}
  for _, d in ipairs(ch.deps) do
    if d == id then return {E_STATE, 'cycle'} end
    if is_own(d) then
      local dst = redis.call('HGET', Q.task_prefix .. d, 'status')
      if not dst then return {E_DEP_MISSING, d} end
      if (dst == 'failed' or dst == 'cancelled') and f[6] ~= 'release' then
        return {E_STATE, 'dependency ' .. d .. ' ' .. dst}
      end
      stack[#stack + 1] = d
    end
  end
  -- A cycle: a new dependency waits, through unresolved ones, on this task.
  local seen, visited = {}, 0
  while #stack > 0 and visited < CYCLE_SCAN_LIMIT do
    local d = table.remove(stack)
    if d == id then return {E_STATE, 'cycle'} end
    if not seen[d] then
      seen[d] = true
      visited = visited + 1
      for _, w in ipairs(redis.call('SMEMBERS', Q.waiting_prefix .. d)) do
        if is_own(w) then stack[#stack + 1] = w end
      end
    end
  end
end

local fields = {'updated', now, 'ver', (tonumber(f[7]) or 0) + 1}
local function set(k, v) fields[#fields + 1] = k; fields[#fields + 1] = v end
if ch.priority then set('priority', ch.priority) end
if ch.max_retries then set('max_retries', ch.max_retries) end
if ch.timeout then
  if ch.timeout == '' then redis.call('HDEL', tkey, 'timeout') else set('timeout', ch.timeout) end
end
local due = tonumber(f[5] or '')
if ch.at then
  if ch.at == '0' then
    due = nil
    redis.call('HDEL', tkey, 'scheduled')
  else
    due = tonumber(ch.at)
    set('scheduled', ch.at)
  end
end
if ch.tags then
  if f[2] then
    for _, tag in ipairs(cjson.decode(f[2])) do redis.call('ZREM', Q.tag_prefix .. tag, id) end
  end
  local created = tonumber(f[4] or now)
  for _, tag in ipairs(ch.tags) do redis.call('ZADD', Q.tag_prefix .. tag, created, id) end
  if #ch.tags > 0 then set('tags', ch.tags_text) else redis.call('HDEL', tkey, 'tags') end
end
if ch.meta then
  if ch.meta ~= '' then set('meta', ch.meta) else redis.call('HDEL', tkey, 'meta') end
end
local foreign = {}
if ch.deps then
  if f[3] then
    for _, d in ipairs(cjson.decode(f[3])) do
      if is_own(d) then redis.call('SREM', Q.dependents_prefix .. d, id) end
    end
  end
  redis.call('DEL', wkey)
  for _, d in ipairs(ch.deps) do
    if is_own(d) then
      local dst = redis.call('HGET', Q.task_prefix .. d, 'status')
      if dst ~= 'completed' and dst ~= 'failed' and dst ~= 'cancelled' then
        redis.call('SADD', wkey, d)
        redis.call('SADD', Q.dependents_prefix .. d, id)
        redis.call('HSET', Q.task_prefix .. d, 'dependents', '1')
      end
    else
      redis.call('SADD', wkey, d)
      foreign[#foreign + 1] = d
    end
  end
  if #ch.deps > 0 then set('deps', ch.deps_text) else redis.call('HDEL', tkey, 'deps') end
end
redis.call('HSET', tkey, unpack(fields))

local target = 'queued'
if redis.call('SCARD', wkey) > 0 then
  target = 'blocked'
elseif due and due > now then
  target = 'delayed'
end
if target ~= st then
  if st == 'queued' then unqueue(Q, id, tkey) else redis.call('ZREM', Q[st], id) end
  if target == 'queued' then
    make_ready(Q, id, tkey, now)
    wake(Q, 1)
  elseif target == 'delayed' then
    redis.call('ZADD', Q.delayed, due, id)
    wake_if_earliest(Q, {due, id}) -- a sleeping worker learns the due time
    redis.call('HSET', tkey, 'status', 'delayed')
  else
    redis.call('ZADD', Q.blocked, tonumber(f[4] or now), id)
    redis.call('HSET', tkey, 'status', 'blocked')
  end
elseif target == 'queued' and ch.priority then
  -- a parked task keeps its ready score in its key's parked zset
  -- (or in its rate key's: includes/rate.lua)
  local keys = redis.call('HMGET', tkey, 'ckey', 'rkey')
  local zkey = Q.queued
  local old = keys[1] and redis.call('ZSCORE', Q.parked_prefix .. keys[1], id)
  if old then
    zkey = Q.parked_prefix .. keys[1]
  else
    old = keys[2] and redis.call('ZSCORE', Q.rate_parked_prefix .. keys[2], id)
    if old then zkey = Q.rate_parked_prefix .. keys[2] else old = redis.call('ZSCORE', Q.queued, id) end
  end
  local seq = tonumber(old) % SEQ_SPAN
  redis.call('ZADD', zkey, ready_score(tonumber(ch.priority), seq), id)
elseif target == 'delayed' and ch.at then
  redis.call('ZADD', Q.delayed, due, id)
  wake_if_earliest(Q, {due, id}) -- due sooner: a sleeping worker learns it
end
log_event(Q, 'updated', id)
local out = {OK, target}
for _, d in ipairs(foreign) do out[#out + 1] = d end
return out
