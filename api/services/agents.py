"""Agents over HTTP: lease the next task, and extend, complete or fail it.

An agent is a name, not a record: the agents of a project are the holders
of its queue's live leases. next-task gives an agent the task it already
holds (a reconnect, read from the agent's own lease index, never from the
whole project's leases) or claims the next one for it by priority (Queue.claim
with worker=<agent>; the task carries its lease length). One next-task call
per agent and project runs at a time (a short Redis lock), so an agent
retrying a call does not end up holding two tasks.

The HTTP agent never sees its lease token. To act on a task the API reads
the task's current token and holder, checks the holder is the calling agent,
and calls the engine's fenced transition with that token: if the lease was
lost in between (expired, reclaimed, leased to another agent) the engine
refuses and the caller gets 409.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import LockError

from taskq import Lease, Task
from taskq.errors import Conflict, InvalidState, LeaseLost
from taskq.monitoring.latency import note_poll
from taskq.projects.store import Project, ProjectStore, project_of_queue

from ..errors import ApiError
from .tasks import TaskService

LOCK_SECONDS = 10
"""A next-task call holds its agent's lock at most this long."""
LOCK_WAIT = 5
"""Seconds a second call of the same agent waits for the first."""


class AgentService:
    def __init__(self, tasks: TaskService, projects: ProjectStore):
        self.redis, self.keys, self.tasks, self.projects = tasks.redis, tasks.keys, tasks, projects

    def next_task(self, project: Project, agent: str) -> Task | None:
        if project.status != "active":
            raise InvalidState(f"project {project.id} is closed", status="closed")
        lock = self.redis.lock(self.projects.tk.agent_lock(project.id, agent), timeout=LOCK_SECONDS,
                               blocking_timeout=LOCK_WAIT)
        if not lock.acquire():
            raise Conflict(f"another next-task call of agent {agent!r} is still running", status="busy")
        try:
            # Redis's clock for the lease check, and the mark that agents serve
            # this queue (taskq.monitoring.latency), in one round trip
            pipe = self.redis.pipeline(transaction=False)
            pipe.time()
            note_poll(pipe, self.keys, project.queue)
            (sec, usec), _ = pipe.execute(raise_on_error=False)  # a mark a full Redis refused is no error
            for task_id in self.projects.held_by(project.id, agent,
                                                 now_ms=int(sec) * 1000 + int(usec) // 1000):
                return self.tasks.get(task_id)
            q = self.tasks.queue(project.queue)
            leases = q.claim(n=1, lease=float(project.lease_minutes) * 60, worker=agent)
            return leases[0].task if leases else None
        finally:
            try:
                lock.release()
            except LockError:  # it outlived LOCK_SECONDS: already gone
                pass

    def _held(self, task_id: str, agent: str, project_id: str | None,
              done: tuple[str, ...] = ()) -> tuple[Task, Lease | None]:
        """The task and a lease built from its current token, once the
        holder is ``agent``; no lease when this agent already finished it
        with one of the ``done`` statuses (a repeated call)."""
        task = self.tasks.get(task_id)
        if project_id is not None and project_of_queue(task.queue) != project_id:
            raise ApiError(403, "forbidden", "this session may only act on its own project's tasks")
        if task.status in done and task.worker == agent:
            return task, None
        if task.status != "running":
            raise InvalidState(f"task {task_id} is not running (it is {task.status})", status=task.status)
        if task.worker != agent:
            raise LeaseLost(f"task {task_id} is not leased to agent {agent!r}", status=task.status)
        return task, Lease(task, task.raw.get("token", ""), self.redis, self.keys,
                           task.lease_seconds or 0)

    def complete(self, task_id: str, agent: str, result: Any, outputs: dict | None,
                 project_id: str | None = None) -> Task:
        """Complete with the result and outputs; completing again is harmless."""
        _, lease = self._held(task_id, agent, project_id, done=("completed",))
        if lease is not None:
            lease.complete({"result": result, "outputs": outputs or {}})
        return self.tasks.get(task_id)

    def fail(self, task_id: str, agent: str, error: str, can_retry: bool,
             project_id: str | None = None) -> tuple[Task, str]:
        """Fail this attempt: 'retrying' (queued again at once), 'failed' or 'cancelled'."""
        task, lease = self._held(task_id, agent, project_id, done=("failed", "cancelled"))
        outcome = task.status if lease is None else lease.fail(error, retryable=can_retry)
        return self.tasks.get(task_id), outcome

    def extend(self, task_id: str, agent: str, minutes: float, project_id: str | None = None) -> Task:
        """Push the lease's expiry ``minutes`` later."""
        _, lease = self._held(task_id, agent, project_id)
        lease.extend(minutes * 60)
        return self.tasks.get(task_id)
