"""What a REST dialect declares, in one descriptor, and the app's registry of
the dialects it serves (``app.extensions["taskq.dialects"]``).

A dialect is a folder under api/dialects/ with routes and schemas per
resource and a ``DIALECT = Dialect(...)`` in its ``__init__``; create_app
registers every descriptor of api.dialects.DIALECTS. Shared modules never
import a dialect: the error handler reaches the registry through the app
and asks it which dialect a request belongs to (:meth:`Dialects.for_request`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from flask import Flask, has_request_context, request


@dataclass(frozen=True)
class Dialect:
    name: str
    url_prefix: str
    blueprints: tuple
    """flask-smorest Blueprints, mounted under url_prefix."""
    error_style: str
    """A key of api.error_styles.STYLES."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """Setting -> default; create_app's config, else the environment, else this."""
    make_state: Callable[[Flask, Any], Any] | None = None
    """(app, AppState) -> the dialect's state, kept in the registry under its name."""
    paths: tuple[str, ...] = ()
    """Path prefixes under url_prefix that are this dialect's, for errors
    raised before a route matched (404, 405)."""
    claims: Callable[[], bool] | None = None
    """A request of this dialect whatever route matched (e.g. TaskDriver's
    agent sessions); checked first."""
    ip_rate: Callable[[Any], tuple[int, int] | None] | None = None
    """(the dialect's state) -> a budget per client IP on every route under
    url_prefix, counted on top of the caller's own (None: no such budget);
    api.middleware applies it, outside its open paths."""
    error_schema: type | None = None
    """The marshmallow schema of its error body, when not the shared ``Error``
    (api.error_docs points its operations' error responses at it)."""
    shared_paths: tuple[str, ...] = ()
    """Documented paths of no dialect whose errors may take this dialect's
    style (e.g. one task by id, for a TaskDriver task)."""

    def serves(self, path: str) -> bool:
        return path == self.url_prefix or path.startswith(self.url_prefix.rstrip("/") + "/")

    def owns_path(self, path: str) -> int:
        """Length of the longest of ``paths`` the path falls under (0: none)."""
        return max((len(p) for p in (self.url_prefix + x for x in self.paths) if path.startswith(p)),
                   default=0)


class Dialects:
    """The registered dialects: their states by name, and which dialect a
    request belongs to."""

    def __init__(self) -> None:
        self.dialects: list[Dialect] = []
        self.states: dict[str, Any] = {}
        self._by_blueprint: dict[str, Dialect] = {}

    def add(self, dialect: Dialect, app: Flask, app_state: Any) -> None:
        for name, default in dialect.settings.items():
            if app.config.get(name) is None:
                app.config[name] = os.environ.get(name) or default
        self.dialects.append(dialect)
        for blp in dialect.blueprints:
            self._by_blueprint[blp.name] = dialect
        if dialect.make_state is not None:
            self.states[dialect.name] = dialect.make_state(app, app_state)

    def __getitem__(self, name: str) -> Any:
        return self.states[name]

    def __iter__(self) -> Iterable[Dialect]:
        return iter(self.dialects)

    def for_request(self) -> Dialect | None:
        """The dialect that claims the request, else the one whose blueprint
        matched, else the one whose paths the URL falls under (the longest
        wins); None for a request of no dialect (health, docs, metrics)."""
        if not has_request_context():
            return None
        for d in self.dialects:
            if d.claims is not None and d.claims():
                return d
        if request.blueprint in self._by_blueprint:
            return self._by_blueprint[request.blueprint]
        best = max(self.dialects, key=lambda d: d.owns_path(request.path), default=None)
        return best if best is not None and best.owns_path(request.path) else None
