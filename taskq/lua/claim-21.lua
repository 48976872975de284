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

local SCAN_LIMIT = 1000
local n, token, lease, worker = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
promote_due(Q, now, 1000)
local _, _, sent = reap_expired(Q, now, 100)
local out = {OK, sent}
if redis.call('HGET', Q.meta, 'paused') == '1' then return out end

local got, scanned, skipped = 0, 0, 0
while got < n and scanned < SCAN_LIMIT do
  local ids = redis.call('ZRANGE', Q.queued, skipped, skipped + (n - got) - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    scanned = scanned + 1
    local tkey = Q.task_prefix .. id
    local f = redis.call('HMGET', tkey, 'status', 'ckey', 'climit', 'lease_ms')
    local take = true
    if f[1] ~= 'queued' then
      -- an index entry without its task (never expected): drop it
      redis.call('ZREM', Q.queued, id)
      take = false
    elseif f[2] then
      local busy = tonumber(redis.call('HGET', Q.conc, f[2]) or '0')
      if busy >= tonumber(f[3] or '1') then
        take = false
        skipped = skipped + 1
      end
    end
    if take then
      redis.call('ZREM', Q.queued, id)
      if f[2] then redis.call('HINCRBY', Q.conc, f[2], 1) end
      local expires = now + (tonumber(f[4] or '') or lease)
      redis.call('HSET', tkey, 'status', 'running', 'token', token, 'expires', expires,
        'worker', worker, 'leased', now, 'updated', now)
      redis.call('HSETNX', tkey, 'started', now)
      redis.call('HINCRBY', tkey, 'attempts', 1)
      redis.call('ZADD', Q.running, expires, id)
      emit(Q, now, 'started', id, {'worker', worker})
      out[#out + 1] = {id, redis.call('HGETALL', tkey)}
      got = got + 1
    end
  end
end
return out
