--[[ Complete leased tasks with their results, many in one call. Idempotent
for the holder: completing again with the same token is a no-op; any other
token is refused and changes nothing.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] n, then n triples: id, token, result (JSON text)
Returns {OK, outbox_entries, code1, status1, code2, status2, ...} where code
is OK, NOOP, E_NOT_FOUND or E_LEASE (status says what the task is instead).
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"
--- @include "includes/batch.lua"

local n = tonumber(ARGV[1])
local now = now_ms()
local now_s = int_text(now)
local minute = int_text(math.floor(now / 60000))
local hour = int_text(math.floor(now / 3600000))
local out = {OK, 0}
local done, finished_args, ended = {}, {}, {}
local held = {} -- holder -> ids: one ZREM per holder index, not one per task
local runtime_total = 0
for i = 1, n do
  local id, token = ARGV[i * 3 - 1], ARGV[i * 3]
  local tkey = Q.task_prefix .. id
  local f = redis.call('HMGET', tkey, 'status', 'token', 'expires', 'leased', 'ckey',
    'dedupe', 'dedupe_window', 'dependents', 'worker', 'waiters', 'wf_events', 'keep_completed_ms')
  local code, detail = OK, ''
  if not f[1] then
    code = E_NOT_FOUND
  elseif f[2] ~= token then
    code, detail = E_LEASE, f[1]
  elseif f[1] == 'completed' then
    code = NOOP
  elseif f[1] ~= 'running' then
    code, detail = E_LEASE, f[1]
  elseif tonumber(f[3]) < now then
    code, detail = E_LEASE, 'expired'
  end
  if code == OK then
    local runtime = now - tonumber(f[4] or now)
    runtime_total = runtime_total + runtime
    -- an earlier attempt's error (a failure, an expired lease) is not this
    -- outcome's; a HDEL first, so a full Redis lets the completion through
    -- (includes/full.lua)
    redis.call('HDEL', tkey, 'expires', 'cancel', 'error')
    redis.call('HSET', tkey, 'status', 'completed', 'result', ARGV[i * 3 + 1],
      'finished', now_s, 'updated', now_s)
    if f[5] then release_concurrency(Q, tkey) end
    if f[9] then
      local ids = held[f[9]]
      if not ids then ids = {}; held[f[9]] = ids end
      ids[#ids + 1] = id
    end
    if f[6] and not f[7] then
      local dkey = Q.dedupe_prefix .. f[6]
      if redis.call('GET', dkey) == id then redis.call('DEL', dkey) end
    end
    done[#done + 1] = id
    finished_args[#finished_args + 1] = now_s
    finished_args[#finished_args + 1] = id
    log_event(Q, 'completed', id, {'runtime_ms', int_text(runtime)})
    -- A workflow step's declared custom events (space-separated names that
    -- taskq.workflows validated), published with its completion: one entry
    -- per name, so a webhook delivers each event on its own.
    if f[11] then
      for name in string.gmatch(f[11], '%S+') do log_event(Q, 'custom_event', id, {'name', name}) end
    end
    if f[8] then ended[#ended + 1] = {id, 'completed'} end
    if f[10] then notify_waiters(Q, id, tkey, 'completed', ARGV[i * 3 + 1]) end
    schedule_expiry(Q, id, 'completed', now, f[12], f[10])
  end
  out[#out + 1] = code
  out[#out + 1] = detail
end
if #done > 0 then
  call_chunked('ZREM', Q.running, done)
  for holder, ids in pairs(held) do call_chunked('ZREM', Q.held_prefix .. holder, ids) end
  call_chunked('ZADD', Q.completed, finished_args)
  count_event(Q, now, 'completed', #done)
  local total = int_text(runtime_total)
  redis.call('HINCRBY', Q.stats, 'runtime_ms', total)
  redis.call('HINCRBY', Q.series, 'm:' .. minute .. ':runtime_ms', total)
  redis.call('HINCRBY', Q.series, 'h:' .. hour .. ':runtime_ms', total)
  if #ended > 0 then out[2] = cascade(Q, ended, now) end
end
return out
