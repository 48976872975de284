"""The ``taskq`` command line: one click group that the layers join.

``base`` holds the group and what every command shares (``--url``, a ready
Redis client, one line for an unreachable Redis). The engine's own commands
are modules here, each imported once below, which adds it to the group:
``taskq start`` (start_cmd), the operator's ``info``, ``tasks``,
``queues``, ``schedules``, ``workflows``, ``migrate`` (what ``rq info`` is
to RQ), ``handlers`` and ``docs``. The upper layers add theirs through the
``taskq.commands`` entry points (pyproject.toml: ``taskq worker`` and
``taskq scheduler`` from workers/cli.py, ``taskq auth`` from api/cli.py), so
this package imports neither workers/ nor api/; such a command's module is
imported only when that command (or ``--help``) is asked for.

To add a command: a click command in a module here (or in an upper layer's
cli module with a line under ``[project.entry-points."taskq.commands"]``),
with ``@url_option`` if it talks to Redis.
"""

from __future__ import annotations

from .base import (DEFAULT_URL, log_to_stderr, main, ready_client, redis_client, stop_flag_on_signals,
                   unreachable_redis_line, url_option)
from .docs_cmd import docs
from .handlers_cmd import handlers
from .info_cmd import info
from .migrate_cmd import migrate
from .queues_cmd import queues
from .schedules_cmd import schedules
from .start_cmd import start
from .tasks_cmd import tasks
from .workflows_cmd import workflows

for _command in (start, info, migrate, tasks, queues, schedules, workflows, handlers, docs):
    main.add_command(_command)

__all__ = ["DEFAULT_URL", "log_to_stderr", "main", "ready_client", "redis_client", "stop_flag_on_signals",
           "unreachable_redis_line", "url_option"]
