"""taskq: a Redis-native task queue, workflow engine and scheduler."""

from .errors import (Conflict, CyclicDependencyError, DependencyNotFound, InvalidState,
                     LeaseLost, RedisFull, TaskCancelled, TaskEnded, TaskExists, TaskExpired,
                     TaskFailed, TaskNotFound, TaskqError, TaskqValueError, WaitTimeout)
from .connection import as_taskq_client
from .context import current_task
from .keys import Keys
from .lease import Lease, claim, complete_many
from .queue import Queue, get_task
from .functions import resolve, task
from .task import Task

__version__ = "0.1.0"


def publish(name: str, payload=None, redis=None, prefix: str | None = None) -> list[str]:
    """Publish event ``name``: every active event schedule waiting for it
    fires one run (see taskq.schedules.publish); returns the run ids."""
    from .schedules import publish as publish_event  # croniter/dateutil only when used
    return publish_event(redis, name, payload, prefix=prefix)


__all__ = [
    "Queue", "Task", "Lease", "Keys", "task", "resolve", "claim", "complete_many", "get_task",
    "current_task", "as_taskq_client", "publish",
    "TaskqError", "TaskqValueError", "CyclicDependencyError", "DependencyNotFound",
    "TaskNotFound", "Conflict", "LeaseLost", "InvalidState", "TaskExists",
    "TaskEnded", "TaskFailed", "TaskCancelled", "WaitTimeout", "RedisFull", "TaskExpired",
]
