-- A full Redis (maxmemory under noeviction) refuses a script at its first
-- write that may grow memory, but never one that has already written (it
-- cannot stop a script half way). So the transitions that drain work make
-- a write that cannot grow memory first, and a full Redis still drains:
-- new work (enqueues, schedule runs, workflow starts) is refused, what is
-- queued runs, and retention frees memory (taskq/retention.py).
-- Most of them start with such a write anyway: complete (HDEL of the
-- task's expiry), fail and release (ZREM from the running zset), reap and
-- retention's removals (ZREM). Those that do not (claim, lease renewal,
-- the prune pass) call this first; it changes nothing. The transitions'
-- tests on a full Redis keep both kinds honest
-- (tests/integration/test_full_redis.py).
local function pass_a_full_redis(Q)
  redis.call('HDEL', Q.meta, '~')
end
