"""Handler definitions published in Redis, so every process sees the same set.

Why Redis and not "load the same YAML everywhere": handlers can also be
registered in Python, and those exist only in processes that import the
module doing it -- the workers, which import the step code anyway. A web
process should list exactly what the workers can run without importing any
step code or sharing their files, so each worker publishes its registry
(``publish``) and the web side reads it back (``published``), validating
the JSON with the same parser a YAML file goes through. Publishing adds or
replaces definitions; it never removes one another process published
(``unpublish`` does, explicitly).
"""

from __future__ import annotations

import json
import logging

from ..keys import DEFAULT_PREFIX, WorkflowKeys
from .handlers import Handler, HandlerDefinitionError, Registry, parse_handler, registry as _process


log = logging.getLogger("taskq.workflows")


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def publish(redis, reg: Registry | None = None, prefix: str | None = None) -> int:
    """Publish ``reg``'s handlers and namespace descriptions: two HSETs in
    one round trip, each atomic on its own (the two hashes live in different
    slots of a cluster; a reader between them sees a handler a moment before
    its namespace's description, which is harmless)."""
    reg = _process if reg is None else reg
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    handlers = reg.handlers()
    pipe = redis.pipeline(transaction=False)
    if handlers:
        pipe.hset(wk.handlers, mapping={
            h.full_name: json.dumps(h.to_dict(), separators=(",", ":")) for h in handlers})
    if reg.namespaces:
        pipe.hset(wk.namespaces, mapping=dict(reg.namespaces))
    pipe.execute()
    return len(handlers)


def unpublish(redis, full_names: list[str], prefix: str | None = None) -> int:
    if not full_names:
        return 0
    return redis.hdel(WorkflowKeys(prefix or DEFAULT_PREFIX).handlers, *full_names)


def _stored(full_name: str, text) -> Handler:
    """One stored definition, checked as a YAML file is, and filed under its own name."""
    h = parse_handler(json.loads(text), source=f"redis:{full_name}")
    if h.full_name != full_name:
        raise HandlerDefinitionError(f"redis:{full_name}", f"defines {h.full_name}, not {full_name}")
    return Handler(h.namespace, h.name, h.version, h.steps, h.description, h.namespace_description,
                   "published")


def published(redis, prefix: str | None = None) -> Registry:
    """A Registry of every published handler. A definition that does not
    load (not JSON, nested too deep, a cycle, too many steps, missing
    fields, filed under another name: written by an older taskq or by hand)
    is skipped with a warning rather than hiding all the others; its name
    is in the registry's ``skipped``."""
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(wk.handlers)
    pipe.hgetall(wk.namespaces)
    raw_handlers, raw_namespaces = pipe.execute()
    reg = Registry()
    for full_name, text in raw_handlers.items():
        full_name = _text(full_name)
        try:
            reg.add(_stored(full_name, text))
        except (ValueError, TypeError, RecursionError) as exc:  # HandlerDefinitionError, JSON errors
            log.warning("skipping the published handler %r: %s", full_name[:200], str(exc)[:300])
            reg.skipped.append(full_name)
    for ns, desc in raw_namespaces.items():
        reg.namespaces[_text(ns)] = _text(desc)
    return reg
