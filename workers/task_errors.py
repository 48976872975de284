"""Why a task did not complete, as every worker kind reports it."""

from __future__ import annotations


class TaskError(Exception):
    """A task could not run; ``retryable`` says whether another attempt may help."""

    retryable = True


class NothingToRun(TaskError):
    retryable = False


class CommandsDisabled(TaskError):
    retryable = False


class CommandFailed(TaskError):
    pass


class TaskTimeout(TaskError):
    pass


class NotAResult(TaskError):
    """The function returned something that is not its value (a coroutine,
    a generator): running it again would not change that."""

    retryable = False


class CommandStopped(TaskError):
    """The worker stopped and took the command down with it: the task is
    given back (queued again, the attempt not counted), not failed."""


class CommandCancelled(TaskError):
    """A cancel was requested and the command was killed: the task ends
    ``cancelled``."""

    retryable = False


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may help: a TaskError says so, anything else
    a task raised may be passing."""
    return bool(exc.retryable) if isinstance(exc, TaskError) else True
