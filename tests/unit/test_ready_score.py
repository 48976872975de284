"""The system view counts ready tasks by priority band from the ready
zset's scores, so its SEQ_SPAN must be the one the scripts score with."""

from __future__ import annotations

import re
from pathlib import Path

from api.services import system

CODES = Path(__file__).resolve().parents[2] / "taskq" / "lua" / "includes" / "codes.lua"


def test_seq_span_matches_the_scripts():
    m = re.search(r"^local SEQ_SPAN = (\d+)", CODES.read_text(), re.M)
    assert m and int(m.group(1)) == system.SEQ_SPAN
