"""A dialect's own OpenAPI document cut from the app's: the paths under its
mount point, the tags they name, and only the components they reference
(followed transitively), so a client generator sees a complete document of
that dialect alone (the Tasker dialect serves one at /tasker/api-docs.json)."""

from __future__ import annotations

import copy
from typing import Any, Iterator

from flask import current_app

COMPONENT_REF = "#/components/"


def app_spec() -> dict:
    """The app's whole OpenAPI document (flask-smorest's, as /api/docs.json serves it)."""
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return api.spec.to_dict()


def _refs(obj: Any) -> Iterator[str]:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(COMPONENT_REF):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _replace_refs(obj: Any, replace: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: (replace.get(v, v) if k == "$ref" else _replace_refs(v, replace)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_refs(v, replace) for v in obj]
    return obj


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + ".")


def subset(spec: dict, prefix: str, info: dict, replace_refs: dict[str, str] | None = None) -> dict:
    """``spec`` cut to the paths under ``prefix``; ``replace_refs`` swaps
    component references first (e.g. the shared error body for the
    dialect's own), in the paths and in every component they reach."""
    replace = replace_refs or {}
    components = _replace_refs(copy.deepcopy(spec.get("components", {})), replace)
    paths = _replace_refs({p: ops for p, ops in spec.get("paths", {}).items() if under(p, prefix)}, replace)
    kept: dict[str, dict] = {}
    todo = list(_refs(paths))
    while todo:
        kind, _, name = todo.pop()[len(COMPONENT_REF):].partition("/")
        if name in kept.get(kind, {}) or name not in components.get(kind, {}):
            continue
        kept.setdefault(kind, {})[name] = components[kind][name]
        todo.extend(_refs(components[kind][name]))
    operations = [op for ops in paths.values() for op in ops.values() if isinstance(op, dict)]
    schemes = {name for op in operations for req in op.get("security") or [] for name in req}
    if schemes:
        kept["securitySchemes"] = {n: s for n, s in components.get("securitySchemes", {}).items()
                                   if n in schemes}
    tags = {t for op in operations for t in op.get("tags") or []}
    out = {"openapi": spec.get("openapi", "3.0.3"), "info": info, "paths": paths,
           "components": {k: dict(sorted(v.items())) for k, v in sorted(kept.items())}}
    out["tags"] = [t for t in spec.get("tags", []) if t.get("name") in tags]
    return out
