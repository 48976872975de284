"""Webhooks: HTTP endpoints told about task and worker events.

Endpoints are stored in Redis (url, events filter, secret). Delivery is a
scheduler pass (registered in taskq.maintenance.UPKEEP when this module is
imported): it reads every queue's event stream and the global one through a
consumer group, POSTs each matching event to each endpoint, signed with
HMAC-SHA256 of the body under the endpoint's secret
(``X-Taskq-Signature: sha256=<hex>``), and acknowledges a stream entry only
once every endpoint took it or was given up on (at least once). Retry state
lives in Redis, so a new scheduler leader carries on where the old one
stopped: per entry and endpoint, attempts and the next try (exponential
backoff); per endpoint, a pause after a connection error, timeout or 5xx,
so one dead receiver costs at most one timeout per pause.

Where a POST may go is taskq.webhooks.netguard's decision, at registration and again
at every delivery (taskq.webhooks.http connects only to an address it
checked); a failed delivery is recorded as a short error class. An endpoint
covers the task events of the queues it names (``"*"``: every queue;
default: the DTS queue, ``TASKQ_DTS_QUEUE``) and every worker event.

Payloads follow the Distributed Task Scheduler document:
``{"event": "task.completed", "timestamp": ..., "task": {...}}`` (or
``"worker": {...}``); the body of an entry is fixed at its first attempt, so
every redelivery carries the same bytes and signature.

Custom events: a workflow step's declared ``custom_events`` enter its
queue's stream when it completes, one entry per name. They are task events
of that queue like the others: an endpoint receives one when it lists the
name in ``events`` (or lists no events) and covers the queue (``workflows``
for steps of the shared workflow queue), with the body
``{"event": <name>, "timestamp", "workflow": {id, namespace, name,
version}, "step": {name, task_id, results, attempts, completed_at}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Callable

from .. import maintenance
from . import netguard
from ..connection import as_taskq_client
from ..isotime import iso_ms, to_ms
from ..errors import TaskqValueError
from ..keys import Keys, WebhookKeys, WorkflowKeys, valid_queue_name
from ..queue import get_task
from .http import http_post
from ..worker_registry import WorkerRegistry
from ..workflows.handlers import is_custom_event

EVENTS = ("task.created", "task.started", "task.completed", "task.failed", "task.cancelled",
          "task.retrying", "worker.registered", "worker.offline")
TASK_EVENTS = {"created": "task.created", "started": "task.started",
               "completed": "task.completed", "failed": "task.failed",
               "cancelled": "task.cancelled", "retrying": "task.retrying"}
"""Engine event (queue stream) -> webhook event; other engine events are skipped
(but ``custom_event`` entries, whose ``name`` is the webhook event)."""
CUSTOM_EVENT = "custom_event"
MAX_EVENTS = 100
"""Event names one endpoint may list (the engine's and custom ones)."""
EVENT_STATUS = {"task.created": "pending", "task.started": "running",
                "task.completed": "completed", "task.failed": "failed",
                "task.cancelled": "cancelled", "task.retrying": "pending"}
PUBLIC_STATUS = {"queued": "pending", "delayed": "pending", "blocked": "pending",
                 "running": "running", "completed": "completed", "failed": "failed",
                 "cancelled": "cancelled"}
"""Engine status -> the status word of the DTS dialect (and its webhooks)."""

GROUP, CONSUMER = "taskq-webhooks", "deliverer"
"""One consumer name: a new leader reads the old one's pending entries."""
MAX_ATTEMPTS = 8
"""Attempts per event and endpoint before giving up (then the entry is acked)."""
BACKOFF_BASE, BACKOFF_CAP = 5.0, 600.0
"""Seconds before the n-th retry: base * 2**(n-1), at most the cap."""
TIMEOUT = 3.0
"""Seconds one POST may take."""
READ_COUNT = 100
"""Stream entries read per stream per tick (new ones, and as many pending)."""
PER_ENDPOINT_PER_TICK = 50
"""POSTs to one endpoint per tick, at most."""
ALL_QUEUES = "*"
"""In an endpoint's ``queues``: task events of every queue."""
MAX_QUEUES = 100
_ERROR_CLASS = re.compile(r"^[a-z0-9_]{1,32}$")

log = logging.getLogger("taskq.webhooks.store")


def valid_event(name) -> bool:
    """One of EVENTS, or a name a workflow step may declare as a custom event."""
    return name in EVENTS or is_custom_event(name)


def default_queues() -> list[str]:
    """Queues an endpoint covers when it names none: the DTS dialect's."""
    return [os.environ.get("TASKQ_DTS_QUEUE") or "dts"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def sign(secret: str, body: bytes) -> str:
    """The X-Taskq-Signature value: receivers recompute it over the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookStore:
    """Registered endpoints. The secret is returned only by :meth:`create`."""

    def __init__(self, redis, keys: Keys, allow_nets=None):
        """``allow_nets``: ranges admitted despite netguard's refusal; default
        TASKQ_WEBHOOK_ALLOW_NETS (a bad value raises ValueError here, at start). ``redis``: any redis-py client (see taskq.connection)."""
        self.redis = as_taskq_client(redis)
        self.wk = WebhookKeys(keys.prefix)
        self.allow = netguard.allow_nets_from_env() if allow_nets is None else tuple(allow_nets)

    def create(self, url: str, events=None, secret: str | None = None,
               description: str | None = None, queues=None) -> dict:
        """Raises netguard.InvalidUrl / UrlNotAllowed for a URL that may not
        be called, TaskqValueError for unknown events or bad queue names."""
        events = list(dict.fromkeys(events or []))
        bad = [e for e in events if not valid_event(e)]
        if bad or len(events) > MAX_EVENTS:
            raise TaskqValueError(f"events must be at most {MAX_EVENTS} of {', '.join(EVENTS)} "
                                  f"or custom event names (refused: {bad[:3]})")
        queues = list(dict.fromkeys(default_queues() if queues is None else queues))
        if not 1 <= len(queues) <= MAX_QUEUES or not all(
                q == ALL_QUEUES or valid_queue_name(q) for q in queues):
            raise TaskqValueError(f"queues must be 1 to {MAX_QUEUES} queue names or {ALL_QUEUES!r}")
        netguard.check_url(url, self.allow)
        now = _now_ms()
        rec = {"id": "wh_" + secrets.token_hex(8), "url": url, "events": events,
               "queues": queues, "secret": secret or secrets.token_urlsafe(24),
               "description": description, "created_at": now, "active": True}
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.wk.since, now, nx=True)
        pipe.hset(self.wk.endpoints, rec["id"], json.dumps(rec))
        pipe.execute()
        return rec

    def all(self, with_secret: bool = False) -> list[dict]:
        recs = [json.loads(v) for v in self.redis.hvals(self.wk.endpoints)]
        recs.sort(key=lambda r: r["created_at"])
        return [self._public(r, with_secret) for r in recs]

    def get(self, endpoint_id: str) -> dict | None:
        raw = self.redis.hget(self.wk.endpoints, endpoint_id)
        return self._public(json.loads(raw), False) if raw else None

    def delete(self, endpoint_id: str) -> bool:
        return bool(self.redis.hdel(self.wk.endpoints, endpoint_id))

    def _public(self, rec: dict, with_secret: bool) -> dict:
        if not with_secret:
            rec = {k: v for k, v in rec.items() if k != "secret"}
        raw = self.redis.hmget(self.wk.stats, *(f"{rec['id']}:{s}" for s in _STATS))
        stats = {s: (int(v) if v and v.isdigit() else v) for s, v in zip(_STATS, raw)}
        if stats["last_error"] and not _ERROR_CLASS.match(str(stats["last_error"])):
            stats["last_error"] = "error"   # text stored by an older version: never shown
        rec["stats"] = stats
        rec.setdefault("queues", None)      # None: stored by an older version (the default queues)
        return rec


_STATS = ("delivered", "failed", "last_status", "last_error", "last_attempt_at")


def task_payload(event: str, task_id: str, entry_ms: int, redis, keys: Keys) -> dict:
    task = get_task(task_id, redis=redis, prefix=keys.prefix)
    body: dict[str, Any] = {"id": task_id, "status": EVENT_STATUS[event]}
    if task is not None:
        meta = task.meta if isinstance(task.meta, dict) else {}
        body.update({
            "name": meta.get("name") or task.func or task_id, "queue": task.queue,
            "priority": task.priority, "tags": task.tags, "retry_count": task.retries,
            "result": task.result, "error": task.error, "worker_id": task.worker,
            "created_at": iso_ms(_ms(task.created_at)), "started_at": iso_ms(_ms(task.started_at)),
            "completed_at": iso_ms(_ms(task.finished_at)),
        })
    return {"event": event, "timestamp": iso_ms(entry_ms), "task": body}


def custom_payload(event: str, task_id: str, entry_ms: int, redis, keys: Keys) -> dict:
    """A workflow step's custom event: which workflow, which step, its results."""
    task = get_task(task_id, redis=redis, prefix=keys.prefix)
    meta = task.meta if task is not None and isinstance(task.meta, dict) else {}
    workflow = None
    wid = meta.get("workflow")
    if isinstance(wid, str):
        ns, name, version = redis.hmget(WorkflowKeys(keys.prefix).workflow(wid),
                                        "namespace", "name", "version")
        workflow = {"id": wid, "namespace": ns, "name": name, "version": version}
    step = {"name": meta.get("step"), "task_id": task_id,
            "results": task.result if task is not None else None,
            "attempts": task.attempts if task is not None else None,
            "completed_at": iso_ms(_ms(task.finished_at)) if task is not None else None}
    return {"event": event, "timestamp": iso_ms(entry_ms), "workflow": workflow, "step": step}


def worker_payload(event: str, worker_id: str, entry_ms: int, redis, keys: Keys) -> dict:
    w = WorkerRegistry(redis, keys).get(worker_id)
    body: dict[str, Any] = {"id": worker_id,
                            "status": "offline" if event == "worker.offline" else "idle"}
    if w is not None:
        body.update({"hostname": w.hostname, "queues": w.queues, "version": w.version,
                     "tags": w.tags, "registered_at": iso_ms(int((w.registered_at or 0) * 1000)),
                     "last_heartbeat": iso_ms(int((w.last_heartbeat or 0) * 1000))})
    return {"event": event, "timestamp": iso_ms(entry_ms), "worker": body}


def _ms(dt: datetime | None) -> int | None:
    return to_ms(dt) if dt else None


def _entries(reply) -> list[tuple[str, dict | None]]:
    """XREADGROUP's reply (RESP2 list or RESP3 dict) -> [(entry id, fields)]."""
    if not reply:
        return []
    groups = reply.values() if isinstance(reply, dict) else [r[1] for r in reply]
    out = []
    for entries in groups:
        for item in entries:
            if isinstance(entries, dict):  # never seen, but RESP3 could nest this way
                item = (item, entries[item])
            out.append((item[0], item[1] or None))
    return out


class Deliverer:
    """One delivery pass per :meth:`run_once`; the scheduler calls it every tick."""

    def __init__(self, redis, keys: Keys, max_attempts: int = MAX_ATTEMPTS,
                 backoff_base: float = BACKOFF_BASE, timeout: float = TIMEOUT,
                 post: Callable[[str, bytes, dict, float], tuple[int, str]] | None = None,
                 allow_nets=None, fallback_queues: list[str] | None = None):
        """``post(url, body, headers, timeout) -> (status, error class)``;
        default: webhook_http.http_post within ``allow_nets`` (default
        TASKQ_WEBHOOK_ALLOW_NETS). ``fallback_queues``: what an endpoint
        stored without ``queues`` covers (default: :func:`default_queues`)."""
        self.redis, self.keys = as_taskq_client(redis), keys
        self.wk = WebhookKeys(keys.prefix)
        self.allow = netguard.allow_nets_from_env() if allow_nets is None else tuple(allow_nets)
        self.default_queues = list(fallback_queues or default_queues())
        self.max_attempts, self.base, self.timeout = max_attempts, backoff_base, timeout
        self.post = post or (lambda url, body, headers, timeout:
                             http_post(url, body, headers, timeout, self.allow))
        self._grouped: set[str] = set()
        self._stream_queue: dict[str, str] = {}

    def _delay_ms(self, n: int) -> int:
        return int(min(BACKOFF_CAP, self.base * 2 ** max(0, n - 1)) * 1000)

    def _streams(self) -> list[str]:
        names = sorted(self.redis.smembers(self.keys.queues))
        for n in names:
            self._stream_queue.setdefault(self.keys.queue(n).events, n)
        return [self.keys.events] + [self.keys.queue(n).events for n in names]

    def _covers(self, endpoint: dict, stream: str) -> bool:
        """Task events: only of the queues the endpoint names; worker events: all."""
        queue = self._stream_queue.get(stream)
        if queue is None:
            return stream == self.keys.events
        queues = endpoint.get("queues") or self.default_queues
        return ALL_QUEUES in queues or queue in queues

    def _ensure_groups(self, streams: list[str]) -> None:
        new = [s for s in streams if s not in self._grouped]
        if not new:
            return
        since = self.redis.get(self.wk.since) or _now_ms()
        pipe = self.redis.pipeline(transaction=False)
        for s in new:
            pipe.xgroup_create(s, GROUP, id=f"{since}-0", mkstream=True)
        for s, reply in zip(new, pipe.execute(raise_on_error=False)):
            if reply is True or "BUSYGROUP" in str(reply):
                self._grouped.add(s)

    def run_once(self) -> dict[str, int]:
        counts = {"delivered": 0, "failed": 0, "gave_up": 0, "acked": 0}
        endpoints = {e["id"]: e for e in
                     (json.loads(v) for v in self.redis.hvals(self.wk.endpoints)) if e.get("active", True)}
        if not endpoints:
            return counts
        streams = self._streams()
        self._ensure_groups(streams)
        pipe = self.redis.pipeline(transaction=False)
        for s in streams:
            pipe.xreadgroup(GROUP, CONSUMER, {s: "0"}, count=READ_COUNT)
            pipe.xreadgroup(GROUP, CONSUMER, {s: ">"}, count=READ_COUNT)
        replies = pipe.execute(raise_on_error=False)
        items: list[tuple[str, str, dict | None]] = []
        for i, s in enumerate(streams):
            for reply in replies[2 * i: 2 * i + 2]:
                if isinstance(reply, Exception):
                    self._grouped.discard(s)  # NOGROUP: the stream was deleted; recreate next tick
                    continue
                items += [(s, eid, f) for eid, f in _entries(reply)]
        if items:
            self._process(items, endpoints, counts)
        return counts

    def _process(self, items, endpoints: dict, counts: dict) -> None:
        now = _now_ms()
        fields = [f"{s}|{eid}" for s, eid, _ in items]
        states = self.redis.hmget(self.wk.pending, fields)
        paused = dict(zip(endpoints, self.redis.hmget(
            self.wk.stats, [f"{e}:paused_until" for e in endpoints])))
        work: dict[str, list] = {}   # endpoint id -> [(item index, body)]
        plans: list[dict | None] = []
        for idx, ((stream, eid, f), raw) in enumerate(zip(items, states)):
            state = json.loads(raw) if raw else {}
            event = state.get("event") or self._event_name(stream, f)
            entry_ms = int(eid.split("-")[0])
            targets = [e for e in endpoints.values() if event and e["created_at"] <= entry_ms
                       and (not e.get("events") or event in e["events"]) and self._covers(e, stream)]
            if not targets:
                plans.append(None)
                continue
            if "body" not in state:
                state["body"] = json.dumps(self._payload(event, f["id"], entry_ms), separators=(",", ":"))
                state["event"] = event
            tries = state.setdefault("tries", {})
            for e in targets:
                t = tries.setdefault(e["id"], [0, 0])
                if t[0] >= 0 and t[1] <= now and int(paused.get(e["id"]) or 0) <= now:
                    work.setdefault(e["id"], []).append(idx)
            state["targets"] = [e["id"] for e in targets]
            plans.append(state)
        results = self._post_all(work, endpoints, items, plans)
        self._record(items, fields, plans, endpoints, results, counts, now)

    def _event_name(self, stream: str, f: dict | None) -> str | None:
        if not f or "id" not in f:
            return None
        if stream == self.keys.events:
            return f.get("event") if f.get("event") in ("worker.registered", "worker.offline") else None
        if f.get("event") == CUSTOM_EVENT:
            return f.get("name") if is_custom_event(f.get("name")) else None
        return TASK_EVENTS.get(f.get("event", ""))

    def _payload(self, event: str, obj_id: str, entry_ms: int) -> dict:
        if event.startswith("worker."):
            return worker_payload(event, obj_id, entry_ms, self.redis, self.keys)
        if event in EVENT_STATUS:
            return task_payload(event, obj_id, entry_ms, self.redis, self.keys)
        return custom_payload(event, obj_id, entry_ms, self.redis, self.keys)

    def _post_all(self, work: dict, endpoints: dict, items, plans) -> dict:
        """POST in parallel across endpoints, in stream order within one; an
        endpoint that stops answering is not tried again this tick."""
        def run(ep_id: str) -> list[tuple[int, int, str]]:
            ep, out = endpoints[ep_id], []
            for idx in work[ep_id][:PER_ENDPOINT_PER_TICK]:
                body = plans[idx]["body"].encode()
                stream, eid, _ = items[idx]
                headers = {"Content-Type": "application/json", "User-Agent": "taskq-webhooks",
                           "X-Taskq-Event": plans[idx]["event"],
                           "X-Taskq-Delivery": f"{eid}.{ep_id}",
                           "X-Taskq-Signature": sign(ep["secret"], body)}
                status, err = self.post(ep["url"], body, headers, self.timeout)
                out.append((idx, status, err))
                if status == 0 or status >= 500 or status == 429:
                    break
            return out

        if not work:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(work))) as pool:
            return dict(zip(work, pool.map(run, list(work))))

    def _record(self, items, fields, plans, endpoints, results, counts, now) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for ep_id, outcomes in results.items():
            for idx, status, err in outcomes:
                t = plans[idx]["tries"][ep_id]
                pipe.hset(self.wk.stats, mapping={f"{ep_id}:last_status": status,
                                                  f"{ep_id}:last_attempt_at": now})
                if 200 <= status < 300:
                    plans[idx]["tries"][ep_id] = [-1, 0]
                    pipe.hincrby(self.wk.stats, f"{ep_id}:delivered", 1)
                    pipe.hdel(self.wk.stats, f"{ep_id}:paused_until", f"{ep_id}:fails")
                    counts["delivered"] += 1
                    continue
                counts["failed"] += 1
                t[0] += 1
                error = err if err and _ERROR_CLASS.match(err) else f"http_{status}" if status else "error"
                pipe.hset(self.wk.stats, f"{ep_id}:last_error", error)
                if t[0] >= self.max_attempts:
                    plans[idx]["tries"][ep_id] = [-2, 0]
                    pipe.hincrby(self.wk.stats, f"{ep_id}:failed", 1)
                    counts["gave_up"] += 1
                else:
                    t[1] = now + self._delay_ms(t[0])
                if status == 0 or status >= 500 or status == 429:
                    pipe.hset(self.wk.stats, f"{ep_id}:paused_until", now + self._delay_ms(t[0] if t[0] > 0 else 1))
        for (stream, eid, _), field, plan in zip(items, fields, plans):
            open_ = plan and any(plan["tries"].get(e, [0])[0] >= 0
                                 for e in plan["targets"] if e in endpoints)
            if open_:
                pipe.hset(self.wk.pending, field, json.dumps(plan))
            else:
                pipe.xack(stream, GROUP, eid)
                pipe.hdel(self.wk.pending, field)
                counts["acked"] += 1
        pipe.execute()


_deliverers: dict[tuple[int, str], Deliverer] = {}


_bad_setting_logged: set[str] = set()


def upkeep(client, keys: Keys) -> None:
    """The scheduler pass: one delivery pass (a Deliverer kept per client).
    A bad TASKQ_WEBHOOK_ALLOW_NETS stops delivery (logged once), not the
    scheduler's other upkeep."""
    client = as_taskq_client(client)
    d = _deliverers.get((id(client), keys.prefix))
    if d is None or d.redis is not client:
        try:
            d = Deliverer(client, keys)
        except ValueError as exc:
            if str(exc) not in _bad_setting_logged:
                _bad_setting_logged.add(str(exc))
                log.error("webhook delivery is off: %s", exc)
            return
        _deliverers[(id(client), keys.prefix)] = d
    d.run_once()


if upkeep not in maintenance.UPKEEP:
    maintenance.UPKEEP.append(upkeep)
