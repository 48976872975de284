"""Validation of enqueue options, and their translation to the enqueue
script's per-task JSON spec.

Everything a producer can get wrong is caught here, before Redis, with a
TaskqValueError naming the option. Only values that differ from the engine's
defaults are stored in the task hash.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from . import backoff as _backoff
from .errors import CyclicDependencyError, TaskqValueError
from .ids import new_task_id
from .jsontext import deeper_than
from .rates import check_key as check_rate_key
from .retention import seconds as retention_seconds
from .keys import ID_SEP, RESERVED_QUEUE_NAMES, queue_of, valid_queue_name
from .task import dt_to_ms
from .tracing import TRACE_FIELD, carrier as trace_carrier

PRIORITY_MIN, PRIORITY_MAX = -1000, 1000
SEQ_SPAN = 2 ** 42
"""Room per priority band in the ready zset's score (codes.lua holds the same):
score = (PRIORITY_MAX - priority) * SEQ_SPAN + FIFO sequence."""
"""Higher runs first; the Lua ready score has room for exactly this range."""
DEFAULT_MAX_RETRIES = 3
MAX_JSON_DEPTH = 64
"""How deep stored user JSON (args, kwargs, meta, results, checkpoints) may
nest, counting each array or object as one level: deep enough for any real
document, far from the recursion limits of Python's json (about 1000) and of
Lua's cjson (1000) that every reader of the value would otherwise meet."""
DEPENDENCY_POLICIES = ("fail", "release")

OPTION_NAMES = frozenset({
    "priority", "delay", "scheduled_at", "depends_on", "dependency_policy", "tags",
    "timeout", "max_retries", "backoff", "backoff_base", "dedupe_key", "dedupe_window",
    "concurrency_key", "concurrency_limit", "lease", "task_id", "meta",
    "keep_completed", "keep_failed", "rate_key", "on_success", "on_failure",
    "description",
})
"""Keyword arguments of Queue.enqueue that configure the task instead of
being passed to the function (use enqueue_call when a function needs them)."""


@dataclass
class TaskSpec:
    """One validated task, ready for the enqueue script."""

    id: str
    fields: dict[str, Any]
    deps: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    delay_ms: int | None = None
    at_ms: int | None = None
    own_id: bool = False

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"id": self.id, "f": self.fields}
        if self.own_id:
            spec["own"] = True
        if self.deps:
            spec["deps"] = self.deps
        if self.tags:
            spec["tags"] = self.tags
        if self.delay_ms:
            spec["delay"] = self.delay_ms
        if self.at_ms is not None:
            spec["at"] = self.at_ms
        return spec

    @property
    def plain(self) -> bool:
        """Nothing but hash fields, a priority and a due time: the single
        enqueue's fast path (lua/enqueue_one) takes it."""
        f = self.fields
        return not (self.deps or self.tags or "dedupe" in f or "ckey" in f or "rkey" in f)

    def flat_args(self) -> list:
        """ARGV of enqueue_one: id, own, priority, delay, due, then the
        fields as pairs. A whole float is sent as an integer, as the general
        script's cjson round trip stores it ("30", not "30.0")."""
        f = self.fields
        out = [self.id, "1" if self.own_id else "", f.get("priority", 0), self.delay_ms or "",
               "" if self.at_ms is None else self.at_ms]
        for k, v in f.items():
            out.append(k)
            out.append(int(v) if type(v) is float and v.is_integer() else v)
        return out


def specs_json(specs: list["TaskSpec"]) -> str:
    """One JSON array for the enqueue script: a single encode per batch."""
    return _ENCODER.encode([s.to_dict() for s in specs])


def _int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TaskqValueError(f"{name} must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise TaskqValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _finite(value: int | float) -> bool:
    """math.isfinite, False too for an int beyond any float (10**400)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _seconds(name: str, value: Any, allow_zero: bool = True) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TaskqValueError(f"{name} must be a number of seconds, got {value!r}")
    if not _finite(value):
        shown = repr(value) if isinstance(value, float) else "an integer too large for one"
        raise TaskqValueError(f"{name} must be a finite number of seconds, got {shown}")
    if value < 0 or (value == 0 and not allow_zero):
        raise TaskqValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return float(value)


class InvalidField(TaskqValueError):
    """A bad value of one named field (``field``), e.g. for a 422 that names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.reason = field, message


_SURROGATE = re.compile("[\ud800-\udfff]")
"""A code point UTF-8 cannot encode: a lone surrogate (a Python str never
holds a valid pair; JSON's "\\ud83d\\ude00" decodes to one code point)."""


def storable_text(value: str) -> bool:
    """Whether Redis can store ``value`` as UTF-8 (no lone surrogate): an id
    that is not can name no task, so a lookup of it finds nothing."""
    return not _SURROGATE.search(value)


def check_text(name: str, value: str) -> str:
    """Refuse a string Redis cannot store as UTF-8 (a lone surrogate)."""
    if not storable_text(value):
        raise InvalidField(name, "contains a lone surrogate (not valid Unicode text)")
    return value


def _text(name: str, value: Any, max_len: int = 256) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise TaskqValueError(f"{name} must be a non-empty string of at most {max_len} characters")
    return check_text(name, value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_ESCAPE = re.compile(r"\\(?:\\|ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|(ud[89a-f][0-9a-f]{2}))")
"""In our encoder's output: an escaped backslash, a surrogate pair (one
character beyond the BMP), or (group 1) a lone surrogate."""


def check_json_text(name: str, text: str) -> str:
    """Refuse JSON text that nests deeper than MAX_JSON_DEPTH or holds a lone
    surrogate. Cheap for ordinary values: each check runs only when a
    count over the text says it could fail."""
    if deeper_than(text, MAX_JSON_DEPTH):
        raise InvalidField(name, f"nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects")
    if "\\ud" in text and any(m.group(1) for m in _ESCAPE.finditer(text)):
        raise InvalidField(name, "contains a lone surrogate (not valid Unicode text)")
    return text


def json_text(name: str, value: Any) -> str:
    """User JSON as the text to store: compact, exact (integers of any size,
    floats that read back equal, [] stays []), and checked by check_json_text."""
    try:
        text = _ENCODER.encode(value)
    except RecursionError:
        raise InvalidField(name, f"nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects") from None
    except (TypeError, ValueError) as exc:
        raise TaskqValueError(f"{name} must be JSON-serializable: {exc}") from None
    return check_json_text(name, text)


def func_name(func: Any) -> str | None:
    """A callable's importable name ``module:qualname`` (or the string given)."""
    if func is None:
        return None
    if isinstance(func, str):
        return _text("func", func, 512)
    name = getattr(func, "taskq_name", None)
    if name:
        return name
    if callable(func) and hasattr(func, "__module__") and hasattr(func, "__qualname__"):
        if "<" in func.__qualname__:
            raise TaskqValueError(f"{func!r} is not importable by workers (lambda or local)")
        return f"{func.__module__}:{func.__qualname__}"
    raise TaskqValueError(f"func must be a callable or a 'module:function' name, got {func!r}")


def callback_name(option: str, value: Any) -> str:
    """The importable name of an on_success / on_failure callback: a
    function, a 'module:function' name, or an object with ``.func`` (RQ's
    ``Callback``)."""
    value = getattr(value, "func", value)
    try:
        return func_name(value)
    except TaskqValueError as exc:
        raise TaskqValueError(f"{option}: {exc}") from None


def _dependency_ids(queue: str, deps: Any) -> list[str]:
    if deps is None:
        return []
    if isinstance(deps, (str, bytes)) or not isinstance(deps, Iterable):
        deps = [deps]
    out = []
    for d in deps:
        d = getattr(d, "id", d)
        try:
            queue_of(check_text("depends_on", d))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, TaskqValueError):
                raise
            raise TaskqValueError(f"depends_on: {d!r} is not a task id") from None
        if d not in out:
            out.append(d)
    return out


def build_spec(queue: str, func: Any = None, args: Any = (), kwargs: Any = None,
               **options: Any) -> TaskSpec:
    f: dict[str, Any] = {}
    name = func_name(func)
    if name:
        f["func"] = name
    if args:
        f["args"] = json_text("args", list(args))
    if kwargs:
        if not isinstance(kwargs, dict):
            raise TaskqValueError("kwargs must be a dict")
        f["kwargs"] = json_text("kwargs", kwargs)
    context = trace_carrier()  # enqueued inside a span: the worker's span is its child
    if context:
        f[TRACE_FIELD] = context
    if not options:  # the common bulk case: every option at its default
        f["max_retries"] = DEFAULT_MAX_RETRIES
        return TaskSpec(new_task_id(queue), f)
    unknown = set(options) - OPTION_NAMES
    if unknown:
        raise TaskqValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    o = options
    if o.get("meta") is not None:
        if not isinstance(o["meta"], dict):
            raise TaskqValueError("meta must be a dict")
        if o["meta"]:
            f["meta"] = json_text("meta", o["meta"])

    priority = _int("priority", o.get("priority", 0), PRIORITY_MIN, PRIORITY_MAX)
    if priority:
        f["priority"] = priority
    f["max_retries"] = _int("max_retries", o.get("max_retries", DEFAULT_MAX_RETRIES), 0, 1000)
    strategy = o.get("backoff", _backoff.DEFAULT_STRATEGY)
    if isinstance(strategy, (list, tuple)):  # a wait per retry, in seconds
        try:
            strategy = _backoff.steps_strategy(list(strategy))
        except ValueError as exc:
            raise TaskqValueError(str(exc)) from None
    elif strategy not in _backoff.STRATEGIES:
        raise TaskqValueError(
            f"backoff must be one of {', '.join(_backoff.STRATEGIES)}, got {strategy!r}")
    if strategy != _backoff.DEFAULT_STRATEGY:
        f["backoff"] = strategy
    if o.get("backoff_base") is not None:
        base_ms = round(_seconds("backoff_base", o["backoff_base"]) * 1000)
        if base_ms != _backoff.DEFAULT_BASE_MS:
            f["backoff_base"] = base_ms
    if o.get("timeout") is not None:
        f["timeout"] = _seconds("timeout", o["timeout"], allow_zero=False)
    if o.get("lease") is not None:
        f["lease_ms"] = max(1, round(_seconds("lease", o["lease"], allow_zero=False) * 1000))
    for name in ("keep_completed", "keep_failed"):  # this task's own retention (taskq.retention)
        if o.get(name) is not None:
            f[f"{name}_ms"] = round(retention_seconds(name, o[name]) * 1000)

    tags = o.get("tags") or []
    if isinstance(tags, str) or not isinstance(tags, (list, tuple, set)):
        raise TaskqValueError("tags must be a list of strings")
    tags = list(dict.fromkeys(_text("tag", t, 128) for t in tags))
    if tags:
        f["tags"] = json_text("tags", tags)

    deps = _dependency_ids(queue, o.get("depends_on"))
    policy = o.get("dependency_policy", "fail")
    if policy not in DEPENDENCY_POLICIES:
        raise TaskqValueError(f"dependency_policy must be 'fail' or 'release', got {policy!r}")
    if deps:
        f["deps"] = json_text("deps", deps)
        if policy != "fail":
            f["dep_policy"] = policy

    if o.get("dedupe_key") is not None:
        f["dedupe"] = _text("dedupe_key", o["dedupe_key"])
        if o.get("dedupe_window") is not None:
            f["dedupe_window"] = max(1, round(
                _seconds("dedupe_window", o["dedupe_window"], allow_zero=False) * 1000))
    if o.get("description") is not None:
        f["desc"] = _text("description", o["description"], 4096)
    for name in ("on_success", "on_failure"):  # run by the worker (workers.callbacks)
        if o.get(name) is not None:
            f[name] = callback_name(name, o[name])
    if o.get("rate_key") is not None:  # limited by its queue's limit for the key (taskq.rates)
        f["rkey"] = check_rate_key(o["rate_key"])
    if o.get("concurrency_key") is not None:
        f["ckey"] = _text("concurrency_key", o["concurrency_key"])
        f["climit"] = _int("concurrency_limit", o.get("concurrency_limit", 1), 1, 1_000_000)

    delay_ms = at_ms = None
    if o.get("delay") is not None:
        delay_ms = round(_seconds("delay", o["delay"]) * 1000)
    if o.get("scheduled_at") is not None:
        at = o["scheduled_at"]
        if isinstance(at, datetime):
            at_ms = dt_to_ms(at)
        elif isinstance(at, (int, float)) and not isinstance(at, bool) and _finite(at):
            at_ms = int(at * 1000)
        else:
            raise TaskqValueError("scheduled_at must be a datetime or epoch seconds")
        if delay_ms is not None:
            raise TaskqValueError("give delay or scheduled_at, not both")

    task_id = o.get("task_id")
    own_id = task_id is not None
    if not own_id:
        task_id = new_task_id(queue)
    else:
        task_id = _text("task_id", task_id, 200)
        if ID_SEP not in task_id:
            task_id = f"{queue}{ID_SEP}{task_id}"
        try:
            if queue_of(task_id) != queue:
                raise ValueError
        except ValueError:
            raise TaskqValueError(f"task_id {task_id!r} is not a valid id in queue {queue!r}") from None
    if task_id in deps:
        raise CyclicDependencyError(f"task {task_id} depends on itself")
    return TaskSpec(task_id, f, deps, tags, delay_ms, at_ms, own_id)


def order_batch(specs: list[TaskSpec]) -> list[TaskSpec]:
    """Order a batch so every task comes after the batch tasks it depends on;
    a cycle among them is an error (tasks outside the batch already exist,
    so they cannot close a cycle)."""
    by_id = {s.id: s for s in specs}
    if len(by_id) != len(specs):
        raise TaskqValueError("duplicate task_id in batch")
    state: dict[str, int] = {}
    ordered: list[TaskSpec] = []

    for root in specs:
        if state.get(root.id):
            continue
        stack: list[tuple[TaskSpec, Iterable[str]]] = [(root, iter(root.deps))]
        state[root.id] = 1
        while stack:
            node, it = stack[-1]
            for d in it:
                if d not in by_id:
                    continue
                if state.get(d) == 1:
                    raise CyclicDependencyError(f"dependency cycle through {d}")
                if not state.get(d):
                    state[d] = 1
                    stack.append((by_id[d], iter(by_id[d].deps)))
                    break
            else:
                stack.pop()
                state[node.id] = 2
                ordered.append(node)
    return ordered


def check_queue_name(name: str) -> str:
    if not valid_queue_name(name):
        raise TaskqValueError(
            f"queue name {name!r} must be 1-128 characters of letters, digits, '_', '.', '-', "
            f"and none of {', '.join(sorted(RESERVED_QUEUE_NAMES))} (taskq's own key groups)")
    return name


UPDATABLE = frozenset({"priority", "scheduled_at", "max_retries", "timeout", "tags",
                       "meta", "depends_on"})
"""What Queue.update may change on a task that has not started."""


def build_update(queue: str, task_id: str, changes: dict) -> dict:
    """Validate Queue.update's changes (as enqueue options are validated) and
    encode them for the update script."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TaskqValueError(f"cannot update: {', '.join(sorted(unknown))}")
    spec: dict[str, Any] = {}
    if "priority" in changes:
        spec["priority"] = _int("priority", changes["priority"], PRIORITY_MIN, PRIORITY_MAX)
    if "max_retries" in changes:
        spec["max_retries"] = _int("max_retries", changes["max_retries"], 0, 1000)
    if "timeout" in changes:
        t = changes["timeout"]
        spec["timeout"] = "" if t is None else repr(_seconds("timeout", t, allow_zero=False))
    if "scheduled_at" in changes:
        at = changes["scheduled_at"]
        if at is None:
            spec["at"] = "0"
        elif isinstance(at, datetime):  # kept exact, before 1970 too ('0' means "clear")
            spec["at"] = str(dt_to_ms(at) or 1)
        elif isinstance(at, (int, float)) and not isinstance(at, bool) and _finite(at) and at > 0:
            spec["at"] = str(int(at * 1000))
        else:
            raise TaskqValueError("scheduled_at must be a datetime, epoch seconds or None")
    if "tags" in changes:
        tags = changes["tags"] or []
        if isinstance(tags, str) or not isinstance(tags, (list, tuple, set)):
            raise TaskqValueError("tags must be a list of strings")
        spec["tags"] = list(dict.fromkeys(_text("tag", t, 128) for t in tags))
        spec["tags_text"] = json_text("tags", spec["tags"]) if spec["tags"] else ""
    if "meta" in changes:
        if callable(changes["meta"]):  # checked once called, in merge_meta
            spec["meta"] = changes["meta"]
        elif not isinstance(changes["meta"], dict):
            raise TaskqValueError("meta must be a dict")
        else:
            json_text("meta", changes["meta"])  # the changes alone must already pass
            spec["meta"] = changes["meta"]
    if "depends_on" in changes:
        spec["deps"] = _dependency_ids(queue, changes["depends_on"])
        if task_id in spec["deps"]:
            raise CyclicDependencyError(f"task {task_id} depends on itself")
        spec["deps_text"] = json_text("deps", spec["deps"]) if spec["deps"] else ""
    return spec


def merge_meta(stored: str | None, changes: Any) -> str:
    """The meta text after merging ``changes`` into the ``stored`` text (a
    None value removes a field); '' when nothing is left. ``changes`` may be
    a function of the current meta (a dict) that returns them, for changes
    that depend on it. Fields not named keep their exact value: Python's
    json reads and writes [], {}, integers of any size and floats losslessly
    (Lua's cjson does not)."""
    meta = json.loads(stored) if stored else {}
    if not isinstance(meta, dict):
        meta = {}
    if callable(changes):
        changes = changes(dict(meta))
        if not isinstance(changes, dict):
            raise TaskqValueError("meta must be a dict")
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    return json_text("meta", meta) if meta else ""
