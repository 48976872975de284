"""gunicorn settings for the ``web`` process (``gunicorn -c api/gunicorn_conf.py``).

Loaded by path, not as ``python:api.gunicorn_conf``: importing the ``api``
package would import prometheus_client in the master before
PROMETHEUS_MULTIPROC_DIR is set, and every worker would inherit
single-process metrics.

Binds $PORT, runs $WEB_CONCURRENCY workers, leaves forwarded headers to
the app (TASKQ_TRUSTED_PROXIES), opens no control socket unless
TASKQ_WEB_CONTROL_SOCKET names one, and sets up prometheus_client's
multiprocess mode: every worker writes its HTTP metrics to files in
PROMETHEUS_MULTIPROC_DIR (emptied at start, a fresh temporary folder unless
given) and any worker's /metrics aggregates them; a dead worker's files are
marked so its gauges disappear.

The TASKQ_* settings are checked here, as the file loads, with api/config.py
loaded by path (the same reason as above): a bad one stops the master
before any worker boots, with one line naming it (exit status 1), instead
of a traceback from every worker; so are a dialect's, when its
``settings.py`` names their checks (CHECKS), loaded by path too. Then Redis (taskq.startup, engine only):
the master waits, with one line, for a Redis that does not answer yet or is
loading its data set, and data in another key schema stops it in one line.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import sys
import tempfile


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_settings() -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    config = _load(os.path.join(here, "config.py"), "_taskq_api_config")
    try:
        cfg = config.load()
        config.check(cfg)
        _check_dialect_settings(here, config.ConfigError)
    except config.ConfigError as exc:
        sys.exit(f"taskq: {exc}")
    return cfg


def _check_dialect_settings(here: str, error) -> None:
    """A dialect's settings set in the environment, checked by the parsers
    its ``settings.py`` names in CHECKS (a module importing nothing of api/)."""
    for path in sorted(glob.glob(os.path.join(here, "dialects", "*", "settings.py"))):
        name = os.path.basename(os.path.dirname(path))
        checks = getattr(_load(path, f"_taskq_dialect_settings_{name}"), "CHECKS", {})
        for setting, parse in checks.items():
            value = os.environ.get(setting)
            if not value:
                continue
            try:
                parse(value)
            except ValueError as exc:
                raise error(setting, value, str(exc)) from None


def _ready_redis(cfg: dict) -> None:
    import redis

    from taskq.connection import DEFAULT_URL, client_from_url
    from taskq.schema import SchemaError
    from taskq.startup import ready_when_reachable

    client = client_from_url(cfg["REDIS_URL"] or DEFAULT_URL)
    try:
        ready_when_reachable(client, cfg["TASKQ_PREFIX"])
    except SchemaError as exc:
        sys.exit(f"taskq: {exc}")
    except redis.RedisError as exc:  # a refused password: waiting will not help
        sys.exit(f"taskq: Redis refused the web process ({type(exc).__name__}: {exc})")
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        client.close()


_ready_redis(_check_settings())

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
accesslog = None            # the app writes its own JSON access log
# X-Forwarded-* are read by the app alone, as far as TASKQ_TRUSTED_PROXIES
# says (ProxyFix, api/app.py): gunicorn itself trusts no peer's forwarded
# scheme, not even on a unix socket (which it would trust whatever the list).
forwarded_allow_ips = ""
secure_scheme_headers: dict = {}
# gunicorn 25.1+ opens a control socket at one path per user by default, which a
# second web process of that user takes over and removes on exit: none, unless
# TASKQ_WEB_CONTROL_SOCKET names this process's own path (for gunicornc).
control_socket_disable = not os.environ.get("TASKQ_WEB_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["TASKQ_WEB_CONTROL_SOCKET"]

_given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_dir = _given or tempfile.mkdtemp(prefix="taskq-prom-")
shutil.rmtree(_dir, ignore_errors=True)
os.makedirs(_dir, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _dir


def on_exit(server):
    if not _given:
        shutil.rmtree(_dir, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
