--[[ Lease up to n ready tasks, highest priority first, FIFO within a priority.
Promotes due delayed tasks and reaps expired leases first; a paused queue
leases nothing; a task whose concurrency key is at its limit is skipped
(it stays queued, in its place).
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] n           how many tasks at most
ARGV[2] token       the lease token (random, from the caller)
ARGV[3] lease_ms    lease length, unless the task carries its own lease_ms
ARGV[4] worker      who holds the lease (worker id or agent name)
Returns {OK, outbox_entries, {id, {field, value, ...}}, ...}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/reap.lua"
--- @include "includes/batch.lua"

local SCAN_LIMIT = 1000
local n, token, lease, worker = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
promote_due(Q, now, 1000)
local _, _, sent = reap_expired(Q, now, 100)
local out = {OK, sent}
if redis.call('HGET', Q.meta, 'paused') == '1' then return out end

local taken, running_args = {}, {}
-- pos: how many entries at the front of the ready zset this call has looked
-- at and left in place (taken ones are removed at the end, in one call).
local scanned, pos = 0, 0
while #taken < n and scanned < SCAN_LIMIT do
  local ids = redis.call('ZRANGE', Q.queued, pos, pos + (n - #taken) - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    scanned = scanned + 1
    local tkey = Q.task_prefix .. id
    local f = redis.call('HMGET', tkey, 'status', 'ckey', 'climit', 'lease_ms', 'attempts', 'started')
    local take = true
    if f[1] ~= 'queued' then
      -- an index entry without its task (never expected): drop it now
      redis.call('ZREM', Q.queued, id)
      take = false
    else
      pos = pos + 1
    end
    if take and f[2] then
      local busy = tonumber(redis.call('HGET', Q.conc, f[2]) or '0')
      if busy >= tonumber(f[3] or '1') then
        take = false
      else
        redis.call('HINCRBY', Q.conc, f[2], 1)
      end
    end
    if take then
      local expires = now + (tonumber(f[4] or '') or lease)
      redis.call('HSET', tkey, 'status', 'running', 'token', token, 'expires', expires,
        'worker', worker, 'leased', now, 'updated', now, 'started', f[6] or now,
        'attempts', tonumber(f[5] or '0') + 1)
      running_args[#running_args + 1] = expires
      running_args[#running_args + 1] = id
      taken[#taken + 1] = id
      log_event(Q, 'started', id, {'worker', worker})
      out[#out + 1] = {id, redis.call('HGETALL', tkey)}
    end
  end
end
if #taken > 0 then
  call_chunked('ZREM', Q.queued, taken)
  call_chunked('ZADD', Q.running, running_args)
  count_event(Q, now, 'started', #taken)
end
return out
