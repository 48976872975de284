"""The fast worker: batch claims, a thread pool, pipelined completions.

RQ's fork-per-job model tops out near 150 tasks/s; most tasks are I/O-bound
Python calls that need no process of their own. This worker claims up to
``capacity`` tasks per round trip (the prefetch: 4 per thread by default,
which keeps threads busy without hoarding slow tasks), runs them on ``concurrency`` threads,
completes the finished ones in one script call per queue, renews every
lease it holds in one pipeline, and sleeps in a blocking pop on the queues'
wake keys (pushed by enqueue, promotion and retries) instead of polling.

Threads cannot be killed: a callable that outlives its task's timeout is
reported as failed (retryable) and its late result is discarded. Use the
forking rq worker (workers.rq_worker) when a task needs a hard kill.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from taskq import Keys, Lease, Task, __version__
from taskq.deps import drain_outbox
from taskq.ids import new_token
from taskq.lease import complete_and_claim
from taskq.keys import DEFAULT_PREFIX
from taskq.lua import call, execute
from taskq.worker_registry import HEARTBEAT_INTERVAL, WorkerRegistry, new_worker_id, resource_usage

from .execution import TaskError, run_task

log = logging.getLogger("taskq.worker")

WAKE_TIMEOUT = 1.0
"""Seconds an idle worker blocks on the wake keys before looking again
(bounds how late it notices a stop request or a due delayed task)."""


class _Slot:
    """One task in flight: its lease, when it started, and its deadline."""

    __slots__ = ("lease", "deadline", "abandoned")

    def __init__(self, lease: Lease):
        self.lease = lease
        timeout = lease.task.timeout
        self.deadline = time.monotonic() + timeout if timeout else None
        self.abandoned = False


class PoolWorker:
    def __init__(self, redis, queues: list[str], concurrency: int = 8, lease: float = 30.0,
                 prefix: str | None = None, worker_id: str | None = None,
                 tags: list[str] | None = None, capacity: int | None = None):
        if not queues:
            raise ValueError("a worker needs at least one queue")
        self.redis = redis
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.queues = list(queues)
        self.concurrency = max(1, concurrency)
        self.capacity = capacity or max(4 * self.concurrency, 16)
        self.lease = lease
        self.worker_id = worker_id or new_worker_id()
        self.tags = tags or []
        self.registry = WorkerRegistry(redis, self.keys)
        self.completed = self.failed = 0
        self._reported = (0, 0)
        self._todo: queue.SimpleQueue[Lease | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[Lease, bool, Any]] = queue.SimpleQueue()
        self._inflight: dict[str, _Slot] = {}
        self._stop = threading.Event()
        self._exited = threading.Event()
        self._cold = False
        self._wake_keys = [self.keys.queue(q).wake for q in self.queues]

    # -- control ----------------------------------------------------------
    def request_stop(self, cold: bool = False) -> None:
        """Warm: finish what is in flight, then exit. Cold: give leases back now."""
        self._cold = self._cold or cold
        self._stop.set()

    # -- main loop --------------------------------------------------------
    def run(self, burst: bool = False) -> None:
        """Work until a stop is requested (or, in burst mode, until the
        queues are empty and nothing is in flight)."""
        self.registry.register(self.worker_id, self.queues, self.tags, __version__, kind="pool")
        threads = [threading.Thread(target=self._execute_loop, daemon=True,
                                    name=f"taskq-exec-{i}") for i in range(self.concurrency)]
        keeper = threading.Thread(target=self._keep_alive, daemon=True, name="taskq-heartbeat")
        for t in threads + [keeper]:
            t.start()
        log.info("worker %s: queues %s, %d threads", self.worker_id, self.queues, self.concurrency)
        try:
            finished: list = []
            claim = True  # False right after a claim that emptied the queues
            while not self._stop.is_set():
                items = finished + self._collect(block=False)
                finished = []
                # Steady state: one round trip reports what finished and
                # fetches as much new work as there is room for; a claim
                # that filled the room may leave more: claim again at once.
                if (items or claim) and self._step(items, claim_more=True):
                    continue
                claim = True
                if self._inflight:
                    # Busy, nothing new: wait for a task to finish (idle
                    # workers, blocked on the wake keys, take new work).
                    finished = self._collect(block=True, timeout=WAKE_TIMEOUT)
                elif burst:
                    break
                else:
                    claim = self._wait_for_work()
            self._shutdown()
        finally:
            self._exited.set()
            for _ in threads:
                self._todo.put(None)
            self.registry.heartbeat(self.worker_id, [], *self._counter_deltas())
            self.registry.deregister(self.worker_id)
            log.info("worker %s stopped: %d completed, %d failed",
                     self.worker_id, self.completed, self.failed)

    def _step(self, items: list[tuple[Lease, Any]], claim_more: bool) -> bool:
        """Report finished tasks (successes in one call per queue, together
        with the next claim) and take new work; True when the claim filled
        all the room there was (the queues may hold more)."""
        successes = []
        for lease, ok, value in items:
            slot = self._inflight.pop(lease.id, None)
            if slot is None or slot.abandoned:
                continue  # already reported (timed out) or given back
            if ok:
                successes.append((lease, value))
            else:
                self._report_failure(lease, value)
        room = self.capacity - len(self._inflight) if claim_more else 0
        if not successes and room <= 0:
            return False
        done, leases = complete_and_claim(self.redis, self.keys, successes, self.queues,
                                          room, self.lease, self.worker_id)
        self.completed += sum(done)
        self._hand_out(leases)
        return room > 0 and len(leases) >= room

    def _hand_out(self, leases: list[Lease]) -> None:
        for lease in leases:
            self._inflight[lease.id] = _Slot(lease)
            self._todo.put(lease)

    def _wait_for_work(self) -> bool:
        """Idle: block on the wake keys, with a claim on the first queue
        pipelined behind the pop, so the claim runs in Redis the moment a
        wake arrives (or the wait ends) instead of a round trip later.
        True when the claim filled the room (claim again at once)."""
        room = self.capacity - len(self._inflight)
        qkeys = self.keys.queue(self.queues[0])
        token = new_token()
        pipe = self.redis.pipeline(transaction=False)
        pipe.blpop(self._wake_keys, timeout=WAKE_TIMEOUT)
        call(pipe, "claim", qkeys, room, token, int(self.lease * 1000), self.worker_id)
        reply = execute(pipe)[1]
        leases = []
        for tid, raw in reply[2:]:
            task = Task.from_hash(tid, raw)
            leases.append(Lease(task, token, self.redis, self.keys, task.lease_seconds or self.lease))
        if reply[1]:
            drain_outbox(self.redis, self.keys, self.queues[0])
        self._hand_out(leases)
        # further queues are asked by the next step, as is the first again
        # when this claim filled the room
        return len(self.queues) > 1 or len(leases) >= room

    def _collect(self, block: bool, timeout: float = 0.0) -> list[tuple[Lease, bool, Any]]:
        items = []
        try:
            if block:
                items.append(self._done.get(timeout=timeout))
            while True:
                items.append(self._done.get_nowait())
        except queue.Empty:
            return items

    def _report_failure(self, lease: Lease, exc: BaseException) -> None:
        retryable = getattr(exc, "retryable", True) if isinstance(exc, TaskError) else True
        try:
            lease.fail(f"{type(exc).__name__}: {exc}", retryable=retryable)
            self.failed += 1
        except Exception as err:  # lease lost meanwhile: the task is someone else's now
            log.warning("could not report failure of %s: %s", lease.id, err)

    def _execute_loop(self) -> None:
        while True:
            lease = self._todo.get()
            if lease is None:
                return
            try:
                result = run_task(lease)
                self._done.put((lease, True, result))
            except BaseException as exc:  # report everything a task raises
                self._done.put((lease, False, exc))

    # -- leases and registry ----------------------------------------------
    def _keep_alive(self) -> None:
        """Renew held leases every third of their length; time out overdue
        tasks; heartbeat the registry."""
        next_registry = 0.0
        # Runs until the worker has exited, not just until a stop request:
        # a warm shutdown still holds (and must renew) leases while it drains.
        while not self._exited.wait(self._renew_interval()):
            try:
                self._renew_leases()
                now = time.monotonic()
                if now >= next_registry:
                    self.registry.heartbeat(self.worker_id, list(self._inflight),
                                            *self._counter_deltas(), resources=resource_usage())
                    next_registry = now + HEARTBEAT_INTERVAL
            except Exception:
                log.exception("heartbeat failed")

    def _renew_interval(self) -> float:
        # A task's own lease option may be shorter than the worker's.
        shortest = min([self.lease] + [s.lease.length for s in list(self._inflight.values())])
        return max(0.05, min(shortest / 3, HEARTBEAT_INTERVAL))

    def _renew_leases(self) -> None:
        slots = list(self._inflight.values())
        if not slots:
            return
        now = time.monotonic()
        pipe = self.redis.pipeline(transaction=False)
        for slot in slots:
            lease = slot.lease
            call(pipe, "heartbeat", lease._qkeys, lease.id, lease.token, int(lease.length * 1000), "renew")
        for slot, reply in zip(slots, execute(pipe, raise_on_error=False)):
            if not isinstance(reply, list) or reply[0] != 1:
                slot.abandoned = True  # lease lost: its result would be refused
                self._inflight.pop(slot.lease.id, None)
            elif slot.deadline and now > slot.deadline:
                slot.abandoned = True
                self._inflight.pop(slot.lease.id, None)
                self._report_failure(slot.lease, _Timeout(slot.lease.task.timeout))

    def _counter_deltas(self) -> tuple[int, int]:
        done, failed = self.completed, self.failed
        delta = (done - self._reported[0], failed - self._reported[1])
        self._reported = (done, failed)
        return delta

    def _shutdown(self) -> None:
        """Warm: wait for the tasks in hand (a cold stop may still come)."""
        while self._inflight and not self._cold:
            self._step(self._collect(block=True, timeout=0.1), claim_more=False)
        for slot in list(self._inflight.values()):
            try:
                slot.lease.release()
            except Exception:  # lost meanwhile: nothing of ours to give back
                pass
        self._inflight.clear()


class _Timeout(TaskError):
    def __init__(self, seconds: float | None):
        super().__init__(f"task ran past its timeout of {seconds:g} s")
