"""Retry backoff: how long a failed task waits before its next attempt.

The delay is computed inside the fail script (taskq/lua/includes/backoff.lua)
so that it uses Redis time and is atomic with the transition; this module is
the same formula in Python, for validation, documentation and tests that
check the two agree. The jitter draw comes from the caller (Python's
``random``), because Lua's PRNG in Redis 6.2 scripts is seeded identically on
every call.
"""

from __future__ import annotations

STRATEGIES = ("fixed", "linear", "exponential_jitter")
DEFAULT_STRATEGY = "exponential_jitter"
DEFAULT_BASE_MS = 1_000
"""First retry waits about one second."""
DEFAULT_CAP_MS = 3_600_000
"""No retry waits longer than an hour."""


STEPS_PREFIX = "steps:"
MAX_STEPS = 100
MAX_STEP_MS = 366 * 24 * 3600 * 1000


def steps_strategy(seconds: list) -> str:
    """The strategy text of a list of waits (``steps:<ms>,<ms>,...``): retry
    n waits the n-th, every later one the last (RQ's ``Retry(interval=[...])``).
    Raises ValueError for an empty, too long or negative list."""
    if not seconds or len(seconds) > MAX_STEPS:
        raise ValueError(f"backoff steps: give 1 to {MAX_STEPS} waits")
    out = []
    for s in seconds:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s * 1000 <= MAX_STEP_MS:
            raise ValueError(f"backoff steps: each wait is 0 to {MAX_STEP_MS // 1000} seconds, got {s!r}")
        out.append(str(round(s * 1000)))
    return STEPS_PREFIX + ",".join(out)


def steps_of(strategy: str) -> list[int] | None:
    """The waits (ms) of a steps strategy, else None."""
    if not strategy.startswith(STEPS_PREFIX):
        return None
    return [int(x) for x in strategy[len(STEPS_PREFIX):].split(",") if x]


def delay_ms(strategy: str, attempt: int, jitter: float,
             base_ms: int = DEFAULT_BASE_MS, cap_ms: int = DEFAULT_CAP_MS) -> int:
    """Delay before the retry that follows failed attempt number ``attempt`` (1-based).

    steps (``steps_strategy``): the attempt-th wait, or the last. fixed: base. linear: base * attempt. exponential_jitter: d = base * 2**(attempt-1),
    then "equal jitter": d/2 + jitter * d/2, so retries spread out but never
    collapse to zero. Every strategy is capped at cap_ms.
    """
    attempt = max(1, int(attempt))
    steps = steps_of(strategy)
    if steps is not None:  # uncapped: the caller chose each wait
        return steps[min(attempt, len(steps)) - 1]
    if strategy == "fixed":
        d = base_ms
    elif strategy == "linear":
        d = base_ms * attempt
    elif strategy == "exponential_jitter":
        d = min(cap_ms, base_ms * 2 ** min(attempt - 1, 62))
        d = d / 2 + jitter * d / 2
    else:
        raise ValueError(f"unknown backoff strategy {strategy!r}")
    return int(min(cap_ms, d))
