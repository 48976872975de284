--- @include "includes/finish.lua"
-- Leases past their expiry: the attempt counts; the task goes back to the
-- ready zset while retries remain, else it fails. A task whose cancel was
-- requested ends cancelled. Returns requeued, failed, outbox entries.
local function reap_expired(Q, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', Q.running, '-inf', '(' .. now, 'LIMIT', 0, limit)
  local requeued, failed, sent = 0, 0, 0
  for _, id in ipairs(ids) do
    local tkey = Q.task_prefix .. id
    local f = redis.call('HMGET', tkey, 'status', 'attempts', 'max_retries', 'cancel', 'worker')
    redis.call('ZREM', Q.running, id)
    if f[1] == 'running' then
      release_concurrency(Q, tkey)
      release_hold(Q, id, f[5])
      redis.call('HDEL', tkey, 'token', 'expires', 'worker')
      emit(Q, now, 'expired', id)
      if f[4] == '1' then
        sent = sent + finish(Q, id, tkey, nil, 'cancelled', now, nil)
      elseif tonumber(f[2] or '0') <= tonumber(f[3] or '0') then
        redis.call('HSET', tkey, 'error', 'lease expired')
        redis.call('HINCRBY', tkey, 'retries', 1)
        make_ready(Q, id, tkey, now)
        emit(Q, now, 'retrying', id, {'reason', 'lease expired'})
        requeued = requeued + 1
      else
        sent = sent + finish(Q, id, tkey, nil, 'failed', now, 'lease expired; no retries left')
        failed = failed + 1
      end
    end
  end
  wake(Q, requeued)
  return requeued, failed, sent
end
