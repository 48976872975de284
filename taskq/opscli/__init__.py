"""The operator's commands: ``taskq info``, ``taskq tasks ...``,
``taskq queues ...`` (what ``rq info`` is to RQ), ``taskq schedules ...``,
``taskq workflows ...`` and ``taskq migrate``, engine-only.

taskq/cli.py imports this package once, at its end; importing it adds the
commands to the ``taskq`` group. Later features add their groups here too.
"""

from __future__ import annotations

from taskq.cli import main

from .info_cmd import info
from .migrate_cmd import migrate
from .queues_cmd import queues
from .schedules_cmd import schedules
from .tasks_cmd import tasks
from .workflows_cmd import workflows

for _command in (info, migrate, tasks, queues, schedules, workflows):
    main.add_command(_command)
