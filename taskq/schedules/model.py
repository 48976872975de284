"""The schedule record: validation of what a client may set, and the
payload ("the pipeline definition") a run is built from: a pipeline of
steps, one callable, or a Tasker handler whose workflow each run starts.

Every mistake is refused before Redis with an InvalidField naming the field
(``payload.pipeline[1].depends_on`` ...), which a REST layer turns into 422
field details. The payload is kept as the exact JSON text given.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .. import backoff as _backoff
from ..keys import valid_queue_name
from ..errors import TaskqValueError
from ..options import InvalidField, check_json_text, check_text, json_text
from . import steps, timing

MISFIRE_POLICIES = ("run_once", "skip")
"""After downtime: one late run then continue from now (run_once), or no
late run at all (skip)."""
STATUSES = ("active", "paused", "canceled", "finished")
PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 1, 9, 5
PRIORITY_STEP = 100
"""Engine priority of a run = (5 - priority) * PRIORITY_STEP (engine: higher first)."""
MAX_PAYLOAD_CHARS = 256 * 1024
MAX_PIPELINE_STEPS = 100
MAX_DEDUPE_WINDOW = 30 * 24 * 3600
NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
"""Pipeline entry names: they become part of the run's task ids."""
EVENT_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")

FIELDS = ("title", "description", "schedule_kind", "schedule_expr", "timezone", "payload",
          "created_by", "priority", "max_retries", "backoff_strategy", "dedupe_key",
          "dedupe_window_seconds", "concurrency_key", "misfire_policy", "queue", "rate_key")
REQUIRED = ("title", "description", "schedule_kind", "payload", "created_by")
DEFAULTS = {"timezone": "UTC", "priority": PRIORITY_DEFAULT, "max_retries": 3,
            "backoff_strategy": _backoff.DEFAULT_STRATEGY, "misfire_policy": "run_once",
            "queue": "default", "schedule_expr": None, "dedupe_key": None,
            "dedupe_window_seconds": None, "concurrency_key": None, "rate_key": None}
TIMING_FIELDS = ("schedule_kind", "schedule_expr", "timezone")


def engine_priority(priority: int) -> int:
    return (PRIORITY_DEFAULT - priority) * PRIORITY_STEP


def _str(name: str, value: Any, max_len: int, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > max_len:
        raise InvalidField(name, f"must be a {'' if empty else 'non-empty '}string of at most {max_len} characters")
    return check_text(name, value)


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidField(name, f"must be an integer from {lo} to {hi}")
    return value


def payload_text(value: Any) -> tuple[str, dict]:
    """(text to store, decoded payload) after validating it. A str is taken
    as the client's JSON text and stored exactly as given."""
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        if len(text) > MAX_PAYLOAD_CHARS:
            raise InvalidField("payload", f"at most {MAX_PAYLOAD_CHARS} characters of JSON")
        check_json_text("payload", text)  # too deep for json, or a lone surrogate
        try:
            obj = json.loads(text)
        except ValueError:
            raise InvalidField("payload", "is not valid JSON") from None
    else:
        obj = value
        try:
            text = json_text("payload", obj)  # the engine's exact encoding and limits
        except InvalidField:
            raise
        except TaskqValueError:
            raise InvalidField("payload", "must be a JSON object") from None
        if len(text) > MAX_PAYLOAD_CHARS:
            raise InvalidField("payload", f"at most {MAX_PAYLOAD_CHARS} characters of JSON")
    check_payload(obj)
    return text, obj


PAYLOAD_KINDS = ("pipeline", "callable", "handler")
"""What a run is: engine tasks (a pipeline of steps, one callable) or a
workflow of a Tasker handler."""
MAX_HANDLER_NAME = 256


def check_payload(obj: Any) -> None:
    if not isinstance(obj, dict):
        raise InvalidField("payload", "must be an object with 'pipeline', 'callable' or 'handler'")
    if sum(kind in obj for kind in PAYLOAD_KINDS) != 1:
        raise InvalidField("payload", "must have exactly one of 'pipeline', 'callable' or 'handler'")
    if "handler" in obj:
        check_handler_payload(obj)
        return
    if "callable" in obj:
        extra = set(obj) - {"callable", "args", "kwargs"}
        if extra:
            raise InvalidField(f"payload.{sorted(extra)[0]}", "unknown field")
        name = obj["callable"]
        if not isinstance(name, str) or ":" not in name or len(name) > 256 or name.startswith(":") or name.endswith(":"):
            raise InvalidField("payload.callable", "must be 'module:function'")
        if not isinstance(obj.get("args", []), list):
            raise InvalidField("payload.args", "must be an array")
        if not isinstance(obj.get("kwargs", {}), dict):
            raise InvalidField("payload.kwargs", "must be an object")
        return
    extra = set(obj) - {"pipeline"}
    if extra:
        raise InvalidField(f"payload.{sorted(extra)[0]}", "unknown field")
    pipeline = obj["pipeline"]
    if not isinstance(pipeline, list) or not 1 <= len(pipeline) <= MAX_PIPELINE_STEPS:
        raise InvalidField("payload.pipeline", f"must be an array of 1 to {MAX_PIPELINE_STEPS} steps")
    seen: set[str] = set()
    for i, entry in enumerate(pipeline):
        at = f"payload.pipeline[{i}]"
        if not isinstance(entry, dict):
            raise InvalidField(at, "must be an object")
        extra = set(entry) - {"step", "name", "args", "depends_on"}
        if extra:
            raise InvalidField(f"{at}.{sorted(extra)[0]}", "unknown field")
        step = entry.get("step")
        if not isinstance(step, str) or not steps.is_known(step):
            raise InvalidField(f"{at}.step", f"unknown step {step!r} (registered: {', '.join(steps.names())})")
        name = entry.get("name", step)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise InvalidField(f"{at}.name", "must match [A-Za-z0-9_-]{1,64} (defaults to the step)")
        if name in seen:
            raise InvalidField(f"{at}.name", f"duplicate step name {name!r}: give each a 'name'")
        args = entry.get("args", {})
        if not isinstance(args, dict):
            raise InvalidField(f"{at}.args", "must be an object")
        try:
            steps.check_args(step, args)
        except ValueError as e:
            raise InvalidField(f"{at}.args", str(e)) from None
        deps = entry.get("depends_on", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise InvalidField(f"{at}.depends_on", "must be an array of earlier step names")
        for d in deps:
            if d not in seen:
                raise InvalidField(f"{at}.depends_on", f"{d!r} is not an earlier step's name")
        seen.add(name)


def check_handler_payload(obj: dict) -> None:
    """The shape of ``{"handler": "namespace.name@version", "context": {...}}``
    (that the handler exists is checked against Redis by the store)."""
    extra = set(obj) - {"handler", "context"}
    if extra:
        raise InvalidField(f"payload.{sorted(extra)[0]}", "unknown field")
    name = obj["handler"]
    base, sep, version = name.partition("@") if isinstance(name, str) else ("", "", "")
    namespace, dot, short = base.partition(".")
    if not (isinstance(name, str) and len(name) <= MAX_HANDLER_NAME and namespace and dot and short
            and (version or not sep)):
        raise InvalidField("payload.handler", "must be 'namespace.name' or 'namespace.name@version'")
    check_text("payload.handler", name)
    if not isinstance(obj.get("context", {}), dict):
        raise InvalidField("payload.context", "must be a JSON object")


def handler_of(payload_text_: str | None) -> str | None:
    """The handler a stored payload runs, or None (tasks)."""
    if not payload_text_ or '"handler"' not in payload_text_:
        return None
    obj = json.loads(payload_text_)
    return obj.get("handler") if isinstance(obj, dict) else None


def clean(data: Any, partial: bool = False) -> dict[str, Any]:
    """Validated fields (defaults filled unless ``partial``); the payload
    becomes its text under 'payload'."""
    if not isinstance(data, dict):
        raise InvalidField("body", "must be a JSON object")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "unknown field")
    if not partial:
        for name in REQUIRED:
            if data.get(name) is None:
                raise InvalidField(name, "is required")
        data = {**DEFAULTS, **{k: v for k, v in data.items() if v is not None or k not in DEFAULTS}}
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("title",):
            out[name] = _str(name, value, 200)
        elif name == "description":
            out[name] = _str(name, value, 5000, empty=True)
        elif name == "schedule_kind":
            if value not in timing.KINDS:
                raise InvalidField(name, f"must be one of {', '.join(timing.KINDS)}")
            out[name] = value
        elif name == "schedule_expr":
            out[name] = None if value is None else _str(name, value, 2000)
        elif name == "timezone":
            timing.zone(value)
            out[name] = value
        elif name == "payload":
            out[name] = payload_text(value)[0]
        elif name == "created_by":
            try:
                out[name] = str(uuid.UUID(str(value))) if isinstance(value, str) else None
            except ValueError:
                out[name] = None
            if out[name] is None:
                raise InvalidField(name, "must be a UUID")
        elif name == "priority":
            out[name] = _int(name, value, PRIORITY_MIN, PRIORITY_MAX)
        elif name == "max_retries":
            out[name] = _int(name, value, 0, 100)
        elif name == "backoff_strategy":
            if value not in _backoff.STRATEGIES:
                raise InvalidField(name, f"must be one of {', '.join(_backoff.STRATEGIES)}")
            out[name] = value
        elif name in ("dedupe_key", "concurrency_key", "rate_key"):
            out[name] = None if value is None else _str(name, value, 200)
        elif name == "dedupe_window_seconds":
            out[name] = None if value is None else _int(name, value, 1, MAX_DEDUPE_WINDOW)
        elif name == "misfire_policy":
            if value not in MISFIRE_POLICIES:
                raise InvalidField(name, f"must be one of {', '.join(MISFIRE_POLICIES)}")
            out[name] = value
        elif name == "queue":
            if not valid_queue_name(value):
                raise InvalidField(name, "must be a queue name ([A-Za-z0-9_.-], at most 128)")
            out[name] = value
    return out


def check_whole(fields: dict[str, Any]) -> None:
    """Cross-field rules on a complete record (after a create or an update)."""
    kind, expr = fields["schedule_kind"], fields.get("schedule_expr")
    if kind == "event":
        if expr is not None and not EVENT_RE.match(expr):
            raise InvalidField("schedule_expr", "an event name: [A-Za-z0-9_.:-]{1,128}")
        if expr is None and not EVENT_RE.match(fields["title"]):
            raise InvalidField("schedule_expr", "the event name, [A-Za-z0-9_.:-]{1,128}: required "
                                                "when the title is not one (it defaults to the title)")
    else:
        timing.validate(kind, expr, fields["timezone"])
    if (fields.get("dedupe_key") is None) != (fields.get("dedupe_window_seconds") is None):
        raise InvalidField("dedupe_window_seconds", "dedupe_key and dedupe_window_seconds go together")


def event_name(fields: dict[str, Any]) -> str:
    """The event an event schedule fires on: schedule_expr, else its title."""
    return fields.get("schedule_expr") or fields["title"]
