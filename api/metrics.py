"""Prometheus at /metrics: HTTP metrics from prometheus-flask-exporter, and
queue, task and worker gauges read from Redis at scrape time.

Under gunicorn (PROMETHEUS_MULTIPROC_DIR set, see api/gunicorn_conf.py) the
HTTP metrics of all workers are aggregated by prometheus_client's
MultiProcessCollector; a custom collector would be dropped there, so the
Redis-backed families are rendered from a separate registry and appended.
Either way any worker answers a scrape with the whole picture.

/metrics/json (the TaskDriver document's JSON metrics) reads request counts
that every API process adds to one Redis hash (ApiKeys.requests) within a
second of each response (RequestCounts), the active agent sessions, and
this machine's memory and CPU use, so any worker answers with the same
totals.

Both are open unless TASKQ_METRICS_TOKEN is set; then a scrape needs
``Authorization: Bearer <that token>`` (compared in constant time) or an API
key or JWT with ``system:read``. Either way a TaskDriver project's queue
(``td-<project id>``) is labelled ``project:<project name>``, never by its
id: in open login mode a project id lets anyone act as its agents.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
import time

import psutil
from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_flask_exporter import PrometheusMetrics

from taskq.keys import STATUSES
from taskq.maintenance import queue_names
from taskq.worker_registry import STATUSES as WORKER_STATUSES, WorkerRegistry
from taskq import leadership, lua
from taskq.monitoring import latency

from .auth import authenticate
from .envelope import ok
from .errors import ApiError
from .services.labels import queue_labels
from .app_state import state

def check_access() -> None:
    """With TASKQ_METRICS_TOKEN set: that token as a bearer, or a key or
    JWT with system:read; else 401 (403 for a credential without the scope)."""
    st = state()
    expected = st.metrics_token
    if not expected:
        return
    header = request.headers.get("Authorization") or ""
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), expected.encode()):
        return
    if not header:
        raise ApiError(401, "auth_required", "metrics need TASKQ_METRICS_TOKEN or scope system:read",
                       headers={"WWW-Authenticate": 'Bearer realm="taskq-metrics"'})
    principal = authenticate(header, st.jwt_secret, st.redis, st.api_keys, st.sessions,
                             st.credentials)  # 401 when not valid
    if principal is None or not principal.allows("system:read"):
        raise ApiError(403, "insufficient_scope", "this call needs scope 'system:read'",
                       {"required_scope": "system:read"})


class QueueCollector:
    """Reads the engine's counts and counters on every scrape (one pipeline)."""

    def __init__(self, redis, keys, workers: WorkerRegistry):
        self.redis, self.keys, self.workers = redis, keys, workers

    def collect(self):
        up = GaugeMetricFamily("taskq_redis_up", "1 when Redis answered this scrape")
        try:
            families = list(self._families())
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self):
        r, names = self.redis, queue_names(self.redis, self.keys)
        labels = queue_labels(r, self.keys, names)
        pipe = r.pipeline(transaction=False)
        for n in names:
            qk = self.keys.queue(n)
            for s in STATUSES:
                pipe.zcard(qk.status_index(s))
            pipe.hgetall(qk.stats)
        latency.add_reads(pipe, self.keys, names)
        replies = lua.execute(pipe) if names else []
        depth = GaugeMetricFamily("taskq_queue_depth", "Tasks ready to run", labels=["queue"])
        tasks = GaugeMetricFamily("taskq_tasks", "Tasks by status", labels=["queue", "status"])
        expiries = CounterMetricFamily("taskq_lease_expiries", "Leases that expired (reaped)",
                                       labels=["queue"])
        events = CounterMetricFamily("taskq_task_events", "Task transitions by event",
                                     labels=["queue", "event"])
        runtime = CounterMetricFamily("taskq_task_runtime_seconds", "Run time of completed tasks",
                                      labels=["queue"])
        per = len(STATUSES) + 1
        for i, name in enumerate(names):
            n = labels[name]
            row = replies[i * per:(i + 1) * per]
            counts, stats = dict(zip(STATUSES, row[:-1])), row[-1] or {}
            depth.add_metric([n], counts["queued"])
            for s, c in counts.items():
                tasks.add_metric([n, s], c)
            expiries.add_metric([n], float(stats.get("expired", 0)))
            runtime.add_metric([n], float(stats.get("runtime_ms", 0)) / 1000)
            for event, v in stats.items():
                if event != "runtime_ms":
                    events.add_metric([n, event], float(v))
        known = self.workers.all()
        waits = latency.shown(latency.take_reads(names, replies[len(names) * per:]), known)
        wait = GaugeMetricFamily(
            "taskq_queue_latency_seconds",
            "Seconds the oldest runnable task has waited since it became ready (0: none)",
            labels=["queue"])
        served = GaugeMetricFamily("taskq_queue_served",
                                   "1 when a live registered worker listens to the queue or an HTTP "
                                   "agent serves it (asked for work in the last minute, or holds a lease)",
                                   labels=["queue"])
        for name in names:
            wait.add_metric([labels[name]], waits[name]["latency_seconds"])
            served.add_metric([labels[name]], 1 if waits[name]["served"] else 0)
        yield from (depth, tasks, expiries, events, runtime, wait, served)
        workers = GaugeMetricFamily("taskq_workers", "Workers by status", labels=["status"])
        for s in WORKER_STATUSES:
            workers.add_metric([s], sum(1 for w in known if w.status == s))
        yield workers
        sched = leadership.status(r, self.keys)
        leader = GaugeMetricFamily("taskq_scheduler_leader", "1 when a scheduler leads")
        leader.add_metric([], 1 if sched["leader_id"] else 0)
        yield leader


EXCLUDED = ("/metrics", "/health", "/api/health")
"""Paths the HTTP metrics leave out, with the dialects' ``uncounted_paths``."""


def _dialect_paths(app: Flask) -> tuple[str, ...]:
    """The registered dialects' uncounted paths (init runs after they are registered)."""
    registry = app.extensions.get("taskq.dialects")
    return registry.paths("uncounted_paths") if registry is not None else ()


def init(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=True)
    excluded = EXCLUDED + _dialect_paths(app)
    exporter = PrometheusMetrics(  # the excluded paths in one pattern: one match per request, not five
        app, path=None, registry=registry, group_by="url_rule",
        excluded_paths="^(?:%s)$" % "|".join(map(re.escape, excluded)))
    app.extensions["taskq_metrics"] = exporter

    def metrics_view():
        check_access()
        return exposition()

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])


def exposition() -> Response:
    """The Prometheus text of /metrics (HTTP metrics of every worker, then
    the engine's families read from Redis now), for any route that serves
    it after its own access check (/tasker/metrics too). 404 when
    TASKQ_METRICS is off."""
    exporter = current_app.extensions.get("taskq_metrics")
    if exporter is None:
        raise ApiError(404, "metrics_disabled", "metrics are turned off (TASKQ_METRICS=0)")
    st = state()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        http = CollectorRegistry()
        MultiProcessCollector(http)
    else:
        http = exporter.registry
    engine = CollectorRegistry(auto_describe=False)
    engine.register(QueueCollector(st.redis, st.keys, st.workers))
    return Response(generate_latest(http) + generate_latest(engine), content_type=CONTENT_TYPE_LATEST)


UNCOUNTED = EXCLUDED + ("/metrics/json",)
"""Probes and scrapes: not counted as requests (and never wait on Redis for
it), with the dialects' ``uncounted_paths``."""


FLUSH_SECONDS = 1.0
"""How long a process holds its request counts before adding them to Redis."""


class RequestCounts:
    """This process's answered requests not yet added to ApiKeys.requests.

    Counting a request touches no Redis: a timer adds what was counted to
    the shared hash at most FLUSH_SECONDS later (one round trip a second
    under any load, instead of one per request), and /metrics/json adds
    its own process's counts before reading. So the totals another process
    serves lag by at most FLUSH_SECONDS. Counts that Redis refused are
    kept for the next flush."""

    def __init__(self, redis, key: str):
        self.redis, self.key = redis, key
        self._lock = threading.Lock()
        self._pending = [0, 0, 0, 0.0]   # total, success, error, time_ms
        self._timer: threading.Timer | None = None
        self._timer_pid = 0

    def add(self, success: bool, ms: float) -> None:
        with self._lock:
            p = self._pending
            p[0] += 1
            p[1 if success else 2] += 1
            p[3] += ms
            if self._timer is None or self._timer_pid != os.getpid():  # none yet, or forked
                self._timer, self._timer_pid = threading.Timer(FLUSH_SECONDS, self.flush), os.getpid()
                self._timer.start()

    def close(self) -> None:
        """Stop the timer, wait for a flush under way, add what is pending
        (at exit the timer, a non-daemon thread, does it; tests call this
        before deleting their keys)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join()
        self.flush()

    def flush(self) -> None:
        """Add the pending counts to Redis now (never raises)."""
        with self._lock:
            total, success, error, ms = self._pending
            self._pending = [0, 0, 0, 0.0]
            self._timer = None
        if not total:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(self.key, "total", total)
            if success:
                pipe.hincrby(self.key, "success", success)
            if error:
                pipe.hincrby(self.key, "error", error)
            pipe.hincrbyfloat(self.key, "time_ms", round(ms, 3))
            pipe.execute()
        except Exception:  # bookkeeping only: keep them for the next flush
            with self._lock:
                for i, v in enumerate((total, success, error, ms)):
                    self._pending[i] += v


def count_request(resp):
    """after_request: count this response (added to the shared counters by
    RequestCounts within FLUSH_SECONDS)."""
    if request.path in current_app.extensions["taskq_uncounted"]:
        return resp
    ms = (time.monotonic() - g.get("started", time.monotonic())) * 1000
    current_app.extensions["taskq_request_counts"].add(resp.status_code < 400, ms)
    return resp


def metrics_json():
    """Requests answered by every API process (status < 400 is a success),
    their average response time in ms, active agent sessions, and this
    machine's memory and CPU use in percent with this process's uptime (s)."""
    check_access()
    st = state()
    current_app.extensions["taskq_request_counts"].flush()
    raw = st.redis.hgetall(st.api_keys.requests)
    total = int(raw.get("total", 0))
    return jsonify(ok({
        "requests_total": total,
        "requests_success": int(raw.get("success", 0)),
        "requests_error": int(raw.get("error", 0)),
        "response_time_avg": round(float(raw.get("time_ms", 0)) / total, 2) if total else 0.0,
        "active_sessions": st.sessions.active(),
        "system": {"memory_usage": psutil.virtual_memory().percent,
                   "cpu_usage": psutil.cpu_percent(interval=None),
                   "uptime": int(time.time() - st.started)},
    }))


METRICS_JSON_DOC = {"get": {
    "tags": ["Metrics"], "summary": "Request, session and machine metrics as JSON",
    "description": "Requests answered by every API process, their average response time in ms, "
                   "active agent sessions, this machine's memory and CPU use in percent and this "
                   "process's uptime in seconds. Open unless TASKQ_METRICS_TOKEN is set.",
    "security": [{}, {"bearerAuth": []}, {"apiKeyAuth": []}],
    "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "success": {"type": "boolean"},
                "data": {"type": "object", "properties": {
                    "requests_total": {"type": "integer"}, "requests_success": {"type": "integer"},
                    "requests_error": {"type": "integer"}, "response_time_avg": {"type": "number"},
                    "active_sessions": {"type": "integer"},
                    "system": {"type": "object", "properties": {
                        "memory_usage": {"type": "number"}, "cpu_usage": {"type": "number"},
                        "uptime": {"type": "integer"}}}}}}}}}},
        "401": {"description": "TASKQ_METRICS_TOKEN is set and no valid credential was sent"},
        "403": {"description": "a credential without system:read"},
    }}}
"""/metrics/json in the OpenAPI document (a plain Flask route, so described by hand)."""


def document_json(spec, app: Flask) -> None:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "metrics_json")
    spec.path(rule=rule, operations=METRICS_JSON_DOC)


def init_json(app: Flask) -> None:
    psutil.cpu_percent(interval=None)  # the first reading only starts the measurement
    st = app.extensions["taskq"]
    app.extensions["taskq_request_counts"] = RequestCounts(st.redis, st.api_keys.requests)
    app.extensions["taskq_uncounted"] = frozenset(UNCOUNTED + _dialect_paths(app))
    app.after_request(count_request)
    app.add_url_rule("/metrics/json", "metrics_json", metrics_json, methods=["GET"])
