"""pytest plugin for scripts/rq_suite.py: runs RQ's own test suite against taskq.

Loaded in the child pytest with ``-p rq_suite_plugin`` (scripts/ on
PYTHONPATH), cwd = the extracted RQ sdist. It does these things, and
nothing else to RQ or its tests:

* Swap (unless RQ_SUITE_SWAP=0): rq's public classes become taskq.rq's, at
  plugin import, so every ``from rq import Queue`` in the test modules
  (imported later, at collection) gets taskq's. taskq.rq is imported first
  because its classes subclass RQ's originals. Only names taskq.rq defines
  are swapped.
* Redis: RQ's RQTestCase FLUSHDBs the first empty database 4..16 of the
  Redis on localhost:6379, whoever's it is. ``tests.find_empty_redis_database``
  and the bare ``Redis()`` of ``tests`` and its modules are pointed at the
  runner's own server (RQ_SUITE_REDIS_URL) instead; without that variable
  the plugin refuses to run rather than touch someone's data.
* Report: one JSON line per test (nodeid, outcome, first line of the
  error) appended to RQ_SUITE_REPORT as each test ends, so a run killed by
  the runner's overall timeout still leaves the outcomes so far.
* Hangs: a test that pytest-timeout interrupts but whose Timeout is
  swallowed (RQ's Worker.work catches every exception) would pass; it is
  reported failed instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import urlsplit

import pytest
import redis
import rq  # the installed rq, before the sdist root (which holds its own rq/) joins sys.path

SUITE_URL = os.environ.get("RQ_SUITE_REDIS_URL", "")
SWAP = os.environ.get("RQ_SUITE_SWAP", "1") != "0"
REPORT = os.environ.get("RQ_SUITE_REPORT", "")

# Each name taskq.rq may define -> the rq modules whose attribute of that name is replaced;
# the workers come from the worker layer (WORKERS), which taskq.rq does not import.
SWAP_TARGETS = {
    "Queue": ("rq", "rq.queue"),
    "Job": ("rq", "rq.job"),
    "Retry": ("rq", "rq.job"),
    "Callback": ("rq", "rq.job"),
    "Dependency": ("rq", "rq.job"),
    "get_current_job": ("rq", "rq.job"),
}

WORKERS = {"Worker": "TaskqWorker", "SimpleWorker": "TaskqSimpleWorker"}
"""RQ's worker names -> the taskq rq worker classes (workers.rq_worker)."""

SWAPPED: list[str] = []


def swap_classes() -> None:
    """Replace rq's public names with taskq.rq's (those it defines)."""
    import importlib

    import taskq.rq as trq
    from workers import rq_worker

    # Resolve every name before patching any: the worker classes subclass
    # RQ's originals when their module is imported.
    found = {name: getattr(trq, name, None) for name in SWAP_TARGETS}
    targets = dict(SWAP_TARGETS)
    for name, cls in WORKERS.items():
        found[name] = getattr(rq_worker, cls)
        targets[name] = ("rq", "rq.worker")
    for name, new in found.items():
        if new is None:
            continue
        for modname in targets[name]:
            setattr(importlib.import_module(modname), name, new)
        SWAPPED.append(name)


if SWAP:
    swap_classes()


def _suite_address() -> tuple[str, int, int]:
    parts = urlsplit(SUITE_URL)
    db = int(parts.path.strip("/") or 0)
    return parts.hostname or "127.0.0.1", parts.port or 6379, db


class SuiteRedis(redis.Redis):
    """``Redis()`` that defaults to the runner's server, not localhost:6379.

    Explicit host/port/socket/pool arguments (fixtures pass the test
    connection's own kwargs) are left alone.
    """

    def __init__(self, *args, **kwargs):
        if not args and not {"host", "port", "unix_socket_path", "connection_pool"} & kwargs.keys():
            host, port, _ = _suite_address()
            kwargs["host"], kwargs["port"] = host, port
        super().__init__(*args, **kwargs)


def find_empty_redis_database(ssl=False):
    """RQ's helper, on the runner's server: the first empty database of
    4..16, as RQ's does (a worker a previous test class left running may
    still write to the one it used)."""
    if ssl:
        pytest.skip("SSL Redis is not part of the RQ suite run")
    host, port, _ = _suite_address()
    for db in range(4, 17):
        conn = redis.Redis(host=host, port=port, db=db)
        if conn.dbsize() == 0:
            return conn
        conn.close()
    raise AssertionError(f"no empty database 4..16 on {SUITE_URL}")


def _point_tests_at_suite_redis() -> None:
    """Patch the ``tests`` package (and loaded ``tests.*`` modules) so no
    test reaches a Redis other than the runner's."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the sdist root, parent of tests/
    import tests

    if rq.__file__.startswith(os.getcwd()):
        raise pytest.UsageError(f"rq_suite_plugin: rq was imported from the sdist ({rq.__file__}), "
                                f"not the installed rq that taskq.rq subclasses; run pytest with -P")

    tests.find_empty_redis_database = find_empty_redis_database
    _patch_modules()


def _patch_modules() -> None:
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "tests" or name.startswith("tests.")):
            continue
        if getattr(module, "Redis", None) is redis.Redis:
            module.Redis = SuiteRedis
        if getattr(module, "find_empty_redis_database", None) not in (None, find_empty_redis_database):
            module.find_empty_redis_database = find_empty_redis_database


def pytest_configure(config):
    if not SUITE_URL:
        raise pytest.UsageError(
            "rq_suite_plugin: RQ_SUITE_REDIS_URL is not set; run scripts/rq_suite.py "
            "(RQ's tests would otherwise FLUSHDB databases of the Redis on localhost:6379)")
    host, port, _ = _suite_address()
    if port == 6379:
        raise pytest.UsageError(f"rq_suite_plugin: refusing {SUITE_URL}: RQ's tests flush its databases")
    _point_tests_at_suite_redis()
    if config.pluginmanager.hasplugin("pytest_timeout") or config.pluginmanager.hasplugin("timeout"):
        _note_timeouts()
    if REPORT:
        open(REPORT, "w").close()


def pytest_itemcollected(item):
    """A test module is imported by now: repoint its own ``Redis``."""
    _patch_modules()


def pytest_collectreport(report):
    """A module that fails to import has no tests to report: record it."""
    if report.failed:
        _write({"nodeid": report.nodeid, "outcome": "error", "duration": 0.0,
                "message": "collection: " + _first_line(report)})


def pytest_report_header(config):
    mode = f"swap ({', '.join(SWAPPED) or 'nothing: taskq.rq defines none'})" if SWAP else "no-swap"
    return [f"rq_suite: {mode}; Redis {SUITE_URL}"]


_OUTCOMES: dict[str, dict] = {}


def _first_line(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    elif isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        text = str(report.longrepr[2])
    else:
        text = str(report.longrepr or "")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


TIMED_OUT: set[str] = set()


def _note_timeouts() -> None:
    """Record which tests pytest-timeout interrupted (its SIGALRM handler
    looks this function up at call time)."""
    import pytest_timeout

    original = pytest_timeout.timeout_sigalrm

    def timeout_sigalrm(item, settings):
        __tracebackhide__ = True
        TIMED_OUT.add(item.nodeid)
        original(item, settings)

    pytest_timeout.timeout_sigalrm = timeout_sigalrm


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that pytest-timeout interrupted yet passed had the Timeout
    swallowed (RQ's Worker.work catches every exception and quits): it hung,
    so it fails here rather than pass by accident."""
    outcome = yield
    report = outcome.get_result()
    if report.passed and item.nodeid in TIMED_OUT:
        TIMED_OUT.discard(item.nodeid)
        limit = item.config.getoption("timeout", None)
        report.outcome = "failed"
        report.longrepr = (f"hung: ran into the per-test timeout ({limit} s), and the Timeout "
                           f"raised inside the test was swallowed")


def pytest_runtest_logreport(report):
    """Fold setup/call/teardown into one outcome per test: an error in
    setup or teardown is an ``error``, a failing call ``failed``."""
    entry = _OUTCOMES.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed",
                                                 "message": "", "duration": 0.0})
    entry["duration"] += report.duration
    if report.skipped:
        if entry["outcome"] == "passed":
            entry["outcome"], entry["message"] = "skipped", _first_line(report)
    elif report.failed:
        kind = "failed" if report.when == "call" else "error"
        if entry["outcome"] in ("passed", "skipped"):
            entry["outcome"], entry["message"] = kind, _first_line(report)
    if report.when == "teardown":
        _write(entry)


def _write(entry: dict) -> None:
    if REPORT:
        entry["duration"] = round(entry["duration"], 3)
        entry["ended"] = round(time.time(), 3)  # wall clock: shows time spent between tests
        with open(REPORT, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
