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
    error_style: str | Callable[..., dict]
    """A key of api.error_styles.STYLES, or the dialect's own renderer
    ``(status, code, message, details, extra) -> body``."""
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
    scopes: tuple[str, ...] = ()
    """Scopes (permissions) its routes require beyond the shared ones
    (api.auth.SHARED_SCOPES), each ``<namespace>.<resource>:<action>``: a
    token or key may carry them, and ``<namespace>.*`` and
    ``<namespace>.<resource>:*`` grant them (api.auth.Principal.allows)."""
    action_scopes: Mapping[str, str] = field(default_factory=dict)
    """Action of the engine (api.auth names them, e.g. START_WORKFLOW) -> the
    scope its own route for it requires: a dialect or the dashboard doing
    the same thing asks :meth:`Dialects.scope_for` and requires the same."""
    open_paths: tuple[str, ...] = ()
    """Paths under url_prefix served without credentials and outside rate
    limits, each with what lies under it (api.middleware): probes, assets."""
    uncounted_paths: tuple[str, ...] = ()
    """Paths under url_prefix (exact) left out of the HTTP metrics and
    request counts (api.metrics): probes and scrapes."""
    versioned_paths: tuple[str, ...] = ()
    """Paths under url_prefix, each with what lies under it (``""``: all of
    it), that negotiate the API version (``Accept: application/json;
    version=1.0``) and answer ``X-API-Version`` and ``Cache-Control:
    no-store`` (api.middleware), when its document has them."""
    login_paths: tuple[str, ...] = ()
    """Paths under url_prefix (exact) where a POST logs in with guessable
    input: it also counts against TASKQ_LOGIN_RATE_LIMIT per client IP
    (api.middleware)."""

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

    def scopes(self) -> tuple[str, ...]:
        """Every scope the registered dialects declare (no wildcards)."""
        return tuple(s for d in self.dialects for s in d.scopes)

    def scope_for(self, action: str) -> str:
        """The scope a dialect's route requires for ``action``; ``admin``
        when no registered dialect names one (only an admin may)."""
        for d in self.dialects:
            if action in d.action_scopes:
                return d.action_scopes[action]
        return "admin"

    def paths(self, attribute: str) -> tuple[str, ...]:
        """A path field (``open_paths``, ``uncounted_paths``) of every
        dialect, made absolute with its url_prefix."""
        return tuple(d.url_prefix + p for d in self.dialects for p in getattr(d, attribute))

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
