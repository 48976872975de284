"""taskq's HTTP API: one Flask app serving the REST dialects over the engine.

    gunicorn -c api/gunicorn_conf.py 'api:create_app()'

``create_app(config)`` takes settings from api.config (environment
TASKQ_*, REDIS_URL) overridden by ``config``; tests pass ``REDIS`` (a client)
and ``TASKQ_PREFIX`` to stay isolated. Shared concerns live beside the
dialects: auth, errors and envelopes, rate limits, CORS and security
headers (middleware), one check of hostile input (input_guard), metrics,
OpenAPI docs at /api/docs (Swagger UI served
from the swagger-ui-bundle package, no CDN) and /api/docs.json.

The dialects are the descriptors of api.dialects.DIALECTS, registered in
that order (their settings, state and blueprints). Two share /api: the
Distributed Task Scheduler's (api.dialects.dts) and TaskDriver's
(api.dialects.taskdriver), with one task by id served by api.shared_tasks.
Everything that talks to the engine is in api.services, built once in
api.app_state.AppState.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(config: dict | None = None):
    """The Flask app (api.app.create_app). Imported here on first call, so
    that modules of this package used without an app (``taskq auth``) do not
    load Flask's whole app, the dialects and the docs."""
    from .app import create_app as factory

    return factory(config)
