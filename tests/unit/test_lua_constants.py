"""Constants that Lua and Python both hold must agree: result codes, the
priority range the ready score has room for, the backoff cap, and the
default retry backoff the scripts assume when a task stores none."""

from __future__ import annotations

import re

from taskq import backoff, errors, options
from taskq.lua import LUA_DIR


def lua_constants() -> dict[str, float]:
    found = {}
    for path in (LUA_DIR / "includes").glob("*.lua"):
        for names, values in re.findall(r"^local ([A-Z_, ]+) = (-?\d+(?:, -?\d+)*)", path.read_text(), re.M):
            for name, value in zip(names.split(","), values.split(",")):
                found[name.strip()] = float(value)
    return found


def test_result_codes_match_errors_module():
    lua = lua_constants()
    for name in ("OK", "NOOP", "E_NOT_FOUND", "E_LEASE", "E_STATE", "E_EXISTS", "E_DEP_MISSING"):
        assert lua[name] == getattr(errors, name), name


def test_priority_range_fits_the_ready_score():
    lua = lua_constants()
    assert lua["PRIORITY_MAX"] == options.PRIORITY_MAX == -options.PRIORITY_MIN
    # (PRIORITY_MAX - PRIORITY_MIN) bands of SEQ_SPAN must stay exact in a double
    assert lua["SEQ_SPAN"] == options.SEQ_SPAN
    assert (options.PRIORITY_MAX - options.PRIORITY_MIN + 1) * lua["SEQ_SPAN"] < 2 ** 53


def test_backoff_cap_and_default_base_match():
    assert lua_constants()["BACKOFF_CAP_MS"] == backoff.DEFAULT_CAP_MS
    text = (LUA_DIR / "fail-30.lua").read_text()
    assert f"tonumber(f[7] or '{backoff.DEFAULT_BASE_MS}')" in text
    assert f"f[6] or '{backoff.DEFAULT_STRATEGY}'" in text
