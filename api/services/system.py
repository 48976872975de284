"""System-wide views: health of the parts, task counts across queues, and
time series from the engine's per-minute / per-hour counters (read through
taskq.monitoring.series, the one decoder of their format)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from taskq import __version__
from taskq.isotime import iso
from taskq.keys import Keys
from taskq.maintenance import queue_names
from taskq.options import PRIORITY_MAX, SEQ_SPAN
from taskq.monitoring import series
from taskq.worker_registry import WorkerRegistry
from taskq import leadership, lua
from taskq.monitoring import latency
from taskq.monitoring import overview

from taskq.keys import ApiKeys

from .labels import queue_labels

PRIORITY_BANDS = (("high_priority", 8, None), ("normal_priority", 4, 7), ("low_priority", None, 3))
"""Ready-queue depth by priority band (DTS priorities are 1-10)."""
PERIODS = {"hour": (60, 60), "day": (3600, 24), "week": (86400, 7), "month": (86400, 30)}
"""period -> (seconds per point, points): the window ends now."""
METRICS = ("task_completion_rate", "error_rate", "average_execution_time")
INSTANCE_TTL = 60.0
"""An API process unseen this long no longer counts as running."""


def _ready_score_range(lo: int | None, hi: int | None) -> tuple[str, str]:
    """Scores of the ready zset holding priorities lo..hi (score falls as priority rises).
    Tasks parked behind a full concurrency key sit at +inf: they are not
    ready, so no band counts them."""
    low = "-inf" if hi is None else str((PRIORITY_MAX - hi) * SEQ_SPAN)
    high = "(+inf" if lo is None else f"({(PRIORITY_MAX - lo + 1) * SEQ_SPAN}"
    return low, high


class SystemService:
    def __init__(self, redis, keys: Keys, api_keys: ApiKeys, workers: WorkerRegistry,
                 started: float | None = None):
        """``started``: when this API process started (epoch s; its uptime)."""
        self.redis, self.keys, self.api_keys, self.workers = redis, keys, api_keys, workers
        self.started = time.time() if started is None else started

    def status(self) -> dict:
        r, now = self.redis, time.time()
        info_mem, info_clients = r.info("memory"), r.info("clients")
        names = queue_names(r, self.keys)
        pipe = r.pipeline(transaction=False)
        for n in names:
            qk = self.keys.queue(n)
            for s in ("queued", "delayed", "blocked", "running"):
                pipe.zcard(qk.status_index(s))
            for _, lo, hi in PRIORITY_BANDS:
                pipe.zcount(qk.queued, *_ready_score_range(lo, hi))
        latency.add_reads(pipe, self.keys, names)
        replies = lua.execute(pipe) if names else []
        per = 4 + len(PRIORITY_BANDS)
        pending = running = 0
        depths = dict.fromkeys((b[0] for b in PRIORITY_BANDS), 0)
        for i in range(len(names)):
            row = replies[i * per:(i + 1) * per]
            pending += sum(row[:3])
            running += row[3]
            for (band, _, _), n in zip(PRIORITY_BANDS, row[4:]):
                depths[band] += n
        midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        today = self.counts_since(names, int(midnight.timestamp()) // 3600, ("completed", "failed"))

        workers = self.workers.all()
        labels = queue_labels(r, self.keys, names)
        waits = latency.shown(latency.take_reads(names, replies[len(names) * per:]), workers)
        queue_latency = [{"queue": labels[n], **waits[n]} for n in names]
        by_status = {s: sum(1 for w in workers if w.status == s) for s in ("active", "idle", "offline")}
        sched = leadership.status(r, self.keys)
        live = r.zrangebyscore(self.api_keys.instances, int((now - INSTANCE_TTL) * 1000), "+inf")
        used, cap = info_mem.get("used_memory", 0), info_mem.get("maxmemory") or info_mem.get("total_system_memory")
        components = {
            "api_server": {"status": "healthy", "instance_count": max(1, len(live))},
            "scheduler": {"status": "healthy" if sched["leader_id"] else "unavailable", **sched},
            "workers": {"status": "healthy" if by_status["active"] + by_status["idle"] else "degraded",
                        "active_count": by_status["active"], "idle_count": by_status["idle"],
                        "offline_count": by_status["offline"]},
            "database": {"status": "healthy", "connection_count": info_clients.get("connected_clients", 0)},
            "redis": {"status": "healthy", "memory_usage": round(used / cap, 4) if cap else 0.0},
        }
        overall = "healthy" if all(c["status"] == "healthy" for c in components.values()) else "degraded"
        return {
            "status": overall, "version": __version__,
            # This process's, as /health says: the start times of other API
            # processes outlive a restart by up to INSTANCE_TTL.
            "uptime": int(now - self.started),
            "components": components,
            "task_stats": {"pending": pending, "running": running,
                           "completed_today": today["completed"], "failed_today": today["failed"]},
            "queue_depths": depths,
            "queue_latency": queue_latency,
            "max_queue_latency_seconds": max((q["latency_seconds"] for q in queue_latency),
                                             default=0.0),
        }

    def counts_since(self, names: list[str], first_hour: int, events) -> dict[str, int]:
        hours = range(first_hour, series.bucket_of(series.HOUR, time.time()) + 1)
        counts = series.read(self.redis, [self.keys.queue(n).series for n in names], series.HOUR,
                             hours, events)
        return {e: counts.total(e) for e in events}

    def metrics(self, period: str, wanted: list[str]) -> tuple[dict, dict]:
        step, points = PERIODS[period]
        now = int(time.time())
        last = now // step * step
        starts = [last - step * (points - 1 - i) for i in range(points)]
        kind = series.MINUTE if step == 60 else series.HOUR
        unit = series.BUCKET_SECONDS[kind]
        events = ("completed", "failed", series.RUNTIME)
        buckets = [range(s // unit, (s + step) // unit) for s in starts]
        names = queue_names(self.redis, self.keys)
        counts = series.read(self.redis, [self.keys.queue(n).series for n in names], kind,
                             (b for rng in buckets for b in rng), events)
        out = {m: [] for m in wanted}
        for s, rng in zip(starts, buckets):
            c, f, rt = (counts.total(e, rng) for e in events)
            ts = iso(s)
            values = {"task_completion_rate": c,
                      "error_rate": round(f / (c + f), 4) if c + f else 0.0,
                      "average_execution_time": round(rt / c / 1000, 3) if c else 0.0}
            for m in wanted:
                out[m].append({"timestamp": ts, "value": values[m]})
        return out, {"period": period, "start_time": iso(starts[0]), "end_time": iso(starts[-1]),
                        "interval_seconds": step}

    # -- the dashboard's views: taskq.monitoring.overview, as ``taskq info`` shows them --
    def overview(self) -> dict[str, Any]:
        return overview.snapshot(self.redis, self.keys.prefix)

    def last_hour(self, names: list[str]) -> list[dict]:
        """Completed and failed tasks per minute of the last hour, across ``names``."""
        return overview.last_hour(self.redis, self.keys, names)

    def queue_rows(self, names: list[str] | None = None) -> list[dict]:
        """A row per queue of ``names`` (None: every queue)."""
        return overview.queue_rows(self.redis, self.keys,
                                   queue_names(self.redis, self.keys) if names is None else names)

    def has_queue(self, name: str) -> bool:
        """Whether ``name`` is a registered queue."""
        return bool(self.redis.sismember(self.keys.queues, name))

    def worker_rows(self) -> list[dict]:
        return overview.workers(self.redis, self.keys)
