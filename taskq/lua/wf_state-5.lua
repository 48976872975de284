--[[ File workflows under the statuses observations of their steps found.
The status indexes are kept by this script alone: a workflow sits in the
indexes of exactly one status, its record's 'state'. Observations race
(workers, readers, the sweep): one older than the last filed (its Redis
TIME) changes nothing, so the newest always wins; one made while the
workflow was filed under another status than the caller read is refused
with -1 (observe again). The first time a workflow is filed finished, its
outcome is recorded and counted, once.
An index key is KEYS[2] .. status .. ':' .. scope, for the 8 scopes of a
workflow's namespace, name and version (taskq.workflows.indexes.scopes).
KEYS[1] the workflow record key prefix   KEYS[2] the index key prefix
KEYS[3] check zset   KEYS[4] ended zset   KEYS[5] the stats hash key prefix (+ epoch hour)
ARGV[1] now ms (when the sweep looks at a reopened one)   ARGV[2] stats TTL seconds
then 11 per workflow: id, the status it is filed under as the caller read it
('open': a record of an older release, unfiled), the status observed,
observed at (Redis TIME, microseconds), namespace, name, version, and for
a finished status (else ''): finished ms, duration ms, '1' when a step
needed more than one attempt, histogram bucket of the duration
Returns per workflow: 2 when this call recorded its outcome, 1 when it moved
it, 0 when nothing changed (stale, same status, or gone), -1 when the status
read is not its status any more.
]]
local FINISHED = {complete = true, error = true, cancelled = true}
local now, ttl = ARGV[1], ARGV[2]

local function scopes(ns, name, ver)
  local n, m, v = 'ns=' .. ns, 'name=' .. name, 'ver=' .. ver
  return {'*', n, m, v, n .. ',' .. m, n .. ',' .. v, m .. ',' .. v, n .. ',' .. m .. ',' .. v}
end

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

local function file(id, from, to, seen, ns, name, ver, finished, duration, retried, bucket)
  local record_key = KEYS[1] .. id
  local f = redis.call('HMGET', record_key, 'state', 'seen', 'outcome', 'namespace')
  if not f[4] then return 0 end
  if f[2] and tonumber(f[2]) >= tonumber(seen) then return 0 end
  -- a record of an older release has no state: filed by its outcome, else open
  if (f[1] or f[3] or 'open') ~= from then return -1 end
  redis.call('HSET', record_key, 'seen', seen)
  if from == to then return 0 end
  local created = redis.call('ZSCORE', KEYS[2] .. 'all:*', id)
  if not created then return 0 end
  for _, s in ipairs(scopes(ns, name, ver)) do
    redis.call('ZREM', KEYS[2] .. from .. ':' .. s, id)
    redis.call('ZADD', KEYS[2] .. to .. ':' .. s, created, id)
  end
  redis.call('HSET', record_key, 'state', to)
  if not FINISHED[to] then
    if FINISHED[from] then -- reopened (a step retried by hand): the sweep looks again
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZADD', KEYS[3], now, id)
    end
    return 1
  end
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], finished, id)
  redis.call('HSET', record_key, 'outcome', to, 'finished', finished)
  if f[3] then return 1 end
  count(KEYS[5] .. math.floor(tonumber(finished) / 3600000),
        'w|' .. ns .. '|' .. name .. '|' .. ver .. '|', to, finished, duration, retried, bucket)
  return 2
end

local out = {}
for i = 3, #ARGV, 11 do
  out[#out + 1] = file(unpack(ARGV, i, i + 10))
end
return out
