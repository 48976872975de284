"""The app factory (see the package docstring); imported by ``api.create_app``."""

from __future__ import annotations

from inspect import iscoroutinefunction

from flask import Flask, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path
from werkzeug.middleware.proxy_fix import ProxyFix
import redis

from taskq import tracing
from taskq import __version__
from taskq.connection import client_from_url
from taskq.keys import Keys
from taskq.startup import ready

from . import config as config_mod
from . import dashboard, error_docs, errors, schema_extras, health, index, input_guard, metrics, middleware, shared_tasks
from .dialects import DIALECTS
from .dialects.base import Dialects
from .schemas import ErrorSchema
from .services.schedules import FUNCTIONS_SETTING, allowed_functions
from .app_state import AppState



class TaskqFlask(Flask):
    """Flask, asking once per function whether it is a coroutine function:
    Flask asks again for every hook and view of every request (a dozen
    inspections a request). Bound methods are remembered by their function."""

    MAX_KNOWN = 10_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._coroutine: dict = {}

    def ensure_sync(self, func):
        key = getattr(func, "__func__", func)
        try:
            is_async = self._coroutine[key]
        except (KeyError, TypeError):
            is_async = iscoroutinefunction(func)
            if len(self._coroutine) < self.MAX_KNOWN:
                try:
                    self._coroutine[key] = is_async
                except TypeError:  # unhashable callable: asked each time
                    pass
        return self.async_to_sync(func) if is_async else func


class TaskqApi(Api):
    """flask-smorest's Api with taskq's error body and handlers."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        errors.register(self._app)


def _openapi_config(app: Flask) -> None:
    app.config.update(
        API_TITLE="taskq API", API_VERSION=__version__, OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="docs.json",
        OPENAPI_SWAGGER_UI_PATH="/docs", OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        API_SPEC_OPTIONS={
            # Swagger UI renders descriptions as Markdown (raw <x> would be an
            # HTML tag and vanish): placeholders go in code spans.
            "info": {"description": "taskq REST API: the Distributed Task Scheduler and TaskDriver "
                                    "dialects on /api. Authenticate with `Authorization: Bearer <JWT>` "
                                    "or `Authorization: ApiKey <key>`; TaskDriver agents with "
                                    "`Authorization: Bearer <session token>` from POST /api/auth/login."},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "Authorization",
                               "description": "`ApiKey <key>`"},
                "sessionAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "tds_ session token",
                                "description": "a TaskDriver agent session (POST /api/auth/login)"},
            }},
        },
    )


def _start_check(client, prefix: str) -> None:
    """Wait while Redis loads its data set; refuse data in another key
    schema (taskq.schema.SchemaError). A Redis that does not answer is left
    to the requests (503 until it does)."""
    try:
        ready(client, prefix)
    except redis.ConnectionError:
        pass


def create_app(config: dict | None = None) -> Flask:
    cfg = config_mod.load(config)
    settings = config_mod.check(cfg)  # ConfigError: one line naming the bad setting
    app = TaskqFlask("taskq.api", static_folder=None)  # no ./static of the working folder
    app.json.sort_keys = False  # keep the documents' field order ("success" first)
    app.config.update({k: v for k, v in cfg.items() if k != "REDIS"})
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    if settings["trusted_proxies"]:
        n = settings["trusted_proxies"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    client = cfg["REDIS"]
    if client is None:  # a process of its own (gunicorn's master waited already)
        client = client_from_url(cfg["REDIS_URL"] or "redis://127.0.0.1:6379/0")
        _start_check(client, cfg["TASKQ_PREFIX"])
    origins = frozenset(o.strip() for o in str(cfg["TASKQ_CORS_ORIGINS"] or "").split(",") if o.strip())
    app.extensions["taskq"] = AppState(
        redis=client, keys=Keys(cfg["TASKQ_PREFIX"]), jwt_secret=cfg["TASKQ_JWT_SECRET"],
        rate=settings["rate"], rate_ip=settings["rate_ip"], cors_origins=origins,
        rate_login=settings["rate_login"],
        metrics_token=settings["metrics_token"],
        rate_dashboard=settings["rate_dashboard"], dashboard_ttl=settings["dashboard_ttl"],
        schedule_functions=allowed_functions(cfg[FUNCTIONS_SETTING]))

    if tracing.recording():  # requests as OpenTelemetry spans (taskq.tracing)
        tracing.instrument_flask(app)
    _openapi_config(app)
    api = TaskqApi(app)
    middleware.setup_logging()
    middleware.register(app)
    input_guard.register(app)
    app.add_url_rule("/api/docs/static/<path:filename>", "swagger_ui_static",
                     lambda filename: send_from_directory(swagger_ui_path, filename))
    api.register_blueprint(health.blp)
    api.register_blueprint(shared_tasks.blp, url_prefix="/api")
    registry = app.extensions["taskq.dialects"] = Dialects()
    for dialect in DIALECTS:
        registry.add(dialect, app, app.extensions["taskq"])
        for blp in dialect.blueprints:
            api.register_blueprint(blp, url_prefix=dialect.url_prefix)
    dashboard.register(app)
    index.register(app, metrics=bool(cfg["TASKQ_METRICS"]))
    if cfg["TASKQ_METRICS"]:
        metrics.init(app)
        metrics.init_json(app)
        metrics.document_json(api.spec, app)
    error_docs.document(api.spec, registry)
    schema_extras.document(api.spec, api.ma_plugin)
    return app
