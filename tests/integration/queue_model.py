"""A pure-Python model of one taskq queue's state machine, which the
state-machine test (test_state_machine.py) drives side by side with Redis."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from taskq import (CyclicDependencyError, DependencyNotFound, InvalidState, LeaseLost,
                   TaskExists, TaskNotFound)

LEASE_SECONDS = 600.0
TERMINAL = ("completed", "failed", "cancelled")
KEY_LIMITS = {"k1": 1, "k2": 2}
"""Concurrency keys the machine uses, each with one limit (tasks of one key
with different limits are tested in test_concurrency_parking.py: with mixed
limits, which tie a claim takes changes how many it can take)."""


# -- the model -----------------------------------------------------------------

@dataclass
class ModelTask:
    id: str
    priority: int
    max_retries: int
    deps: list[str]
    policy: str
    ckey: str | None = None        # concurrency key (limit: KEY_LIMITS)
    status: str = "queued"
    order: tuple = ()              # place in the queued index while queued
    token: str | None = None       # the token of the task's last lease, while kept
    cancel_requested: bool = False  # cleared by complete and retry
    attempts: int = 0
    retries: int = 0
    waiting: set = field(default_factory=set)     # dependencies not yet ended
    dependents: set = field(default_factory=set)  # tasks waiting on this one
    log_lines: int = 0


class Refused(Exception):
    """The model refuses an operation; ``kind`` is the exception taskq must raise."""

    def __init__(self, kind: type[Exception]):
        super().__init__(kind.__name__)
        self.kind = kind


class Model:
    """The lifecycle in plain Python. Every method mirrors one taskq call."""

    def __init__(self):
        self.tasks: dict[str, ModelTask] = {}
        self.paused = False
        self.stats: Counter = Counter()
        self.step = 0  # tasks made ready in the same call may come in any order

    def begin(self) -> None:
        self.step += 1

    def get(self, task_id: str) -> ModelTask:
        if task_id not in self.tasks:
            raise Refused(TaskNotFound)
        return self.tasks[task_id]

    # internal transitions
    def _make_ready(self, t: ModelTask) -> None:
        t.status = "queued"
        t.order = (-t.priority, self.step)

    def _finish(self, t: ModelTask, status: str) -> None:
        t.status = status
        self.stats[status] += 1
        self._resolve_dependents(t.id, status)

    def _resolve_dependents(self, task_id: str, outcome: str) -> None:
        ended = [(task_id, outcome)]
        while ended:
            src, outcome = ended.pop()
            waiters, self.tasks[src].dependents = self.tasks[src].dependents, set()
            for d in waiters:
                t = self.tasks[d]
                if src not in t.waiting:
                    continue
                t.waiting.discard(src)
                if t.status != "blocked":
                    continue
                if outcome != "completed" and t.policy != "release":
                    t.status = "failed"
                    self.stats["failed"] += 1
                    ended.append((d, "failed"))
                elif not t.waiting:
                    self._make_ready(t)

    # the API
    def enqueue(self, task_id, priority, max_retries, deps, policy, ckey=None) -> str:
        if task_id in deps:
            raise Refused(CyclicDependencyError)
        if task_id in self.tasks:
            raise Refused(TaskExists)
        if any(d not in self.tasks for d in deps):
            raise Refused(DependencyNotFound)
        t = ModelTask(task_id, priority, max_retries, deps, policy, ckey)
        self.tasks[task_id] = t
        self.stats["created"] += 1
        dep_failed = False
        for d in deps:
            st_ = self.tasks[d].status
            if st_ in ("failed", "cancelled"):
                dep_failed = dep_failed or policy != "release"
            elif st_ != "completed":
                t.waiting.add(d)
                self.tasks[d].dependents.add(task_id)
        if dep_failed:
            t.status = "failed"
            self.stats["failed"] += 1
        elif t.waiting:
            t.status = "blocked"
        else:
            self._make_ready(t)
        return t.status

    def queued_in_order(self) -> list[ModelTask]:
        return sorted((t for t in self.tasks.values() if t.status == "queued"),
                      key=lambda t: t.order)

    def busy(self) -> Counter:
        """Running tasks per concurrency key."""
        return Counter(t.ckey for t in self.tasks.values() if t.status == "running" and t.ckey)

    def has_room(self, t: ModelTask, busy: Counter) -> bool:
        return t.ckey is None or busy[t.ckey] < KEY_LIMITS[t.ckey]

    def claimable(self, n: int) -> int:
        """How many tasks a claim of n takes: in queue order, each whose key
        has room (counting those taken before it in the same claim)."""
        busy, taken = self.busy(), 0
        for t in self.queued_in_order():
            if taken == n:
                break
            if self.has_room(t, busy):
                busy[t.ckey] += 1
                taken += 1
        return taken

    def claim(self, task_id: str, token: str) -> None:
        t = self.tasks[task_id]
        assert t.status == "queued" and not self.paused
        t.status, t.token = "running", token
        t.attempts += 1
        self.stats["started"] += 1

    def _holds(self, t: ModelTask, token: str) -> None:
        if t.status != "running" or t.token != token:
            raise Refused(LeaseLost)

    def complete(self, task_id: str, token: str) -> bool:
        t = self.get(task_id)
        if t.status == "completed" and t.token == token:
            return False
        self._holds(t, token)
        t.cancel_requested = False
        self._finish(t, "completed")
        return True

    def fail(self, task_id: str, token: str, retryable: bool, acknowledge_cancel: bool) -> str:
        t = self.get(task_id)
        if t.status in ("failed", "cancelled") and t.token == token:
            return t.status  # a repeated report: the task's final status
        self._holds(t, token)
        if acknowledge_cancel or t.cancel_requested:
            self._finish(t, "cancelled")
            return "cancelled"
        if retryable and t.attempts <= t.max_retries:
            t.token = None
            t.retries += 1
            self.stats["retrying"] += 1
            self._make_ready(t)
            return "retrying"
        self._finish(t, "failed")
        return "failed"

    def release(self, task_id: str, token: str) -> str:
        """The holder gives the task back unused: the attempt does not count.
        A cancel requested meanwhile ends it cancelled, as when its lease
        expires."""
        t = self.get(task_id)
        self._holds(t, token)
        if t.cancel_requested:
            self._finish(t, "cancelled")
            return "cancelled"
        t.token = None
        t.attempts -= 1
        self.stats["released"] += 1
        self._make_ready(t)
        return "queued"

    def holder_call(self, task_id: str, token: str) -> bool:
        """heartbeat / checkpoint / log: the cancel-requested flag, or a refusal."""
        t = self.get(task_id)
        self._holds(t, token)
        return t.cancel_requested

    def cancel(self, task_id: str, force: bool = False) -> str:
        t = self.get(task_id)
        if t.status in ("queued", "delayed", "blocked"):
            self._finish(t, "cancelled")
            return "cancelled"
        if t.status == "running" and force:
            # final at once: the lease is revoked, its holder refused from now on
            t.token, t.cancel_requested = None, False
            self._finish(t, "cancelled")
            return "cancelled"
        if t.status == "running":
            t.cancel_requested = True
            self.stats["cancel_requested"] += 1
            return "cancel_requested"
        raise Refused(InvalidState)

    def retry(self, task_id: str) -> str:
        t = self.get(task_id)
        if t.status not in ("failed", "cancelled"):
            raise Refused(InvalidState)
        t.token, t.cancel_requested = None, False
        t.retries += 1
        self.stats["retrying"] += 1
        if t.waiting:
            t.status = "blocked"
        else:
            self._make_ready(t)
        return t.status

    def delete(self, task_id: str, force: bool) -> None:
        t = self.get(task_id)
        if t.status == "running" and not force:
            raise Refused(InvalidState)
        if t.status not in TERMINAL:
            self._finish(t, "cancelled")
        for d in t.deps:
            if d in self.tasks:
                self.tasks[d].dependents.discard(task_id)
        del self.tasks[task_id]
        self.stats["deleted"] += 1

    def pause(self, paused: bool) -> None:
        self.paused = paused
        self.stats["paused" if paused else "resumed"] += 1
