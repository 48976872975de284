"""TaskDriver's settings, read and checked: whether login needs a credential
(TASKQ_TASKDRIVER_LOGIN) and how long a session lives
(TASKQ_TASKDRIVER_SESSION_TTL); and the start-up line saying which login
mode is on.

The dialect's state checks them when create_app registers it, and
gunicorn's master before any worker boots (api/gunicorn_conf.py loads the
``settings.py`` of every dialect by path and calls what CHECKS names); so
this module imports nothing of api/: a parser raises ValueError saying what
is expected, and the caller names the setting (api.config.ConfigError).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

LOGIN = "TASKQ_TASKDRIVER_LOGIN"
SESSION_TTL = "TASKQ_TASKDRIVER_SESSION_TTL"
SETTINGS = {LOGIN: "open", SESSION_TTL: "3600"}
"""Setting -> default (environment, or create_app's config)."""


def login_mode(value: Any) -> str:
    """'open' (the default: the login needs only a project id and an agent
    name) or 'credential'; ValueError otherwise."""
    login = str(value or "open").strip().lower()
    if login not in ("open", "credential"):
        raise ValueError("'open' or 'credential'")
    return login


def session_ttl(value: Any) -> float:
    """Seconds a session lives: more than 0 (and finite); ValueError otherwise."""
    try:
        ttl = float(value)
    except (TypeError, ValueError):
        raise ValueError("seconds, more than 0") from None
    if not 0 < ttl < 1e9:
        raise ValueError("seconds, more than 0")
    return ttl


CHECKS: dict[str, Callable[[Any], Any]] = {LOGIN: login_mode, SESSION_TTL: session_ttl}
"""Setting -> its parser, for gunicorn's master (a value set in the environment)."""


startup_log = logging.getLogger("taskq.api.startup")

LOGIN_MODES = {
    "open": "TaskDriver login mode: open (POST /api/auth/login needs no credential: anyone holding "
            "a project id can act as any of its agents; set TASKQ_TASKDRIVER_LOGIN=credential in "
            "production)",
    "credential": "TaskDriver login mode: credential (POST /api/auth/login needs an API key or JWT "
                  "with scope agents:write)",
}


def announce_mode(mode: str) -> None:
    """One start-up line saying which login mode is on (stderr, unless the
    host configured logging for taskq.api.startup)."""
    if not startup_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        startup_log.addHandler(handler)
        startup_log.setLevel(logging.INFO)
        startup_log.propagate = False
    startup_log.info(LOGIN_MODES[mode])
