"""Recording what workflows and their steps did, each fact exactly once.

Two kinds of fact, both counted into per-hour stats hashes (keys.WorkflowKeys.stats,
with a TTL of STATS_TTL) that taskq.workflows.analytics reads:

- A workflow's outcome (complete, error, cancelled), its duration (created
  to its last step's end) and whether a step needed a retry: counted by
  wf_state-5.lua the first time the workflow is filed finished
  (taskq.workflows.status says who files it, and when). Any number of
  workers, readers and sweepers racing count it once. An outcome is
  counted once: a step changed afterwards (a failed step task retried by
  hand) moves the workflow in the indexes but does not count it again.
- A step attempt's duration, whether it was a retry, and the exception class
  name when its code raised. The runner measures them in the worker around
  the step's code (the engine task keeps only the error text and the last
  attempt's times) and counts them with wf_facts-2.lua (a pool worker
  sends a batch's in one call: taskq.workflows.follower), guarded by a
  ``fact:<step>:<attempt>`` marker in the workflow's record, so a repeated
  call counts nothing. The facts are written when the code returns, before
  the worker reports the attempt: a worker killed by SIGKILL while the code
  runs loses that one attempt's facts (the reaped attempt is not counted;
  its retry, a new attempt number, is). A worker killed between the count
  and its report leaves an attempt that was counted and is run again: it
  did run, so counting it is right.
"""

from __future__ import annotations

import re

from ..keys import WorkflowKeys
from ..lua import script
from . import histogram
from .counters import STATS_TTL
ERROR_TYPE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")


def error_type(exc: BaseException) -> str:
    """The exception's class name as a stats field can hold it."""
    name = type(exc).__name__
    return name if ERROR_TYPE_RE.match(name) else "Exception"


def redis_ms(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1000 + int(usec) // 1000


def fact_args(workflow_id: str, step: str, attempt: int, ended_ms: int, duration_ms: int,
              error: str | None, timeout: float | None) -> list:
    """One attempt's values as wf_facts-2.lua takes them (nine, in order)."""
    duration_ms = max(0, int(duration_ms))
    return [workflow_id, step, attempt, int(ended_ms), duration_ms, histogram.bucket(duration_ms),
            error or "", "1" if attempt > 1 else "0", "" if timeout is None else repr(float(timeout))]


def step_fact(wk: WorkflowKeys, workflow_id: str, step: str, attempt: int, ended_ms: int,
              duration_ms: int, error: str | None, timeout: float | None) -> tuple[str, list, list]:
    """The wf_facts-2.lua call (script name, keys, args) that counts one
    attempt of a step, to run now (record_step) or with the attempt's
    completion (taskq.lease.Lease.after). The counters are filed under the
    handler the workflow's record names."""
    return "wf_facts", [wk.run_prefix, wk.stats_prefix], [
        STATS_TTL, *fact_args(workflow_id, step, attempt, ended_ms, duration_ms, error, timeout)]


def record_step(redis, wk: WorkflowKeys, workflow_id: str, step: str, attempt: int,
                ended_ms: int, duration_ms: int, error: str | None, timeout: float | None) -> bool:
    """Count one attempt of a step (see the module docstring); True when
    this call counted it. ``error`` is the exception's class name (None: ok)."""
    name, keys, args = step_fact(wk, workflow_id, step, attempt, ended_ms, duration_ms, error,
                                 timeout)
    return bool(script(name)(redis, keys, args))
