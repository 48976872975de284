-- A full Redis (maxmemory under noeviction) refuses a script at its first
-- write that may grow memory, but never one that has already written (it
-- cannot stop a script half way). The transitions that drain work (claim,
-- complete, fail, release, renew, reap, retention) start with a write that
-- never grows memory and here changes nothing, so a full Redis still
-- drains: new work (enqueues, schedule runs, workflow starts) is refused,
-- what is queued runs, and retention frees memory (taskq/retention.py).
local function pass_a_full_redis(Q)
  redis.call('HDEL', Q.meta, '~')
end
