--[[ File workflows under their status: after an observation of their steps
(all read at one instant), or when one of their steps was claimed.
The status indexes are kept by this script alone: a workflow sits in the
indexes of exactly one status, its record's 'state'. Observations race
(workers, readers, the sweep): one older than the last filed ('seen', its
Redis TIME in microseconds) changes nothing, so the newest always wins; one
made while the workflow was filed under another status than the caller
read is refused with -1 (observe again). The first time a workflow is filed
finished, its outcome is recorded and counted, once.
A start says: a step of the workflow was claimed (a pool worker's, read at
'at', the time of its steps' queue, after the claim). It moves a workflow
filed pending to in_progress, and from then on an observation older than
'at' that saw it pending changes nothing ('started'). Nothing but a start
is known by it, so it never moves a workflow from another status.
An index key is KEYS[2] .. status .. ':' .. scope, for the 8 scopes of a
workflow's namespace, name and version (taskq.workflows.indexes.scopes).
KEYS[1] the workflow record key prefix   KEYS[2] the index key prefix
KEYS[3] check zset   KEYS[4] ended zset   KEYS[5] the stats hash key prefix (+ epoch hour)
ARGV[1] now ms (when the sweep looks at a reopened one)   ARGV[2] stats TTL seconds,
then per workflow: id, 'start', at; or id, 'seen', observed at, the status it is
filed under as the caller read it ('open': a record of an older release,
unfiled), the status observed, finished ms ('' while unfinished) and, when
finished, duration ms, '1' when a step needed more than one attempt, and the
histogram bucket of the duration
Returns per workflow: 2 when this call recorded its outcome, 1 when it moved
it, 0 when nothing changed (stale, same status, or gone), -1 when the status
read is not its status any more.
]]
local FINISHED = {complete = true, error = true, cancelled = true}
local now, ttl = ARGV[1], ARGV[2]

local function count(stats_key, p, to, finished, duration, retried, bucket)
  redis.call('HINCRBY', stats_key, p .. 'finished', 1)
  redis.call('HINCRBY', stats_key, p .. to, 1)
  redis.call('HINCRBY', stats_key, p .. 'sum_ms', duration)
  redis.call('HINCRBY', stats_key, p .. 'b' .. bucket, 1)
  if retried == '1' then redis.call('HINCRBY', stats_key, p .. 'retried', 1) end
  -- the same facts system-wide per epoch minute, for sliding trend windows
  local m = 'm|' .. math.floor(tonumber(finished) / 60000) .. '|'
  redis.call('HINCRBY', stats_key, m .. 'finished', 1)
  redis.call('HINCRBY', stats_key, m .. to, 1)
  redis.call('HINCRBY', stats_key, m .. 'sum_ms', duration)
  if retried == '1' then redis.call('HINCRBY', stats_key, m .. 'retried', 1) end
  redis.call('EXPIRE', stats_key, ttl)
end

-- Move the workflow's 8 index entries from one status to another.
local function move(id, f, from, to)
  local created = redis.call('ZSCORE', KEYS[2] .. 'all:*', id)
  if not created then return false end
  local n, m, v = 'ns=' .. f[4], 'name=' .. f[5], 'ver=' .. f[6]
  for _, s in ipairs({'*', n, m, v, n .. ',' .. m, n .. ',' .. v, m .. ',' .. v, n .. ',' .. m .. ',' .. v}) do
    redis.call('ZREM', KEYS[2] .. from .. ':' .. s, id)
    redis.call('ZADD', KEYS[2] .. to .. ':' .. s, created, id)
  end
  redis.call('HSET', KEYS[1] .. id, 'state', to)
  return true
end

local function read(id)
  local f = redis.call('HMGET', KEYS[1] .. id, 'state', 'seen', 'outcome', 'namespace', 'name',
    'version', 'started')
  -- a record of an older release has no state: filed by its outcome, else open
  f[1] = f[1] or f[3] or 'open'
  return f
end

local function start(id, at)
  local f = read(id)
  if not f[4] or (f[1] ~= 'pending' and f[1] ~= 'open') then return 0 end
  if f[2] and tonumber(f[2]) >= tonumber(at) then return 0 end -- observed since: it knows
  redis.call('HSET', KEYS[1] .. id, 'started', at)
  return move(id, f, f[1], 'in_progress') and 1 or 0
end

local function seen(id, at, from, to, finished, duration, retried, bucket)
  local f = read(id)
  if not f[4] then return 0 end
  if f[2] and tonumber(f[2]) >= tonumber(at) then return 0 end
  if to == 'pending' and f[7] and tonumber(f[7]) >= tonumber(at) then return 0 end
  if f[1] ~= from then return -1 end
  redis.call('HSET', KEYS[1] .. id, 'seen', at)
  if from == to or not move(id, f, from, to) then return 0 end
  if not FINISHED[to] then
    if FINISHED[from] then -- reopened (a step retried by hand): the sweep looks again
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZADD', KEYS[3], now, id)
    end
    return 1
  end
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], finished, id)
  redis.call('HSET', KEYS[1] .. id, 'outcome', to, 'finished', finished)
  if f[3] then return 1 end
  count(KEYS[5] .. math.floor(tonumber(finished) / 3600000),
        'w|' .. f[4] .. '|' .. f[5] .. '|' .. f[6] .. '|', to, finished, duration, retried, bucket)
  return 2
end

local out, i = {}, 3
while i <= #ARGV do
  if ARGV[i + 1] == 'start' then
    out[#out + 1] = start(ARGV[i], ARGV[i + 2])
    i = i + 3
  elseif ARGV[i + 5] == '' then
    out[#out + 1] = seen(ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
    i = i + 6
  else
    out[#out + 1] = seen(ARGV[i], unpack(ARGV, i + 2, i + 8))
    i = i + 9
  end
end
return out
