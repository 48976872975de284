"""taskq: a Redis-native task queue, workflow engine and scheduler."""

from .errors import (Conflict, CyclicDependencyError, DependencyNotFound, InvalidState,
                     LeaseLost, TaskCancelled, TaskEnded, TaskExists, TaskFailed, TaskNotFound,
                     TaskqError, TaskqValueError, WaitTimeout)
from .connection import as_taskq_client
from .context import current_task
from .keys import Keys
from .lease import Lease, claim, complete_many
from .queue import Queue, get_task
from .functions import resolve, task
from .task import Task

__version__ = "0.1.0"

__all__ = [
    "Queue", "Task", "Lease", "Keys", "task", "resolve", "claim", "complete_many", "get_task",
    "current_task", "as_taskq_client",
    "TaskqError", "TaskqValueError", "CyclicDependencyError", "DependencyNotFound",
    "TaskNotFound", "Conflict", "LeaseLost", "InvalidState", "TaskExists",
    "TaskEnded", "TaskFailed", "TaskCancelled", "WaitTimeout",
]
