"""One check of every request's input before any view reads it, so hostile
input answers 4xx on every route alike (the open login included), never 500:

- a URL whose percent-decoded path or query is not UTF-8 -> 400
  ``invalid_encoding`` (werkzeug would turn the bytes into U+FFFD);
- a JSON body that is not UTF-8, or nests deeper than MAX_BODY_DEPTH -> 400
  ``invalid_json`` (Python's parser would raise RecursionError, far below
  the body size limit: 10,000 ``[`` are 10 kB);
- a JSON string or key holding a lone surrogate (``"\\udfff"``, which no
  UTF-8 store can hold) -> 422 ``validation_error`` naming the field;
- a JSON number of more digits than Python converts (4,300) -> 400
  ``invalid_json`` (the parser raises a plain ValueError, not a decode error).

The depth is read from the text without recursion; the body is parsed here
only when it holds a ``\\ud`` escape (else the view's own parser reads it
once, as before). Stored values have their own, lower limit
(taskq.options.MAX_JSON_DEPTH, 422 from the engine's validation).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, request
from webargs.core import is_json

from taskq.jsontext import deeper_than
from taskq.options import MAX_JSON_DEPTH

from .errors import ApiError, validation_error

MAX_BODY_DEPTH = MAX_JSON_DEPTH + 36
"""How deep a request body may nest: a stored value's limit plus room for
the few levels of a dialect's body around it (100)."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONG_DIGITS = re.compile(r"\d{%d}" % (sys.get_int_max_str_digits() + 1)) if sys.get_int_max_str_digits() else None


def _check_url() -> None:
    env = request.environ
    for part, raw in (("path", env.get("PATH_INFO", "")), ("query string", env.get("QUERY_STRING", ""))):
        try:
            data = raw.encode("latin-1")  # WSGI hands bytes over as latin-1 text
            if part == "query string":
                data = unquote_to_bytes(data.replace(b"+", b" "))
            data.decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise ApiError(400, "invalid_encoding", f"the request's {part} is not valid UTF-8") from None


def _surrogate_fields(value: Any) -> list[str]:
    """Paths (a.b.0) of the strings and keys in ``value`` with a lone surrogate."""
    found, stack = [], [("", value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                found.append(path or "(body)")
        elif isinstance(v, dict):
            for k, item in v.items():
                sub = f"{path}.{k}" if path else str(k)
                if _SURROGATE.search(k):
                    found.append(_SURROGATE.sub("\ufffd", sub))
                else:
                    stack.append((sub, item))
        elif isinstance(v, list):
            stack.extend((f"{path}.{i}" if path else str(i), item) for i, item in enumerate(v))
    return sorted(found)


def _check_body() -> None:
    if not is_json(request.mimetype):
        return
    raw = request.get_data(cache=True)
    if not raw:
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the request body is not valid UTF-8") from None
    if deeper_than(text, MAX_BODY_DEPTH):
        raise ApiError(400, "invalid_json",
                       f"the request body nests deeper than {MAX_BODY_DEPTH} levels of arrays and objects",
                       {"max_depth": MAX_BODY_DEPTH})
    long_number = _LONG_DIGITS is not None and _LONG_DIGITS.search(text)
    if not long_number and not _SURROGATE_ESCAPE.search(text):
        return
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return  # malformed: the view's parser answers 400 as for any bad body
    except ValueError as exc:  # a number too long to convert
        raise ApiError(400, "invalid_json", f"the request body holds a number Python cannot read: {exc}"[:300]) from None
    bad = _surrogate_fields(body)
    if bad:
        raise validation_error([{"field": f, "message": "contains a lone surrogate (not valid Unicode text)",
                                 "value": None} for f in bad])


def check_input() -> None:
    _check_url()
    _check_body()


def register(app: Flask) -> None:
    """Run the check before every view (after the request hooks already
    registered: correlation id, rate limits)."""
    app.before_request(check_input)
