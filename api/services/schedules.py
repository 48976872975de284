"""Schedules for HTTP views: the engine's schedule store (taskq.schedules)
and event publishing, with the refusals an HTTP caller needs beyond the
engine's own validation.

Over HTTP a schedule's payload names code the workers run. The engine lets
a Python producer name any importable ``module:function``; a REST caller
holding ``schedules:write`` must not get that power by default, so here a
``callable`` payload and a pipeline step spelled ``module:function`` are
refused unless the operator allow-lists them (``functions``); steps
registered by name (``@step("resize")``, the built-in echo and sleep) are
always allowed. A schedule's runs may not go to a TaskDriver project's
queue (its agents would lease them, and its id is a capability).

The allow-list is this service's setting, TASKQ_SCHEDULE_FUNCTIONS
(:data:`FUNCTIONS_SETTING`, read with the app's settings by api.app and
parsed by :func:`allowed_functions`), not a dialect's: AppState builds the
one ScheduleService with it, so whatever creates or changes a schedule
through the app (today the scheduled-tasks dialect; the dashboard only
pauses, resumes, snoozes and runs schedules, through ``store``) obeys the
same limit. Python producers and the ``taskq`` command use the engine
directly and are not limited: they already run code of their own.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from taskq.options import InvalidField, json_text
from taskq.projects.store import project_of_queue
from taskq.jsontext import deeper_than
from taskq.schedules import ScheduleNotFound, Schedules
from taskq.schedules import steps
from taskq.schedules.firing import publish_runs

MAX_EVENT_PAYLOAD_CHARS = 64 * 1024
MAX_EVENT_PAYLOAD_DEPTH = 32
"""An event payload is stored inside each run's task meta: kept well under
the engine's depth limit for stored JSON (taskq.options.MAX_JSON_DEPTH)."""


FUNCTIONS_SETTING = "TASKQ_SCHEDULE_FUNCTIONS"
"""Comma-separated ``module:function`` names (``module:*`` for a whole
module, ``*`` for any) that a schedule created over HTTP may run as its
``callable`` or as a pipeline step; empty (the default): only steps
registered by name."""


def allowed_functions(value: Any) -> tuple[str, ...]:
    """The allow-list a :data:`FUNCTIONS_SETTING` value names (None or
    empty: none)."""
    return tuple(n for n in (n.strip() for n in str(value or "").split(",")) if n)


def function_allowed(name: str, allowed: Iterable[str]) -> bool:
    """Whether ``module:function`` is on the allow-list: an exact name,
    ``module:*`` (any function of that module) or ``*`` (anything)."""
    module = name.partition(":")[0]
    return any(a == "*" or a == name or (a.endswith(":*") and a[:-2] == module) for a in allowed)


class ScheduleService:
    def __init__(self, redis, prefix: str, functions: Iterable[str] = ()):
        self.store = Schedules(redis, prefix=prefix)
        self.redis, self.prefix = redis, prefix
        self.functions = tuple(functions)

    @staticmethod
    def known_id(sid: str) -> str:
        """The canonical schedule id, or ScheduleNotFound for anything that
        is not a UUID (such an id never reaches Redis)."""
        if isinstance(sid, str) and len(sid) <= 64:
            try:
                return str(uuid.UUID(sid))
            except ValueError:
                pass
        raise ScheduleNotFound(f"schedule {str(sid)[:64]!r} not found")

    def check_fields(self, body: dict[str, Any]) -> None:
        """The HTTP-only refusals (payload functions, project queues), as
        InvalidField naming the field; everything else is the engine's."""
        if "payload" in body:
            payload = body["payload"]
            if not isinstance(payload, dict):
                raise InvalidField("payload", "must be a JSON object with 'pipeline' or 'callable'")
            self._check_functions(payload)
        queue = body.get("queue")
        if isinstance(queue, str) and project_of_queue(queue) is not None:
            raise InvalidField("queue", "a TaskDriver project's queue cannot receive schedule runs")

    def _check_functions(self, payload: dict[str, Any]) -> None:
        hint = f"importable functions are refused over HTTP unless listed in {FUNCTIONS_SETTING}"
        name = payload.get("callable")
        if isinstance(name, str) and not function_allowed(name, self.functions):
            raise InvalidField("payload.callable", f"{name!r}: {hint}")
        pipeline = payload.get("pipeline")
        for i, entry in enumerate(pipeline if isinstance(pipeline, list) else ()):
            step = entry.get("step") if isinstance(entry, dict) else None
            if isinstance(step, str) and ":" in step and step not in steps.names() \
                    and not function_allowed(step, self.functions):
                raise InvalidField(f"payload.pipeline[{i}].step", f"{step!r}: {hint}")

    def starts_workflow(self, body: dict[str, Any], sid: str | None = None) -> bool:
        """Whether the schedule ``body`` creates, or the schedule ``sid``
        becomes once ``body`` is applied, starts a Tasker workflow on each
        run (its payload names a handler). An unknown ``sid`` answers False
        (the call then answers 404 itself)."""
        if "payload" in body:
            payload = body["payload"]
            return isinstance(payload, dict) and "handler" in payload
        if sid is None:
            return False
        try:
            stored = self.store.get(self.known_id(sid), runs=0)["payload"]
        except ScheduleNotFound:
            return False
        return isinstance(stored, dict) and "handler" in stored

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        self.check_fields(body)
        return self.store.create(body)

    def update(self, sid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.check_fields(body)
        return self.store.update(self.known_id(sid), body)

    def publish(self, name: Any, payload: Any) -> list[tuple[str, str]]:
        """Fire the event schedules waiting for ``name``: (schedule id, run
        key) of each run created. The payload must be a small JSON object."""
        if payload is not None:
            if not isinstance(payload, dict):
                raise InvalidField("payload", "must be a JSON object")
            text = json_text("payload", payload)
            if len(text) > MAX_EVENT_PAYLOAD_CHARS:
                raise InvalidField("payload", f"at most {MAX_EVENT_PAYLOAD_CHARS} characters of JSON")
            if deeper_than(text, MAX_EVENT_PAYLOAD_DEPTH):
                raise InvalidField("payload", f"nests deeper than {MAX_EVENT_PAYLOAD_DEPTH} levels")
            payload = text
        return publish_runs(self.redis, name, payload, prefix=self.prefix)
