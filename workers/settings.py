"""The worker layer's environment settings, checked once at start-up.

A bad value ends the process with one line naming the setting, its value and
what is expected (exit status 2), before any task is claimed, instead of a
traceback on the first task that reads it (or a silent default).
"""

from __future__ import annotations

import os
import re

from taskq.keys import QUEUE_NAME_RE

_FLAG_WORDS = {"1", "true", "yes", "on", "0", "false", "no", "off", ""}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingError(ValueError):
    """A setting the worker cannot use; str() is the one line to print."""


def _positive(name: str, cast, what: str) -> None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return
    try:
        ok = cast(raw) > 0
    except ValueError:
        ok = False
    if not ok:
        raise SettingError(f"{name}={raw!r} is not valid: expected {what}")


def check() -> None:
    """Raise SettingError for the first bad TASKQ_* worker setting."""
    _positive("TASKQ_LEASE", float, "seconds, a number above 0 (default 5)")
    _positive("TASKQ_CONCURRENCY", int, "a whole number of threads above 0 (default 8)")
    flag = os.environ.get("TASKQ_ALLOW_COMMANDS")
    if flag is not None and flag.strip().lower() not in _FLAG_WORDS:
        raise SettingError(f"TASKQ_ALLOW_COMMANDS={flag!r} is not valid: expected 1/true/yes/on "
                           f"or 0/false/no/off")
    names = os.environ.get("TASKQ_COMMAND_ENV")
    if names:
        bad = [n.strip() for n in names.split(",") if n.strip() and not _ENV_NAME.match(n.strip())]
        if bad:
            raise SettingError(f"TASKQ_COMMAND_ENV={names!r} is not valid: expected comma-separated "
                               f"environment variable names ({bad[0]!r} is not one)")
    prefix = os.environ.get("TASKQ_PREFIX")
    if prefix is not None and not QUEUE_NAME_RE.match(prefix):
        raise SettingError(f"TASKQ_PREFIX={prefix!r} is not valid: expected 1-128 letters, digits, "
                           f"'_', '.' or '-'")
