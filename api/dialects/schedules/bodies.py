"""Reading a request's JSON body for the /tasks and /events views.

The fields are validated by the engine (taskq.schedules.model, InvalidField
-> 422 naming the field), so the body is read here as plain JSON rather than
through a schema: 400 when it is not JSON or not an object. The input guard
(api.input_guard) has already refused bodies nested too deep and lone
surrogates; NaN and Infinity, which JSON does not have, are refused here.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from webargs.core import is_json

from ...errors import ApiError


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(required: bool = True) -> dict[str, Any]:
    """The body as a dict; ``{}`` for an empty body when not ``required``."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_body", "a JSON object body is required")
        return {}
    if not is_json(request.mimetype):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}"[:300]) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"the body must be a JSON object, not {_JSON_TYPES[type(body)]}")
    return body
