"""How many generated examples a property test runs: its own figure times
TASKQ_TEST_EXAMPLES_SCALE (default 1). The cluster pass of scripts/test runs
the same properties a second time, on another topology, at half the budget;
a developer hunting a bug may set 4 or more."""

from __future__ import annotations

import os


def examples(n: int) -> int:
    try:
        scale = float(os.environ.get("TASKQ_TEST_EXAMPLES_SCALE", "1"))
    except ValueError:
        scale = 1.0
    return max(1, round(n * scale))
