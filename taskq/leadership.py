"""Leadership of the scheduler process: one active leader among any number.

Each instance heartbeats into a zset of schedulers and tries to take or renew
a lock with a TTL (taskq/lua/leader-1.lua, on Redis's clock); only the holder
acts. If the leader dies its lock expires, and a standby takes over within
LOCK_TTL plus one interval; a leader that stops cleanly releases at once.
"""

from __future__ import annotations

import time

from redis.exceptions import ResponseError

from .errors import is_oom
from .keys import Keys
from .lua import call_with_keys

LOCK_TTL = 5.0
"""Seconds a leader's lock lives without renewal: a standby takes over
this long (plus one interval) after the leader dies."""


class Leadership:
    """One instance's claim on leadership (``acquire`` every interval)."""

    def __init__(self, redis, keys: Keys, instance_id: str, lock_ttl: float = LOCK_TTL):
        self.redis, self.keys, self.id, self.lock_ttl = redis, keys, instance_id, lock_ttl

    def _lock(self, action: str) -> bool:
        return bool(call_with_keys(self.redis, "leader", [self.keys.scheduler_leader],
                                   self.id, int(self.lock_ttl * 1000), action))

    def acquire(self) -> bool:
        """Say this instance is alive; take or renew the lock. True: we lead."""
        try:
            self.redis.zadd(self.keys.schedulers, {self.id: int(time.time() * 1000)})
        except ResponseError as exc:
            if not is_oom(exc):
                raise  # a full Redis refuses the list of instances, not the lock (leader-1.lua)
        return self._lock("acquire")

    def release(self) -> None:
        """Give the lock up (if held) and leave the list of instances."""
        self._lock("release")
        self.redis.zrem(self.keys.schedulers, self.id)


def status(redis, keys: Keys, ttl: float = LOCK_TTL * 3) -> dict:
    """Who leads and how many schedulers are alive (for system status views)."""
    now_ms = int(time.time() * 1000)
    leader = redis.get(keys.scheduler_leader)
    alive = redis.zcount(keys.schedulers, now_ms - ttl * 1000, "+inf")
    return {"leader_id": leader.decode() if isinstance(leader, bytes) else leader,
            "instance_count": int(alive)}
