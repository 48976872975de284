"""The fast worker: batch claims, a thread pool, pipelined completions.

RQ's fork-per-job model tops out near 150 tasks/s; most tasks are I/O-bound
Python calls that need no process of their own. This worker claims up to
``capacity`` tasks per round trip (the prefetch: 4 per thread by default,
which keeps threads busy without hoarding slow tasks), runs them on ``concurrency`` threads,
completes the finished ones in one script call per queue, renews every
lease it holds (running or prefetched) in one script call per queue, and
sleeps in a blocking pop on the queues' wake keys (pushed by enqueue,
promotion and retries) instead of polling, until its queues' next timer
(a claim says when), claiming then only the queues woken or due
(workers.wake.Plan): an idle worker's cost does not grow with its queues.

Leases are short (taskq.lease.WORKER_LEASE, 5 s), a task's own longer
lease option included: renewing them all costs one call per queue every
third of that, and a SIGKILLed worker's tasks, started or not, are reaped
and run elsewhere within seconds instead of a 30 s lease.

Redis outages are ridden out (workers.outage): the tasks in hand keep
running and their outcomes wait until Redis is back; nothing is claimed
meanwhile; a completion refused then (the lease expired during the outage
and the task went to another worker) is logged, not fatal.

Threads cannot be killed: a callable that outlives its task's timeout is
reported as failed (retryable) and its late result is discarded. Use the
forking rq worker (workers.rq_worker) when a task needs a hard kill. A
shell command can be killed, with everything it started (workers.commands):
at its timeout, on a cancel, when its lease is lost and when the worker
stops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from taskq import Keys, Lease
from taskq.deps import drain_outbox
from taskq.ids import new_token
from taskq.lease import WORKER_LEASE, claim_args, complete_and_claim, leases_from_claim, renew_many
from taskq.keys import DEFAULT_PREFIX, queue_of
from taskq.signal_safe_queue import SignalSafeQueue
from taskq.workflows import Registry
from taskq.workflows.follower import StepFollower
from taskq.worker_registry import HEARTBEAT_INTERVAL, WorkerRegistry, new_worker_id, resource_usage

from .activity import Activity, describe, one_line
from .commands import REAP_SECONDS, stop_commands, wait_commands_gone
from .pool_coroutines import ASYNC_CONCURRENCY, CoroutineMixin
from .execution import TaskError, is_retryable, run_task
from .task_errors import CancelledOnRequest, Stopped
from .outage import OUTAGE_ERRORS, Outage
from .pool_registry import RegistryMixin
from .wake import Plan, Wake, script_command

log = logging.getLogger("taskq.worker")

WAKE_TIMEOUT = 1.0
"""Seconds a wait on the wake keys lasts at most (and a worker with no room
waits for a task's end): how late a stop is noticed when no room is free."""

SPLIT_AT = 16
"""Finished tasks from which a step sends their completion and the next
claim as two round trips at once, the completion from a helper thread on a
connection of its own, instead of one round trip: Redis runs one call while
this process encodes or decodes the other and its threads start on the new
tasks, so a worker draining short tasks no longer alternates between waiting
on Redis and leaving Redis idle (about a quarter more no-op tasks per second
on one process, scripts/bench.py --bullmq). Below it the single round trip
costs less than the hand-off."""


class _Slot:
    """One task in flight: its lease, when it started, and its deadline."""

    __slots__ = ("lease", "deadline", "abandoned", "timed_out")

    def __init__(self, lease: Lease):
        self.lease = lease
        timeout = lease.task.timeout
        self.deadline = time.monotonic() + timeout if timeout else None
        self.abandoned = False
        self.timed_out = False


class PoolWorker(RegistryMixin, CoroutineMixin):
    def __init__(self, redis, queues: list[str], concurrency: int = 8, lease: float = WORKER_LEASE,
                 prefix: str | None = None, worker_id: str | None = None,
                 tags: list[str] | None = None, capacity: int | None = None,
                 url: str | None = None, handlers: Registry | None = None,
                 async_concurrency: int = ASYNC_CONCURRENCY):
        """``handlers``: workflow handlers to publish once registered and
        again after each Redis outage (workers.handlers).
        ``async_concurrency``: ``async def`` tasks run at once on the
        worker's event loop (workers.coroutines), beside the threads."""
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
        self._done = SignalSafeQueue()  # (lease, ok, result or error), waited on by the main loop
        self._inflight: dict[str, _Slot] = {}
        self._stop = threading.Event()
        self._exited = threading.Event()
        self._renew_now = threading.Event()  # ends the keep-alive's wait (see _hand_out)
        self._renew_every = 0.0  # the keep-alive's current wait, seconds
        self._cold = False
        self._cold_event = threading.Event()
        # finished tasks not reported yet (Redis unreachable): kept until it is back
        self._unsent: list[tuple[Lease, Any]] = []
        self._unsent_failures: list[tuple[Lease, BaseException]] = []
        who = f"worker {self.worker_id}"
        self.outage = Outage(log, who, url)
        self.activity = Activity(log, who)
        wake_keys = [self.keys.queue(q).wake for q in self.queues]
        self._wake = Wake(self.redis, wake_keys, WAKE_TIMEOUT)  # on a cluster: a BLPOP per slot
        self._plan = Plan(self.queues, wake_keys)  # which queues the next step claims
        self.handlers = handlers
        self._published_after: int | None = None  # outage.ended when last published
        self._unregistered = False  # Redis was full when it tried (workers/pool_registry.py)
        self._reporter: ThreadPoolExecutor | None = None  # completions beside claims (SPLIT_AT)
        # workflow steps' reads and status follow-ups, off this loop (taskq.workflows.follower)
        self._steps = StepFollower(redis, self.keys)
        self.async_concurrency = max(1, async_concurrency)
        self._coroutines = None  # workers.coroutines.LoopRunner, started by the first async def task
        self._coroutines_lock = threading.Lock()
        self._kinds: dict[str, Any] = {}  # task func -> its coroutine function, or None

    # -- control ----------------------------------------------------------
    def request_stop(self, cold: bool = False) -> None:
        """Warm: finish what is in flight, then exit; shell commands are
        stopped at once (SIGTERM, then SIGKILL) and their tasks given back.
        Cold: kill the commands and give every lease back now."""
        self._cold = self._cold or cold
        stop_commands("stopped", graceful=not self._cold)
        if self._cold:
            self._cold_event.set()
            self._cancel_coroutines("stopped")
        self._stop.set()
        self._wake.interrupt()

    # -- main loop --------------------------------------------------------
    def run(self, burst: bool = False) -> None:
        """Work until a stop is requested (or, in burst mode, until the
        queues are empty and nothing is in flight)."""
        if not self._register():
            return
        self._plan.burst = burst
        threads = [threading.Thread(target=self._execute_loop, daemon=True,
                                    name=f"taskq-exec-{i}") for i in range(self.concurrency)]
        keeper = threading.Thread(target=self._keep_alive, daemon=True, name="taskq-heartbeat")
        for t in threads + [keeper]:
            t.start()
        log.info("worker %s: queues %s, %d threads", self.worker_id, self.queues, self.concurrency)
        try:
            while not self._stop.is_set():
                self.activity.tick()
                try:
                    if self.outage.down and not self.outage.full:  # claim nothing until Redis
                        self.outage.probe(self.redis, self.keys.write_probe)  # answers again
                    self._publish_handlers()
                    self._absorb(self._collect(block=False))
                    # Steady state: one round trip reports what finished and
                    # fetches as much new work as there is room for; a claim
                    # that filled the room may leave more: claim again at once.
                    if self._step(True):
                        continue
                    if self._inflight and len(self._inflight) >= self._capacity:
                        # No room: wait for a task to finish (tokens go to idle peers)
                        self._plan.woken(self._wake.settle())
                        self._absorb(self._collect(block=True, timeout=WAKE_TIMEOUT))
                    elif burst and not self._inflight:
                        break
                    else:  # room: wait for a wake, a due timer or a task's end
                        self._wait_for_work()
                except OUTAGE_ERRORS as exc:
                    self.outage.pause(self.outage.lost(exc), self._stop.is_set)
                    self._plan.all()  # anything may have changed
            self._shutdown()
        finally:
            self._exited.set()
            self._renew_now.set()
            self._wake.close(pipe=True)
            if self._reporter is not None:
                self._reporter.shutdown(wait=True)  # idle: every step waits for its completion
            for _ in threads:
                self._todo.put(None)
            self._close_loop()
            try:
                self.registry.heartbeat(self.worker_id, [], *self._counter_deltas())
                self.registry.deregister(self.worker_id)
            except OUTAGE_ERRORS as exc:
                log.warning("worker %s: could not deregister (Redis %s: %s); the scheduler "
                            "marks it offline", self.worker_id,
                            "full" if self.outage.full else "unreachable", one_line(exc))
            log.info("worker %s stopped: %d completed, %d failed",
                     self.worker_id, self.completed, self.failed)

    def _absorb(self, items: list[tuple[Lease, bool, Any]]) -> None:
        """Take finished tasks off the in-flight list and onto the lists of
        outcomes to report (where they stay through a Redis outage)."""
        for lease, ok, value in items:
            slot = self._inflight.pop(lease.id, None)
            if slot is None or slot.abandoned:
                continue  # already reported (timed out) or given back
            if ok:
                self._unsent.append((lease, value))
            else:
                self._unsent_failures.append((lease, value))

    def _step(self, claim_more: bool) -> bool:
        """Report finished tasks (successes in one call per queue, together
        with the next claim, or beside it from SPLIT_AT on) and take new
        work; True when the claim filled all the room there was (the queues
        may hold more). A Redis outage raises, and leaves the unreported
        outcomes for the next step."""
        while self._unsent_failures:
            lease, exc = self._unsent_failures[0]
            self._report_failure(lease, exc)
            self._unsent_failures.pop(0)
            self._plan.mark(queue_of(lease.id))  # a retry may be queued at once
        room = self._capacity - len(self._inflight) if claim_more else 0
        queues = self._plan.claimable() if room > 0 else []
        successes = self._unsent
        if not successes and not queues:
            return False
        due: dict[str, int] = {}
        if queues and len(successes) >= SPLIT_AT:
            leases = self._complete_beside_claim(successes, queues, room, due)
        else:
            done, leases = complete_and_claim(self.redis, self.keys, successes, queues,
                                              room if queues else 0, self.lease, self.worker_id,
                                              cap=True, resent=True, due=due)
            self._reported_done(successes, done)
        self._hand_out(leases)
        return self._plan.learn(due, bool(queues) and len(leases) >= room)

    def _complete_beside_claim(self, successes: list, queues: list[str], room: int,
                               due: dict[str, int]) -> list[Lease]:
        """Complete ``successes`` from the helper thread while this thread
        claims up to ``room`` tasks; returns the claimed leases. Whichever
        half went through is kept when the other raises (completions are
        not sent again, claimed tasks are handed out) before the error is."""
        if self._reporter is None:
            self._reporter = ThreadPoolExecutor(1, thread_name_prefix="taskq-report")
        completing = self._reporter.submit(partial(
            complete_and_claim, self.redis, self.keys, successes, [], 0, self.lease,
            self.worker_id, cap=True, resent=True))
        try:
            _, leases = complete_and_claim(self.redis, self.keys, [], queues, room,
                                           self.lease, self.worker_id, cap=True, due=due)
        except BaseException:
            try:
                self._reported_done(successes, completing.result()[0])
            except BaseException:
                pass  # the claim's error is raised; the completions are sent again later
            raise
        try:
            done = completing.result()[0]
        except BaseException:
            self._hand_out(leases)
            raise
        self._reported_done(successes, done)
        return leases

    def _reported_done(self, successes: list, done: list[bool]) -> None:
        """Completions went through: forget them, count and log them."""
        self._unsent = []
        self._steps.completed([lease for (lease, _), ok in zip(successes, done) if ok])
        for (lease, _), ok in zip(successes, done):
            if ok:
                self.activity.completed(lease.task)
            else:
                log.warning("worker %s: task %s (%s) finished, but its completion was refused "
                            "(its lease expired or it was cancelled meanwhile)",
                            self.worker_id, lease.id, describe(lease.task))
        self.completed += sum(done)

    def _hand_out(self, leases: list[Lease]) -> None:
        shortest = self.lease
        for lease in leases:
            lease.after = []  # calls a task adds ride with its completion (complete_and_claim)
            self._inflight[lease.id] = _Slot(lease)
            shortest = min(shortest, lease.length)
        if shortest / 3 < self._renew_every:  # a task's own short lease: renew in time for it
            self._renew_now.set()
        leases = self._start_coroutines(leases)  # async def tasks: to the event loop
        self._steps.hand_out(leases, self._todo.put)  # workflow steps once their reads are back

    def _wait_for_work(self) -> None:
        """Room for more: wait on the wake keys until a wake, the next due
        timer, a task's end or a stop. Idle on one queue of one Redis, the
        claim rides behind the BLPOP (it runs the moment a wake arrives, a
        timer is due or a second passed); idle on several, each idle second
        claims one more queue in turn (workers.wake.Plan)."""
        timeout = self._plan.until_due(WAKE_TIMEOUT)
        if timeout <= 0:
            return  # a timer is due: the next step claims its queue
        idle = not self._inflight
        rider, token, room = None, None, self._capacity - len(self._inflight)
        if idle and len(self.queues) == 1 and self._wake.single:
            token = new_token()
            rider = script_command("claim", self.keys.queue(self.queues[0]),
                                   *claim_args(room, token, self.lease, self.worker_id, True))
        woken, reply = self._wake.wait_for(  # a task's end or a stop ends it too
            timeout, rider, lambda: self._stop.is_set() or not self._done.empty())
        self._plan.woken(woken)
        if reply is not None and not isinstance(reply, Exception):  # the rider claimed
            leases = leases_from_claim(reply, token, self.redis, self.keys, self.lease, cap=True)
            if reply[1]:
                drain_outbox(self.redis, self.keys, self.queues[0])
            self._hand_out(leases)
            self._plan.learn({self.queues[0]: int(reply[2])}, len(leases) >= room)
        elif reply is not None:  # NOSCRIPT, say: the next step claims (and loads it)
            self._plan.mark(self.queues[0])
        elif idle and not woken and timeout >= WAKE_TIMEOUT and not self._stop.is_set():
            self._plan.next_in_turn()

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
        """Report a failed attempt (a Redis outage raises: try again later)."""
        message = f"{type(exc).__name__}: {exc}"
        try:
            if isinstance(exc, Stopped):  # the worker stopped: queued again
                lease.release()
                log.info("worker %s: task %s (%s) given back: %s", self.worker_id, lease.id,
                         describe(lease.task), exc)
                return
            if isinstance(exc, CancelledOnRequest):
                status = lease.cancelled(str(exc))
            else:
                status = lease.fail(message, retryable=is_retryable(exc))
        except OUTAGE_ERRORS:
            raise
        except Exception as err:  # lease lost meanwhile: the task is someone else's now
            log.warning("worker %s: task %s (%s) failed (%s), but could not be reported: %s",
                        self.worker_id, lease.id, describe(lease.task), one_line(message),
                        one_line(err))
            return
        self.failed += 1
        self.activity.failure(lease.task, message, status)

    def _execute_loop(self) -> None:
        while True:
            lease = self._todo.get()
            if lease is None:
                return
            try:
                result = run_task(lease, self._run_awaitable)
                self._done.put((lease, True, result))
            except BaseException as exc:  # report everything a task raises
                self._done.put((lease, False, exc))
            self._wake.interrupt()

    # -- leases and registry ----------------------------------------------
    def _keep_alive(self) -> None:
        """Renew held leases every third of their length; time out overdue
        tasks; heartbeat the registry."""
        next_registry = 0.0
        # Runs until the worker has exited, not just until a stop request:
        # a warm shutdown still holds (and must renew) leases while it drains.
        while True:
            self._renew_every = self._renew_interval()
            self._renew_now.wait(self._renew_every)
            self._renew_now.clear()
            if self._exited.is_set():
                break
            try:
                talked, wrote = self._renew_leases(), False
                now = time.monotonic()
                if now >= next_registry:
                    if self._unregistered:  # Redis was full at start
                        self._enter_registry()
                    self.registry.heartbeat(self.worker_id, list(self._inflight),
                                            *self._counter_deltas(), resources=resource_usage())
                    next_registry = now + HEARTBEAT_INTERVAL
                    talked = wrote = True
                if talked:  # renewals go through a full Redis: only a heartbeat ends that
                    self.outage.ok(wrote)
            except OUTAGE_ERRORS as exc:
                self.outage.lost(exc, advance=False)  # the main loop owns the backoff
            except Exception:
                log.exception("heartbeat failed")

    def _renew_interval(self) -> float:
        # A task's own lease option may be shorter than the worker's.
        shortest = min([self.lease] + [s.lease.length for s in list(self._inflight.values())])
        return max(0.05, min(shortest / 3, HEARTBEAT_INTERVAL))

    def _renew_leases(self) -> bool:
        """Renew every held lease, running or waiting for a thread, in one
        script call per queue; False when none is held."""
        slots = list(self._inflight.values())
        if not slots:
            return False
        now = time.monotonic()
        for slot, code in zip(slots, renew_many(self.redis, [s.lease for s in slots])):
            if code == 2:  # cancel requested: a command is killed, a coroutine cancelled
                stop_commands("cancelled", task_id=slot.lease.id)  # (a function may ask)
                self._cancel_coroutine(slot.lease.id, "cancelled")
            if code == 0:
                stop_commands("lost", task_id=slot.lease.id)
                self._cancel_coroutine(slot.lease.id, "lost")
                if self._inflight.pop(slot.lease.id, None) is not None:
                    slot.abandoned = True  # lease lost: its result would be refused
                    log.warning("worker %s: task %s (%s): lease lost while it ran (expired, "
                                "cancelled or deleted); its outcome will be discarded",
                                self.worker_id, slot.lease.id, describe(slot.lease.task))
            elif slot.deadline and now > slot.deadline and not slot.timed_out:
                # reported by the main loop, as any failure (its late result is
                # ignored); a command dies with its task
                slot.timed_out = True
                stop_commands("timeout", task_id=slot.lease.id)
                self._cancel_coroutine(slot.lease.id, "timeout")
                self._done.put((slot.lease, False, _Timeout(slot.lease.task.timeout)))
                self._wake.interrupt()
        return True

    def _counter_deltas(self) -> tuple[int, int]:
        done, failed = self.completed, self.failed
        delta = (done - self._reported[0], failed - self._reported[1])
        self._reported = (done, failed)
        return delta

    def _shutdown(self) -> None:
        """Warm: wait for the tasks in hand and report them, through a Redis
        outage if need be (a cold stop may still come). Cold: give back what
        is still held."""
        self._wake.close()
        while (self._inflight or self._unsent or self._unsent_failures) and not self._cold:
            try:
                if self.outage.down and not self.outage.full:  # a full Redis still drains
                    self.outage.probe(self.redis, self.keys.write_probe)
                self._absorb(self._collect(block=True, timeout=0.1))
                self._step(claim_more=False)
            except OUTAGE_ERRORS as exc:
                self.outage.pause(self.outage.lost(exc), self._cold_event.is_set)
        if self._cold:
            if not wait_commands_gone(REAP_SECONDS + 1.0):
                log.warning("worker %s: a command is still dying as its task is given back",
                            self.worker_id)
            if not self.outage.down:  # one try: what finished (a command stopped) is reported
                try:
                    self._absorb(self._collect(block=False))
                    self._step(claim_more=False)
                except OUTAGE_ERRORS:
                    pass
        unsent = len(self._unsent) + len(self._unsent_failures)
        if unsent:
            log.warning("worker %s: %d finished tasks not reported (Redis unreachable); they "
                        "run again when their leases expire", self.worker_id, unsent)
        for slot in list(self._inflight.values()):
            try:
                slot.lease.release()
            except OUTAGE_ERRORS:
                log.warning("worker %s: could not give back %d tasks (Redis unreachable); they "
                            "run again when their leases expire", self.worker_id,
                            len(self._inflight))
                break
            except Exception:  # lost meanwhile: nothing of ours to give back
                pass
        self._inflight.clear()
        self._steps.stop()


class _Timeout(TaskError):
    def __init__(self, seconds: float | None):
        super().__init__(f"task ran past its timeout of {seconds:g} s")
