"""``rq info --queue-class workers.rq_worker.TaskqQueue``: RQ's queue lines
read RQ's lists, which taskq never fills; this queue class shows each taskq
queue (of TASKQ_PREFIX) as "<queued>, <running> executing, <completed>
finished, <failed> failed" instead."""

from __future__ import annotations

from rq.queue import Queue as RQQueue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from taskq import Keys
from taskq.keys import DEFAULT_PREFIX
from taskq.queue import Queue as TaskqQueueAPI


def _counted(base: type, status: str) -> type:
    class Counted(base):
        @property
        def count(self) -> int:
            return TaskqQueueAPI(self.name, redis=self.connection).count(status)

    Counted.__name__ = f"Taskq{base.__name__}"
    return Counted


_Started = _counted(StartedJobRegistry, "running")
_Finished = _counted(FinishedJobRegistry, "completed")
_Failed = _counted(FailedJobRegistry, "failed")


class TaskqQueue(RQQueue):
    """``rq info --queue-class workers.rq_worker.TaskqQueue``: lists the
    taskq queues (of TASKQ_PREFIX) with taskq's counts: queued, "executing"
    = running, "finished" = completed, "failed" = failed."""

    @classmethod
    def all(cls, connection=None, job_class=None, serializer=None, death_penalty_class=None):
        names = sorted(n.decode() if isinstance(n, bytes) else n
                       for n in connection.smembers(Keys(DEFAULT_PREFIX).queues))
        return [cls(n, connection=connection, job_class=job_class, serializer=serializer)
                for n in names]

    def counts(self) -> dict[str, int]:
        return TaskqQueueAPI(self.name, redis=self.connection).counts()

    @property
    def count(self) -> int:
        return TaskqQueueAPI(self.name, redis=self.connection).count("queued")

    @property
    def started_job_registry(self):
        return _Started(queue=self, job_class=self.job_class, serializer=self.serializer)

    @property
    def finished_job_registry(self):
        return _Finished(queue=self, job_class=self.job_class, serializer=self.serializer)

    @property
    def failed_job_registry(self):
        return _Failed(queue=self, job_class=self.job_class, serializer=self.serializer)
