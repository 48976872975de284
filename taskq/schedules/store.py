"""Schedules: create, read, list, update and the transitions (pause,
resume, snooze, cancel, run_now). Each change is one script call
(schedule-5.lua; run_now goes through fire-6.lua like a due fire). The
listing indexes (one sorted set per filter combination, see
ScheduleKeys.listing) change in the same script calls, so a filtered page
costs O(page).

    from taskq.schedules import Schedules
    s = Schedules(redis)
    sched = s.create({"title": "nightly", "description": "", "schedule_kind": "cron",
                      "schedule_expr": "30 1 * * *", "timezone": "Europe/Chisinau",
                      "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
                      "created_by": "6a1f..."})
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..connection import as_taskq_client
from ..errors import InvalidState, TaskNotFound, TaskqError
from ..isotime import from_ms, iso
from ..keys import DEFAULT_PREFIX, ScheduleKeys
from ..lua import call_with_keys, execute, script
from ..options import InvalidField
from ..queue import Queue
from . import firing, model, run_state, timing

MAX_SNOOZE = 7 * 24 * 3600
MAX_PAGE = 1000
RECENT_RUNS = 20
"""Runs shown with a schedule (the runs list keeps firing.RUNS_KEPT)."""
UPDATE_ATTEMPTS = 5
NO_RUN = ("has no run after now (a cron expression is searched "
          f"{timing.CRON_HORIZON_YEARS} years ahead)")
LISTING_VERSION = "1"
"""Format of the listing indexes (ScheduleKeys.listing_version)."""
INT_FIELDS = ("priority", "max_retries", "dedupe_window_seconds", "created_at", "updated_at",
              "last_run_at", "runs_total", "anchor", "ver", "seq", "snoozed_at")


class ScheduleNotFound(TaskNotFound):
    code = "not_found"


class ScheduleError(TaskqError):
    pass


def _canonical_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text)) if len(text) <= 64 else None
    except ValueError:
        return None


def _to_text(value: Any) -> str:
    return "" if value is None else str(value)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso(from_ms(ms))


def decode(raw: dict) -> dict[str, Any]:
    """A stored hash as typed fields ('' -> None, numbers -> int)."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        k = k.decode() if isinstance(k, bytes) else k
        v = v.decode() if isinstance(v, bytes) else v
        if v == "":
            out[k] = None
        elif k in INT_FIELDS or k == "due":
            out[k] = int(v)
        else:
            out[k] = v
    return out


class Schedules:
    """The schedule store of one key prefix; ``redis`` is any redis-py client."""

    def __init__(self, redis=None, prefix: str | None = None):
        self.redis = as_taskq_client(redis)
        self.prefix = prefix or DEFAULT_PREFIX
        self.sk = ScheduleKeys(self.prefix)

    # -- helpers ------------------------------------------------------------
    def now_ms(self) -> int:
        sec, usec = self.redis.time()
        return int(sec) * 1000 + int(usec) // 1000

    def _keys(self, sid: str) -> list[str]:
        return [self.sk.schedule(sid), self.sk.due, self.sk.index, self.sk.listing_prefix,
                self.sk.wake]

    def _script(self, op: str, sid: str, *args) -> list:
        return call_with_keys(self.redis, "schedule", self._keys(sid), op, sid, *args)

    def _raw(self, sid: str) -> dict[str, Any]:
        if not isinstance(sid, str) or not 1 <= len(sid) <= 64:
            raise ScheduleNotFound(f"schedule {sid!r} not found")
        raw = self.redis.hgetall(self.sk.schedule(sid))
        if not raw:
            raise ScheduleNotFound(f"schedule {sid} not found")
        return decode(raw)

    @staticmethod
    def _first_due(fields: dict[str, Any], now_ms: int, anchor_ms: int) -> int | None:
        """The first due time after now, with the checks of a new or
        changed expression (timing.first_run: InvalidField when it cannot
        be evaluated at a small cost)."""
        nxt = timing.first_run(fields["schedule_kind"], fields.get("schedule_expr"),
                               fields["timezone"], timing.from_ms(now_ms),
                               anchor=timing.from_ms(anchor_ms))
        return None if nxt is None else timing.to_ms(nxt)

    def _check_handler(self, payload: str | None) -> None:
        """A handler payload must name a handler this process has registered
        or a worker has published (taskq.workflows.find_handler)."""
        name = model.handler_of(payload)
        if name is None:
            return
        from .. import workflows
        try:
            workflows.find_handler(self.redis, name, prefix=self.prefix)
        except workflows.HandlerNotFound:
            raise InvalidField("payload.handler", f"no handler {name!r} is registered or published") from None

    def _refused(self, sid: str, reply: list) -> None:
        if reply[0] == -1:
            raise ScheduleNotFound(f"schedule {sid} not found")
        if reply[0] == -3:
            raise InvalidState(f"schedule {sid} is {reply[1]}", status=reply[1])

    # -- create / read --------------------------------------------------------
    def create(self, data: dict[str, Any], schedule_id: str | None = None) -> dict[str, Any]:
        """Validate and store a schedule; returns its view. Raises
        InvalidField (a TaskqValueError naming the field) on bad input."""
        fields = model.clean(data)
        model.check_whole(fields)
        self._check_handler(fields.get("payload"))
        sid = schedule_id or str(uuid.uuid4())
        now = self.now_ms()
        due = None
        if fields["schedule_kind"] != "event":
            due = self._first_due(fields, now, now)
            if due is None:
                raise InvalidField("schedule_expr", NO_RUN)
        pairs: list[str] = []
        for k, v in fields.items():
            pairs += [k, _to_text(v)]
        pairs += ["anchor", str(now)]
        reply = self._script("create", sid, _to_text(due), *pairs)
        if reply[0] == -4:
            raise InvalidState(f"schedule {sid} already exists", status="exists")
        if fields["schedule_kind"] == "event":
            self.redis.sadd(self.sk.event(model.event_name(fields)), sid)
        return self.get(sid)

    def get(self, sid: str, runs: int = RECENT_RUNS) -> dict[str, Any]:
        """The schedule's view with next_run_at and its recent runs."""
        return self._view(self._raw(sid), runs)

    def _view(self, f: dict[str, Any], runs: int) -> dict[str, Any]:
        view = {k: f.get(k) for k in model.FIELDS}
        view["payload"] = json.loads(f["payload"]) if f.get("payload") else None
        view["description"] = f.get("description") or ""
        view.update(id=f["id"], status=f["status"], next_run_at=_iso(f.get("due")),
                    last_run_at=_iso(f.get("last_run_at")), created_at=_iso(f.get("created_at")),
                    updated_at=_iso(f.get("updated_at")), runs_total=f.get("runs_total") or 0,
                    snooze_reason=f.get("snooze_reason"))
        if f.get("schedule_kind") == "event":
            view["event"] = model.event_name(f)
        if runs:
            view["recent_runs"] = self.runs(f["id"], runs, view["payload"])
        return view

    def runs(self, sid: str, limit: int = RECENT_RUNS,
             payload: dict | None = None) -> list[dict[str, Any]]:
        """Recent runs, newest first: run key, when, outcome (created,
        deduplicated, skipped) and, for created runs, the engine tasks' status
        (``payload``, the schedule's, names a pipeline's steps: their
        tombstones tell a run whose tasks retention removed)."""
        lines = self.redis.lrange(self.sk.runs(sid), 0, limit - 1)
        if payload is None and lines:
            raw = self.redis.hget(self.sk.schedule(sid), "payload")
            payload = json.loads(raw) if raw else None
        out = []
        for line in lines:
            line = line.decode() if isinstance(line, bytes) else line
            run_key, at, outcome, queue = line.split("|", 3)
            run: dict[str, Any] = {"run": run_key, "fired_at": _iso(int(at)), "outcome": outcome,
                                   "status": outcome if outcome != "created" else "pending"}
            if outcome == "created" and queue:
                run.update(run_state.run_status(Queue(queue, redis=self.redis, prefix=self.prefix),
                                             sid, run_key, run_state.step_names(payload)))
            out.append(run)
        return out

    def list(self, status: str | None = None, created_by: str | None = None,
             schedule_kind: str | None = None, limit: int = 50, offset: int = 0
             ) -> tuple[list[dict[str, Any]], int]:
        """(page of schedule views, total matching), newest first."""
        if status is not None and status not in model.STATUSES:
            raise InvalidField("status", f"must be one of {', '.join(model.STATUSES)}")
        if schedule_kind is not None and schedule_kind not in timing.KINDS:
            raise InvalidField("schedule_kind", f"must be one of {', '.join(timing.KINDS)}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidField("limit", f"must be 1..{MAX_PAGE}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidField("offset", "must be >= 0")
        if created_by is not None and not isinstance(created_by, str):
            raise InvalidField("created_by", "must be a string")
        if created_by is not None and created_by != _canonical_uuid(created_by):
            return [], 0  # stored values are canonical UUIDs: nothing else matches
        self._ensure_listing()
        key = self.sk.listing(status, schedule_kind, created_by)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(key)
        pipe.zrevrange(key, offset, offset + limit - 1)
        total, page = pipe.execute()
        pipe = self.redis.pipeline(transaction=False)
        for sid in page:
            pipe.hgetall(self.sk.schedule(sid))
        views = [self._view(decode(raw), 0) for raw in pipe.execute() if raw]
        return views, total

    def _ensure_listing(self) -> None:
        """Add schedules stored before the listing indexes existed (once per
        store: a version key marks them complete)."""
        if self.redis.get(self.sk.listing_version) == LISTING_VERSION:
            return
        ids = self.redis.zrange(self.sk.index, 0, -1)
        s = script("schedule")
        for i in range(0, len(ids), MAX_PAGE):
            pipe = self.redis.pipeline(transaction=False)
            for sid in ids[i:i + MAX_PAGE]:
                pipe.evalsha(s.sha, s.numkeys, *self._keys(sid), "relist", sid)
            execute(pipe)
        self.redis.set(self.sk.listing_version, LISTING_VERSION)

    # -- changes ----------------------------------------------------------------
    def update(self, sid: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Partial update; recomputes the next run when timing fields change."""
        clean = model.clean(changes, partial=True)
        self._check_handler(clean.get("payload"))
        for _ in range(UPDATE_ATTEMPTS):
            old = self._raw(sid)
            merged = {**{k: old.get(k) for k in model.FIELDS}, **clean}
            model.check_whole(merged)
            due = "-"
            if any(k in clean for k in model.TIMING_FIELDS):
                due = "untimed"
                if merged["schedule_kind"] != "event":
                    nxt = self._first_due(merged, self.now_ms(), old.get("anchor") or self.now_ms())
                    if nxt is None:
                        raise InvalidField("schedule_expr", NO_RUN)
                    due = str(nxt)
            pairs: list[str] = []
            for k, v in clean.items():
                pairs += [k, _to_text(v)]
            reply = self._script("update", sid, str(old.get("ver") or ""), due, *pairs)
            self._refused(sid, reply)
            if reply[0] == 0 and reply[1] == "changed":
                continue
            self._reindex_event(sid, old, merged)
            return self.get(sid)
        raise InvalidState(f"schedule {sid} kept changing during the update; try again",
                           status="changed")

    def _reindex_event(self, sid: str, old: dict, new: dict) -> None:
        if old.get("schedule_kind") == "event":
            self.redis.srem(self.sk.event(model.event_name(old)), sid)
        if new.get("schedule_kind") == "event":
            self.redis.sadd(self.sk.event(model.event_name(new)), sid)

    def pause(self, sid: str) -> dict[str, Any]:
        self._refused(sid, self._script("pause", sid))
        return self.get(sid)

    def resume(self, sid: str) -> dict[str, Any]:
        """Back to active; the next run is the first one after now (runs
        missed while paused are not made up), a once time not yet fired
        stays due (the misfire policy decides whether it still runs)."""
        f = self._raw(sid)
        due = "untimed" if f["schedule_kind"] == "event" else ""
        if f["schedule_kind"] == "once":
            if not f.get("runs_total"):
                due = str(timing.to_ms(timing.parse_once(f["schedule_expr"], timing.zone(f["timezone"]))))
        elif f["schedule_kind"] != "event":
            nxt = self._first_due(f, self.now_ms(), f.get("anchor") or self.now_ms())
            due = "" if nxt is None else str(nxt)
        self._refused(sid, self._script("resume", sid, due))
        return self.get(sid)

    def snooze(self, sid: str, delay_seconds: int, reason: str | None = None) -> dict[str, Any]:
        """Move the next run ``delay_seconds`` later (1..604800)."""
        if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int) \
                or not 1 <= delay_seconds <= MAX_SNOOZE:
            raise InvalidField("delay_seconds", f"must be an integer from 1 to {MAX_SNOOZE}")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
            raise InvalidField("reason", "must be a string of at most 1000 characters")
        self._refused(sid, self._script("snooze", sid, delay_seconds * 1000, reason or ""))
        return self.get(sid)

    def cancel(self, sid: str) -> dict[str, Any]:
        """Final: resume, snooze and run_now are refused afterwards."""
        f = self._raw(sid)
        self._refused(sid, self._script("cancel", sid))
        if f.get("schedule_kind") == "event":
            self.redis.srem(self.sk.event(model.event_name(f)), sid)
        return self.get(sid)

    def run_now(self, sid: str) -> dict[str, Any]:
        """One immediate run; the schedule itself is unchanged. Returns
        {run, outcome, task_ids}."""
        self._raw(sid)
        replies = firing.fire_batch(self.redis, self.sk, "now", [(sid, "", "", False)])
        reply = replies[0]
        self._refused(sid, reply)
        delivered = {}
        if reply[3] == "created":
            delivered = firing.deliver_entries(self.redis, self.prefix, firing.created_runs(replies))
        return {"run": reply[1], "outcome": reply[3],
                "task_ids": delivered.get((sid, reply[1]), [])}

    def delete_all(self) -> None:
        """Remove every schedule key of this prefix (tests, tear-down)."""
        for key in self.redis.scan_iter(match=self.sk.base.replace("{", "\\{").replace("}", "\\}") + "*"):
            self.redis.unlink(key)
