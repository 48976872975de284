"""The benchmark's Redis-time instrument (scripts/bench_server.py,
scripts/bench_redis_time.py) on a tiny size, against a private redis-server
it starts itself (commandstats are server-wide: the shared test Redis would
count other clients). Only taskq's side: node, Huey and wrk stay out of the
test suite."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench_redis_time  # noqa: E402
from bench_server import CallSplit, PrivateRedis, command_stats, usage  # noqa: E402

# one script call per "task": three HSETs inside it; outside it, one SET and one HSET
SCRIPT = "for i = 1, 3 do redis.call('HSET', KEYS[1], 'f' .. i, ARGV[1]) end return 1"


@pytest.fixture(scope="module")
def server():
    with PrivateRedis() as s:
        yield s


def _workload(r, sha: str, n: int) -> None:
    for i in range(n):
        r.evalsha(sha, 1, f"h{i}", i)
        r.set(f"s{i}", i)
        r.hset(f"p{i}", "f", i)


def test_usage_leaves_out_the_benchmarks_own_commands_and_calls_inside_scripts():
    stats = {"evalsha": (10, 500), "hset": (40, 80), "zcard": (12, 24), "info": (3, 90),
             "config": (1, 30), "set": (10, 20)}
    u = usage(stats, tasks=10, seconds=2.0, client_share={"hset": 0.25},
              own=Counter({"zcard": 12}))
    per = u.per_task()
    assert per["script_us"] == 50 and per["script_calls"] == 1
    # SET all from clients (2 us), a quarter of HSET's calls and time (1 call, 2 us);
    # the benchmark's polls (ZCARD), INFO and CONFIG are not the operation's
    assert per["command_calls"] == pytest.approx(2.0)
    assert per["command_us"] == pytest.approx(4.0)
    assert per["total_us"] == pytest.approx(54.0) and per["rate"] == 5.0


def test_a_known_workload_splits_into_script_and_outside_script_time(server):
    r = server.client
    sha = r.script_load(SCRIPT)
    split = CallSplit(server.url)
    try:
        split.start()
        _workload(r, sha, 20)
    finally:
        shares = split.stop()
    assert shares["hset"] == pytest.approx(0.25)  # 20 of its 80 calls from the client
    assert shares["set"] == 1.0 and shares["evalsha"] == 1.0
    server.flush()
    r.config_resetstat()
    _workload(r, sha, 50)
    stats = command_stats(r)
    assert stats["hset"][0] == 200  # commandstats counts the script's HSETs too
    per = usage(stats, 50, 1.0, shares).per_task()
    assert per["script_calls"] == 1.0 and per["script_us"] > 0
    assert per["command_calls"] == pytest.approx(2.0)  # the SET and the outside HSET only
    assert 0 < per["command_us"] < per["script_us"] + per["command_us"]
    # each figure is rounded to 0.01 µs on its own
    assert per["script_us"] + per["command_us"] == pytest.approx(per["total_us"], abs=0.02)


def test_the_redis_time_table_on_a_tiny_size(server):
    sizes = {"enqueue": 20, "bulk": 300, "claim1": 20, "drain": 200}
    table = bench_redis_time.run_table(server, 1, sizes, sides=("taskq",))
    assert table["redis"].startswith(f"private redis-server {server.version}")
    assert list(table["ops"]) == list(bench_redis_time.OPS)
    for key, op in table["ops"].items():
        fig = op["taskq"]
        assert op["tasks"] == sizes[key] and len(op["runs"]["taskq"]) == 1
        assert fig["script_us"] > 0 and fig["script_calls"] > 0, key
        assert fig["total_us"] == pytest.approx(fig["script_us"] + fig["command_us"])
        assert fig["rate"] > 0 and fig["cpu_us"] >= 0
    # the benchmark's own polls while the worker drains are not the worker's
    assert table["ops"]["drain"]["taskq"]["command_calls"] < 1
    assert server.client.dbsize() == 0  # flushed after the table


def test_the_private_server_goes_away():
    s = PrivateRedis()
    pid = s.proc.pid
    s.stop()
    assert s.proc.poll() is not None and pid
