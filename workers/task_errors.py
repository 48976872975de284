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


class Stopped(TaskError):
    """The worker stopped and took the task's work down with it (a command
    killed, a coroutine cancelled): the task is given back (queued again,
    the attempt not counted), not failed."""


class CommandStopped(Stopped):
    pass


class CancelledOnRequest(TaskError):
    """A cancel was requested and the work stopped (a command killed, a
    coroutine cancelled): the task ends ``cancelled``."""

    retryable = False


class CommandCancelled(CancelledOnRequest):
    pass


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may help: a TaskError says so, anything else
    a task raised may be passing."""
    return bool(exc.retryable) if isinstance(exc, TaskError) else True
