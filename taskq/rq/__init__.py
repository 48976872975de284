"""RQ's producer API over taskq: move an RQ app by changing its imports.

    from redis import Redis
    from taskq.rq import Queue, Retry          # was: from rq import Queue, Retry

    q = Queue("default", connection=Redis())
    job = q.enqueue(count_words, "https://example.com", retry=Retry(max=3, interval=10))
    job.get_status()                            # 'queued', then 'started', 'finished'
    job.latest_result(timeout=30).return_value

Jobs are taskq tasks (leases, exactly-once completion, the dashboard and
the HTTP dialects see them); the taskq workers run them, including RQ's own
``rq worker`` command with ``-w workers.rq_worker.TaskqWorker`` (the worker
layer; this package, like the rest of taskq/, never imports it). ``Retry``, ``Callback``
and ``Dependency`` are RQ's own classes. rq-scheduler hands its due jobs to
``Scheduler(queue_class="taskq.rq.Queue")`` (taskq.rq.scheduler).
"""

from rq.job import Callback, Dependency, JobStatus, Retry

from .convert import RefusedOption
from .job import Job, cancel_job, get_current_job, requeue_job
from .queue import Queue

__all__ = ["Queue", "Job", "JobStatus", "Retry", "Callback", "Dependency", "RefusedOption",
           "get_current_job", "cancel_job", "requeue_job"]
