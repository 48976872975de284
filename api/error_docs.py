"""Each operation of the app's OpenAPI document names the error body its
dialect answers (api.error_styles): flask-smorest gives every operation the
one shared ``Error``, but TaskDriver routes answer ``error`` as a string and
Tasker routes answer Tasker's bare ``{"error": {...}}``. A dialect's
``error_schema`` is registered as a component and its operations (found by
their tag, the blueprint's name) get their error responses pointed at it;
paths another dialect may also answer (``Dialect.shared_paths``) allow
either body."""

from __future__ import annotations

import copy
from typing import Any

ERROR_REF = "#/components/schemas/Error"
RESPONSE_REF = "#/components/responses/"


def _schema_name(schema_cls: type) -> str:
    return schema_cls.__name__.removesuffix("Schema")


def _with_schema(response: dict, schema: dict) -> dict:
    out = copy.deepcopy(response)
    for media in (out.get("content") or {}).values():
        if media.get("schema") == {"$ref": ERROR_REF}:
            media["schema"] = copy.deepcopy(schema)
    return out


def _point_errors(operation: dict, schema: dict, components: dict) -> None:
    for status, response in list((operation.get("responses") or {}).items()):
        ref = response.get("$ref", "")
        if ref.startswith(RESPONSE_REF):
            response = components.get(ref[len(RESPONSE_REF):], response)
        operation["responses"][status] = _with_schema(response, schema)


def document(spec: Any, dialects: Any) -> None:
    """Point each dialect's operations at its own error body (in place)."""
    by_tag: dict[str, dict] = {}
    shared: dict[str, list[dict]] = {}
    for dialect in dialects:
        if dialect.error_schema is None:
            continue
        name = _schema_name(dialect.error_schema)
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=dialect.error_schema)
        ref = {"$ref": f"#/components/schemas/{name}"}
        for blp in dialect.blueprints:
            by_tag[blp.name] = ref
        for path in dialect.shared_paths:
            shared.setdefault(path, []).append(ref)
    responses = spec.components.responses
    for path, operations in spec._paths.items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            tags = operation.get("tags") or []
            schema = by_tag.get(tags[0]) if tags else None
            if schema is None and path in shared:
                schema = {"anyOf": [{"$ref": ERROR_REF}, *shared[path]]}
            if schema is not None:
                _point_errors(operation, schema, responses)
