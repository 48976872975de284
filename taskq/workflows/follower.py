"""The workflow half of a pool worker, on a thread of its own.

A claimed step needs reads before it runs (its workflow's context and its
inputs, its dependencies' results: step_reads), the workflows of the steps
a worker claims and completes need their status follow-ups
(taskq.workflows.status), and each attempt's facts are counted
(taskq.workflows.outcomes). Made by the worker's loop, each is a round trip
the loop waits on between two claims. Here one thread makes them: the loop
hands it the steps it claimed and the ones whose completion went through,
the runner hands it the facts, and the loop goes on claiming; the thread
sends, in one pipeline of a few script calls, the facts, the filings its
previous round trip prepared, the reads of every step handed to it
meanwhile (with their queue's time after the claim: a step that needs none
may have started its workflow) and the observations of the workflows a
completion may have finished, then passes the steps on to the worker's
threads. What is left to file is filed at once when nothing else waits.

Best effort, as the reads were: a step whose reads failed reads for itself;
a follow-up that failed is the sweep's to make.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from ..connection import as_taskq_client
from ..keys import Keys, WorkflowKeys
from ..lua import execute, script
from ..signal_safe_queue import SignalSafeQueue
from .counters import STATS_TTL
from .states import RUNNER
from .status import (RECORD_FIELDS, changed, derive, file, follow_up, queue_file,
                     queue_observe, queue_records, split_observed)
from .step_reads import queue_prereads

log = logging.getLogger("taskq.workflows")

FLUSH_SECONDS = 0.5
"""How long step facts wait for a round trip to ride with, at most."""


class _Facts(list):
    """A step lease's ``after`` in a pool worker: the runner hands it the
    attempt's facts (``add_fact``), counted in the follower's next batch;
    as a list it stays empty (nothing rides with the completion)."""

    def __init__(self, follower: "StepFollower"):
        super().__init__()
        self.add_fact = follower.add_fact


class StepFollower:
    """Reads for claimed steps and status follow-ups, batched on one thread."""

    def __init__(self, client, keys: Keys):
        self.client = as_taskq_client(client)  # any redis-py client: see taskq.connection
        self.keys = keys
        self._work = SignalSafeQueue()  # its timed get never waits on past a signal
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._facts: list = []  # step attempts' facts (outcomes.fact_args), flattened

    def hand_out(self, leases, put: Callable) -> None:
        """Pass each lease to ``put`` (the worker's run queue): a plain task
        at once, a workflow step once its reads are back (its attempt's
        facts come back here to be counted with others: ``add_fact``)."""
        steps = []
        for lease in leases:
            if lease.task.func == RUNNER:
                lease.after = _Facts(self)
                steps.append(lease)
            else:
                put(lease)
        if steps:
            self._submit(("claimed", steps, put))

    def completed(self, leases) -> None:
        """These leases' completions went through: follow their workflows up."""
        workflows = changed([lease.task for lease in leases], "completed")
        if workflows:
            self._submit(("completed", workflows, None))

    def add_fact(self, values: list) -> None:
        """Count one step attempt's facts (outcomes.fact_args) with the next
        round trip (within FLUSH_SECONDS when nothing else comes)."""
        with self._lock:
            self._facts += values
            if self._thread is None:
                self._start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what was handed over (file the last observations), then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._work.put(None)
            thread.join(timeout)

    def _submit(self, item) -> None:
        with self._lock:
            if self._thread is None:
                self._start()
        self._work.put(item)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="taskq-workflow-steps")
        self._thread.start()

    def _take_facts(self) -> list:
        with self._lock:
            facts, self._facts = self._facts, []
        return facts

    def _run(self) -> None:
        unfiled: tuple[list, list] = ([], [])  # observations, starts (status.queue_file)
        while True:
            try:
                items = [self._work.get(timeout=FLUSH_SECONDS)]
            except queue.Empty:
                items = []  # a quiet moment: send the facts left
            while True:
                try:
                    items.append(self._work.get_nowait())
                except queue.Empty:
                    break
            stopping = None in items
            work = [i for i in items if i is not None]
            claimed = [(lease, put) for kind, steps, put in work if kind == "claimed"
                       for lease in steps]
            derive_seen = None
            facts = self._take_facts()
            if not work and not facts and not stopping:
                continue
            try:
                derive_seen = self._round_trip(work, [lease for lease, _ in claimed], unfiled, facts)
            except Exception as exc:  # noqa: BLE001  (never stall the steps: hand them out)
                log.exception("workflow steps: batch read failed (%s); steps read for themselves", exc)
            for lease, put in claimed:
                put(lease)
            try:
                unfiled = derive_seen() if derive_seen is not None else ([], [])
            except Exception as exc:  # noqa: BLE001  (the sweep files them)
                log.exception("workflow steps: status follow-up failed (%s); the sweep will file it", exc)
                unfiled = ([], [])
            if (unfiled[0] or unfiled[1]) and (stopping or self._work.empty()):
                self._file(*unfiled)
                unfiled = ([], [])
            if stopping:
                return

    def _round_trip(self, items: list, steps: list, unfiled: tuple[list, list], facts: list):
        """Send one pipeline: count the facts handed over, file ``unfiled``
        (observations, starts), read for the claimed ``steps`` (left on their
        leases, with their queue's time after the claim: the start of each
        workflow a step that needs none may have started), observe the
        workflows a completion may have finished. Returns a function making
        (observations, starts) to file next from the replies, called once
        the steps are handed out."""
        started = changed([lease.task for lease in steps], "claimed")  # workflow id -> queue
        ended = list(dict((wid, q) for kind, what, _ in items if kind == "completed"
                          for wid, q in what.items()).items())
        observed: dict[str, list[str]] = {}  # queue -> workflow ids
        for wid, q in ended:
            observed.setdefault(q, []).append(wid)
        wk = WorkflowKeys(self.keys.prefix)
        pipe = self.client.pipeline(transaction=False)
        if facts:
            f = script("wf_facts")
            pipe.evalsha(f.sha, f.numkeys, wk.run_prefix, wk.stats_prefix, STATS_TTL, *facts)
        filing = queue_file(pipe, wk, unfiled[0], 0, unfiled[1])
        first = len(pipe.command_stack)
        reads, leave = queue_prereads(pipe, self.keys, steps, set(started.values()))
        if ended:
            queue_records(pipe, wk, [wid for wid, _ in ended])
        for q, wids in observed.items():
            queue_observe(pipe, self.keys, q, wids)
        replies = execute(pipe, raise_on_error=False)
        times = leave(replies[first:first + reads])

        def derive_seen() -> tuple[list, list]:
            codes = replies[first - 1] if first > (1 if facts else 0) else []
            codes = codes if isinstance(codes, list) else []
            moved = {o.id: o.record["queue"] for o, x in zip(filing, codes) if int(x) == -1}
            if moved:  # filed meanwhile by another follow-up: observe again (rare)
                follow_up(self.client, self.keys, moved)
            starts = [(wid, times[q]) for wid, q in started.items() if q in times]
            at = first + reads
            records = replies[at] if ended else []
            at += 1 if ended else 0
            entries: dict = {}
            for (q, wids), reply in zip(observed.items(), replies[at:]):
                if not isinstance(reply, Exception):
                    entries.update(split_observed(reply, wids))
            seen = []
            if isinstance(records, Exception):
                return seen, starts
            n = len(RECORD_FIELDS)
            for i, (wid, _) in enumerate(ended):
                if wid not in entries:
                    continue
                try:
                    seen.append(derive(wid, *entries[wid], records[i * n:(i + 1) * n]))
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    log.warning("workflow %s: its record does not read (%s); not filed", wid, exc)
            return seen, starts

        return derive_seen

    def _file(self, seen: list, starts: list) -> None:
        try:
            file(self.client, self.keys, seen, started=starts)
        except Exception as exc:  # noqa: BLE001  (the sweep files them)
            log.warning("workflow steps: status follow-up failed (%s); the sweep will file it", exc)
