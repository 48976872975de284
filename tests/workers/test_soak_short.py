"""The soak run of scripts/soak.py, CI-sized: a minute of steady load (500
tasks/s, 1 in 50 failing) with a 3 s retention; Redis memory must level
off (the mean of the last third of the samples within 10 % of the middle
third's). The full run (`python scripts/soak.py`, 10 minutes) is in the
Retention page (docs/operations/retention.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import soak  # noqa: E402

pytestmark = pytest.mark.single_redis  # a private server of its own


def test_memory_levels_off_under_steady_load(tmp_path):
    result = soak.run(minutes=1, rate=500, keep=3, sample=2, fail_every=50, work=tmp_path)
    assert result["sent"] >= 25_000
    curve = [round(s["used_memory"] / 1e6, 2) for s in result["samples"]]
    assert result["growth"] < 0.10, curve
    # and the queue holds only what the retention allows, not what was sent
    assert max(s["tasks"] for s in result["samples"][len(curve) // 3:]) < 10_000, curve
