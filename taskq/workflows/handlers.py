"""Workflow handlers: ``namespace.name@version`` with a DAG of step templates.

A handler is defined in a YAML file (every ``*.yaml``/``*.yml`` in the
folder named by ``TASKQ_HANDLERS_PATH``) or in Python (``register`` or the
``handler`` decorator). Everything that would only break at run time -- a
cycle, a step depending on an unknown step, two steps or two handlers with
one name, a version that is not semantic, more than MAX_STEPS steps -- is
refused at load time with one HandlerDefinitionError naming the source
(file) and the step. Nothing here recurses: a chain of any length is
ordered by one loop.
"""

from __future__ import annotations

import heapq
import importlib
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import TaskqValueError

NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-]{0,63}$")
"""Namespaces, handler names and step names: they appear in task ids, URLs
and Mermaid node ids, so lowercase letters, digits, '_' and '-' only."""
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$")
DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
EVENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
RESERVED_EVENT_PREFIXES = ("task.", "worker.")
"""Namespaces of the engine's own webhook events: a custom event named
like one would reach that event's subscribers with another body."""
EXAMPLES_FILE = Path(__file__).with_name("examples") / "handlers.yaml"
"""The example handler set that ``TASKQ_EXAMPLES=1`` loads (taskq.workflows.examples)."""
MAX_RETRY_LIMIT = 1000
MAX_STEPS = 256
"""Steps a handler may have (DESIGN invariant 10): a workflow is one engine
task per step, and every read of it (a Tasker page of up to 100 workflows,
a dashboard diagram) reads each step's task, so its size bounds the cost of
every request about it. A larger definition is refused at load time."""
CYCLE_SHOWN = 8
"""Steps of a dependency cycle an error names before it elides the rest."""
STEP_FIELDS = frozenset({"name", "description", "handler_class", "depends_on_step",
                         "default_retryable", "default_retry_limit", "skippable", "custom_events"})
HANDLER_FIELDS = frozenset({"namespace", "name", "version", "description", "step_templates",
                            "namespace_description"})


class HandlerDefinitionError(TaskqValueError):
    """A handler definition that cannot be loaded; the message names where."""

    code = "invalid_handler"

    def __init__(self, source: str, message: str, step: str | None = None):
        where = f"{source}: step {step!r}: " if step else f"{source}: "
        super().__init__(where + message)
        self.source, self.step, self.reason = source, step, message


def semver_key(version: str) -> tuple:
    """Sort key of a semantic version (a pre-release sorts before its release)."""
    m = SEMVER_RE.match(version)
    if not m:
        raise TaskqValueError(f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    pre = m.group(4)
    pre_key: tuple = (1,) if pre is None else (0, *[
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")])
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key)


@dataclass(frozen=True)
class StepTemplate:
    name: str
    handler_class: str
    description: str = ""
    depends_on_step: str | list[str] | None = None
    default_retryable: bool = True
    default_retry_limit: int = 3
    skippable: bool = False
    custom_events: tuple[str, ...] = ()

    @property
    def depends_on(self) -> list[str]:
        """depends_on_step as a list (null -> [], one name -> [name])."""
        d = self.depends_on_step
        return [] if d is None else [d] if isinstance(d, str) else list(d)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["custom_events"] = list(self.custom_events)
        if isinstance(self.depends_on_step, (list, tuple)):
            out["depends_on_step"] = list(self.depends_on_step)
        return {k: out[k] for k in ("name", "description", "handler_class", "depends_on_step",
                                    "default_retryable", "default_retry_limit", "skippable",
                                    "custom_events")}


@dataclass(frozen=True)
class Handler:
    namespace: str
    name: str
    version: str
    steps: tuple[StepTemplate, ...]
    description: str = ""
    namespace_description: str = ""
    source: str = "python"

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}@{self.version}"

    def step(self, name: str) -> StepTemplate:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(d, s.name) for s in self.steps for d in s.depends_on]

    @property
    def execution_order(self) -> list[str]:
        """A topological order; among ready steps, definition order."""
        return topological_order(self.steps, self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "version": self.version,
                "description": self.description,
                "namespace_description": self.namespace_description,
                "step_templates": [s.to_dict() for s in self.steps]}


def topological_order(steps: Iterable[StepTemplate], source: str) -> list[str]:
    """Kahn's algorithm, without recursion (a chain of any length is one
    loop): among the steps whose dependencies are all placed, the first
    defined goes next. A cycle is a HandlerDefinitionError naming it."""
    steps = list(steps)
    index = {s.name: i for i, s in enumerate(steps)}
    waiting = [len(s.depends_on) for s in steps]
    dependents: list[list[int]] = [[] for _ in steps]
    for i, s in enumerate(steps):
        for d in s.depends_on:
            dependents[index[d]].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(steps[i].name)
        for j in dependents[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) < len(steps):
        cycle = _a_cycle(steps, index, {i for i, n in enumerate(waiting) if n})
        shown = cycle if len(cycle) <= CYCLE_SHOWN else [
            *cycle[:CYCLE_SHOWN // 2], f"... ({len(cycle) - 1} steps) ...", *cycle[-CYCLE_SHOWN // 2:]]
        raise HandlerDefinitionError(source, f"dependency cycle {' -> '.join(shown)}", cycle[-2])
    return order


def _a_cycle(steps: list[StepTemplate], index: dict[str, int], left: set[int]) -> list[str]:
    """One cycle among the steps Kahn's algorithm could not place (each of
    them waits on another of them): follow dependencies until one repeats."""
    path: list[int] = []
    seen: dict[int, int] = {}
    i = min(left)
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = next(index[d] for d in steps[i].depends_on if index[d] in left)
    return [steps[j].name for j in path[seen[i]:]] + [steps[i].name]


def _text(source: str, step: str | None, key: str, value: Any, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise HandlerDefinitionError(source, f"{key} must be a{' non-empty' if required else ''} string", step)
    return value


def _name(source: str, step: str | None, key: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise HandlerDefinitionError(
            source, f"{key} {value!r} must be 1-64 lowercase letters, digits, '_' or '-'", step)
    return value


def _bool(source: str, step: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise HandlerDefinitionError(source, f"{key} must be true or false, got {value!r}", step)
    return value


def is_custom_event(name: Any) -> bool:
    """Whether ``name`` may be a step's custom event (and so a webhook's)."""
    return (isinstance(name, str) and bool(EVENT_RE.match(name))
            and not name.startswith(RESERVED_EVENT_PREFIXES))


def parse_step(source: str, raw: Any) -> StepTemplate:
    if not isinstance(raw, dict):
        raise HandlerDefinitionError(source, f"a step template must be a mapping, got {raw!r}")
    name = _name(source, None, "step name", raw.get("name"))
    unknown = set(raw) - STEP_FIELDS
    if unknown:
        raise HandlerDefinitionError(source, f"unknown field(s) {', '.join(sorted(unknown))}", name)
    hc = raw.get("handler_class")
    if not isinstance(hc, str) or not DOTTED_RE.match(hc):
        raise HandlerDefinitionError(
            source, f"handler_class must be a dotted Python path (package.module.Class), got {hc!r}", name)
    dep = raw.get("depends_on_step")
    if isinstance(dep, (list, tuple)):
        if not dep:
            dep = None
        else:
            dep = [_name(source, name, "depends_on_step", d) for d in dep]
            if len(set(dep)) != len(dep):
                raise HandlerDefinitionError(source, "depends_on_step names a step twice", name)
    elif dep is not None:
        dep = _name(source, name, "depends_on_step", dep)
    retryable = _bool(source, name, "default_retryable", raw.get("default_retryable", True))
    limit = raw.get("default_retry_limit", 3 if retryable else 0)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_RETRY_LIMIT:
        raise HandlerDefinitionError(
            source, f"default_retry_limit must be an integer from 0 to {MAX_RETRY_LIMIT}, got {limit!r}", name)
    events = raw.get("custom_events") or []
    if not isinstance(events, (list, tuple)) or not all(is_custom_event(e) for e in events):
        raise HandlerDefinitionError(
            source, "custom_events must be a list of event names (letters, digits, '_', '.', '-'; "
                    "not beginning with 'task.' or 'worker.')", name)
    return StepTemplate(
        name=name, handler_class=hc,
        description=_text(source, name, "description", raw.get("description")),
        depends_on_step=dep, default_retryable=retryable, default_retry_limit=limit,
        skippable=_bool(source, name, "skippable", raw.get("skippable", False)),
        custom_events=tuple(dict.fromkeys(events)))


def parse_handler(raw: Any, source: str = "python") -> Handler:
    """Validate one handler definition (a mapping, as in YAML)."""
    if not isinstance(raw, dict):
        raise HandlerDefinitionError(source, "a handler definition must be a mapping")
    unknown = set(raw) - HANDLER_FIELDS
    if unknown:
        raise HandlerDefinitionError(source, f"unknown field(s) {', '.join(sorted(unknown))}")
    namespace = _name(source, None, "namespace", raw.get("namespace"))
    name = _name(source, None, "name", raw.get("name"))
    version = raw.get("version")
    if not isinstance(version, str) or not SEMVER_RE.match(version):
        raise HandlerDefinitionError(
            source, f"version {version!r} of {namespace}.{name} is not a semantic version "
                    "(MAJOR.MINOR.PATCH, e.g. 2.1.0; quote it in YAML)")
    raw_steps = raw.get("step_templates")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise HandlerDefinitionError(source, f"{namespace}.{name}@{version} needs a non-empty step_templates list")
    if len(raw_steps) > MAX_STEPS:
        raise HandlerDefinitionError(
            source, f"{namespace}.{name}@{version} has {len(raw_steps)} steps; a handler has at most {MAX_STEPS}")
    steps = [parse_step(source, s) for s in raw_steps]
    seen: set[str] = set()
    for s in steps:
        if s.name in seen:
            raise HandlerDefinitionError(source, "duplicate step name", s.name)
        seen.add(s.name)
    for s in steps:
        for d in s.depends_on:
            if d not in seen:
                raise HandlerDefinitionError(source, f"depends on unknown step {d!r}", s.name)
            if d == s.name:
                raise HandlerDefinitionError(source, "depends on itself", s.name)
    handler = Handler(namespace, name, version, tuple(steps),
                      _text(source, None, "description", raw.get("description")),
                      _text(source, None, "namespace_description", raw.get("namespace_description")),
                      source)
    topological_order(handler.steps, source)  # refuses cycles
    return handler


class Registry:
    """Handlers by namespace, name and version, plus namespace descriptions.
    Threads may register and read at once: writes hold a lock, reads work
    on a copy taken under it."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str, str], Handler] = {}
        self.namespaces: dict[str, str] = {}
        self.skipped: list[str] = []
        """Names of stored definitions that did not load (catalog.published)."""
        self._lock = threading.Lock()

    def add(self, handler: Handler) -> Handler:
        key = (handler.namespace, handler.name, handler.version)
        with self._lock:
            old = self._handlers.get(key)
            if old is not None and old != handler:
                raise HandlerDefinitionError(
                    handler.source, f"{handler.full_name} is already defined (in {old.source})")
            self._handlers[key] = handler
            if handler.namespace_description or handler.namespace not in self.namespaces:
                self.namespaces[handler.namespace] = (
                    handler.namespace_description or self.namespaces.get(handler.namespace, ""))
        return handler

    def describe_namespace(self, namespace: str, description: str) -> None:
        name = _name("python", None, "namespace", namespace)
        with self._lock:
            self.namespaces[name] = description

    def _snapshot(self) -> list[tuple[tuple[str, str, str], Handler]]:
        with self._lock:
            return list(self._handlers.items())

    def handlers(self) -> list[Handler]:
        return sorted((h for _, h in self._snapshot()),
                      key=lambda h: (h.namespace, h.name, semver_key(h.version)))

    def versions(self, namespace: str, name: str) -> list[str]:
        return sorted((v for (n, m, v), _ in self._snapshot() if (n, m) == (namespace, name)),
                      key=semver_key)

    def get(self, namespace: str, name: str, version: str | None = None) -> Handler | None:
        """One handler; version None or "latest" is the highest version."""
        if version in (None, "", "latest"):
            versions = self.versions(namespace, name)
            if not versions:
                return None
            version = versions[-1]
        return self._handlers.get((namespace, name, version))

    def resolve(self, full_name: str, version: str | None = None) -> Handler | None:
        """``namespace.name`` or ``namespace.name@version``."""
        base, sep, at = full_name.partition("@")
        if sep and not at:
            return None
        namespace, _, name = base.partition(".")
        return self.get(namespace, name, version or at or None)

    def register(self, definition: dict | Handler, source: str = "python") -> Handler:
        h = definition if isinstance(definition, Handler) else parse_handler(definition, source)
        return self.add(h)

    def load_yaml(self, path: str | os.PathLike) -> list[Handler]:
        """Load one YAML file: a handler mapping, a list of them, or a
        mapping with ``namespaces`` (name -> description) and ``handlers``."""
        import yaml

        source = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise HandlerDefinitionError(source, f"cannot read: {exc}") from None
        except yaml.YAMLError as exc:
            raise HandlerDefinitionError(source, f"not valid YAML: {exc}") from None
        if isinstance(data, dict) and ("handlers" in data or "namespaces" in data):
            namespaces = data.get("namespaces") or {}
            if not isinstance(namespaces, dict) or not all(
                    isinstance(v, str) for v in namespaces.values()):
                raise HandlerDefinitionError(source, "namespaces must map names to descriptions")
            items = data.get("handlers") or []
        else:
            namespaces, items = {}, data if isinstance(data, list) else [data]
        if not isinstance(items, list):
            raise HandlerDefinitionError(source, "handlers must be a list")
        parsed = [parse_handler(item, source) for item in items]
        for ns, desc in namespaces.items():
            name = _name(source, None, "namespace", ns)
            with self._lock:
                self.namespaces[name] = desc
        return [self.add(h) for h in parsed]

    def load_folder(self, folder: str | os.PathLike) -> list[Handler]:
        folder = Path(folder)
        if not folder.is_dir():
            raise HandlerDefinitionError(str(folder), "TASKQ_HANDLERS_PATH is not a folder")
        out: list[Handler] = []
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                out.extend(self.load_yaml(path))
        return out


registry = Registry()
"""The process's handlers (what this process can run)."""


def register(definition: dict | Handler, source: str = "python") -> Handler:
    """Register a handler (a mapping as in YAML) in the process registry."""
    return registry.register(definition, source)


def handler(namespace: str, name: str, version: str, description: str = "",
            namespace_description: str = "") -> Callable[[Callable[[], list]], Callable[[], list]]:
    """Decorator over a function returning the step templates (mappings):

        @handler("payments", "process_payment", "2.1.0")
        def process_payment():
            return [{"name": "validate", "handler_class": "pkg.steps.Validate"}, ...]
    """
    def wrap(fn: Callable[[], list]) -> Callable[[], list]:
        register({"namespace": namespace, "name": name, "version": version,
                  "description": description, "namespace_description": namespace_description,
                  "step_templates": fn()}, source=f"{fn.__module__}.{fn.__qualname__}")
        return fn
    return wrap


def load_configured(reg: Registry | None = None, env: dict | None = None) -> Registry:
    """Load what the settings name into ``reg`` (the process registry by
    default): the folder of ``TASKQ_HANDLERS_PATH`` and, with
    ``TASKQ_EXAMPLES=1``, the example set."""
    reg = registry if reg is None else reg
    env = os.environ if env is None else env
    path = env.get("TASKQ_HANDLERS_PATH")
    if path:
        reg.load_folder(path)
    if env.get("TASKQ_EXAMPLES") == "1":
        reg.load_yaml(EXAMPLES_FILE)
    return reg


def check_step_code(reg: Registry) -> None:
    """Import every step's handler_class (what a worker host does before it
    publishes), so a published handler is one the workers can run; the
    first that fails is a HandlerDefinitionError naming its source and step."""
    for h in reg.handlers():
        for s in h.steps:
            try:
                fn = load_step(s.handler_class)
            except Exception as exc:  # import errors of any kind in user code
                raise HandlerDefinitionError(
                    h.source, f"handler_class {s.handler_class} of {h.full_name} does not "
                              f"import: {type(exc).__name__}: {exc}", s.name) from None
            if not callable(fn):
                raise HandlerDefinitionError(
                    h.source, f"handler_class {s.handler_class} of {h.full_name} has no "
                              "process method and is not callable", s.name)


def load_step(handler_class: str) -> Callable[[dict, dict, dict], Any]:
    """The callable behind a dotted path: a class is instantiated and its
    ``process`` (or ``__call__``) used; a function is used as it is."""
    module, _, attr = handler_class.rpartition(".")
    obj: Any = getattr(importlib.import_module(module), attr)
    if isinstance(obj, type):
        inst = obj()
        return getattr(inst, "process", inst)
    return obj
