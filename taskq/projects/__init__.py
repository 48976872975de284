"""Projects and their task types: named queues with defaults, and templates
of the tasks created in them (the stores behind the TaskDriver dialect and
the ``taskq`` project commands). Built on the engine's queues; the engine
itself never imports them."""

from .store import ProjectStore
from .task_types import TaskTypeStore

__all__ = ["ProjectStore", "TaskTypeStore"]
