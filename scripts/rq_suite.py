"""Run RQ's own test suite against taskq's RQ-compatible classes.

    .venv/bin/python scripts/rq_suite.py                # swap in taskq.rq, per-file table
    .venv/bin/python scripts/rq_suite.py --no-swap      # RQ's own classes: harness sanity check
    .venv/bin/python scripts/rq_suite.py --check        # exit 1 on a failure not in the known list
    .venv/bin/python scripts/rq_suite.py --write-known  # rewrite tests/rq_suite_known.txt
    .venv/bin/python scripts/rq_suite.py -- -k dependency   # extra pytest arguments

taskq.rq claims RQ compatibility; RQ's own tests are the fairest judge of
that claim. None of them live in this repository: the RQ sdist (its tests
ship only there) is downloaded with pip at run time into
``${XDG_CACHE_HOME:-~/.cache}/taskq/rq-suite/`` and extracted once. pytest
runs in the extracted tree with RQ's own pytest config and
scripts/rq_suite_plugin.py, which swaps the classes and points the tests
at a throwaway redis-server this script starts: RQ's RQTestCase flushes
databases 4..16 of the Redis on localhost:6379, so the suite must never
see that one.

tests/rq_suite_known.txt lists the RQ tests known to fail against taskq,
``<nodeid>  <kind>  <reason>``, kind ``a`` (the test reads RQ's own
storage: key names, registry internals, job hash fields) or ``b`` (a
difference a user would notice). ``--check`` fails on a failure that is not
listed and reports listed tests that now pass; ``--write-known`` rewrites
the list from this run, keeping the kind and reason of the tests that stay.

Exit codes: 0 done (or check passed), 1 check found unlisted failures,
2 the harness itself failed (download, Redis, pytest could not run, timeout).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

RQ_VERSION = "2.12.0"
SDIST = f"rq-{RQ_VERSION}.tar.gz"
FILES = [
    "tests/test_queue.py",
    "tests/test_job.py",
    "tests/test_dependencies.py",
    "tests/test_job_dependency.py",
    "tests/test_retry.py",
    "tests/test_callbacks.py",
    "tests/test_results.py",
]
REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
KNOWN = REPO / "tests" / "rq_suite_known.txt"
OVERALL_TIMEOUT = 15 * 60
TEST_TIMEOUT = 120
"""Per test. Not 60: RQ's own Worker.work() (--no-swap) now and then takes
60 s to return, its teardown waiting out the command thread's 60 s read under
redis-py 8 (workers/rq_process.py COMMAND_POLL), and that wait alone must not
fail a test."""
FAILING = ("failed", "error")
UNCLASSIFIED = ("?", "unclassified")
KNOWN_HEADER = f"""\
# RQ {RQ_VERSION} tests (from its sdist) known to fail against taskq.rq: scripts/rq_suite.py --check
# fails on any other failure; --write-known rewrites this list, keeping kinds and reasons.
# <nodeid>  <kind>  <reason>
#   a: the test reads RQ's own storage (key names, registry internals, job hash fields)
#   b: a behaviour a user would notice
#   ?: not classified yet
"""


class HarnessError(RuntimeError):
    """The suite could not be run at all (exit 2)."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "taskq" / "rq-suite"


def fetch_sdist(cache: Path) -> Path:
    """The extracted sdist, downloading and extracting it only when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    tree = cache / f"rq-{RQ_VERSION}"
    if (tree / "tests" / "__init__.py").is_file():
        return tree
    tarball = cache / SDIST
    if not tarball.is_file():
        print(f"rq_suite: downloading the rq {RQ_VERSION} sdist into {cache}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"rq=={RQ_VERSION}", "-d", str(cache)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"pip download of rq=={RQ_VERSION} took over 300 s") from None
        if done.returncode != 0 or not tarball.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise HarnessError(f"could not download the rq=={RQ_VERSION} sdist "
                               f"(pip exit {done.returncode}, expected {tarball}):\n{tail}")
    # Extract beside the final name, then rename: an interrupted extraction
    # never passes for a complete tree.
    work = Path(tempfile.mkdtemp(prefix="extract-", dir=cache))
    try:
        with tarfile.open(tarball) as tar:
            if hasattr(tarfile, "data_filter"):  # 3.11.4+: refuses links and paths out of work
                tar.extractall(work, filter="data")
            else:
                tar.extractall(work)
        extracted = work / f"rq-{RQ_VERSION}"
        if not (extracted / "tests" / "__init__.py").is_file():
            raise HarnessError(f"{tarball} holds no rq-{RQ_VERSION}/tests/: not RQ's sdist?")
        shutil.rmtree(tree, ignore_errors=True)
        extracted.rename(tree)
    except (tarfile.TarError, OSError) as exc:
        raise HarnessError(f"could not extract {tarball}: {exc} (delete it to download again)") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tree


def read_report(path: Path) -> dict[str, dict]:
    """The plugin's JSON lines, one outcome per nodeid (last one wins)."""
    outcomes: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                outcomes[entry["nodeid"]] = entry
    return outcomes


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child pytest's session: it and any worker or horse a
    test forked and left behind."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_pytest(tree: Path, url: str, swap: bool, report: Path, log: Path, extra: list[str],
               overall_timeout: float, test_timeout: int, verbose: bool) -> int | None:
    """Run the suite in ``tree``; returns pytest's exit code, None when it
    ran out of time (then it is killed, with what it started)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS), env.get("PYTHONPATH")]))
    env["RQ_SUITE_REDIS_URL"] = url
    env["RQ_SUITE_SWAP"] = "1" if swap else "0"
    env["RQ_SUITE_REPORT"] = str(report)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # none of the venv's other plugins
    env.pop("PYTEST_ADDOPTS", None)
    # -P: the sdist's own rq/ must not shadow the installed rq that taskq.rq subclasses
    # (the same release; the plugin imports rq before pytest puts the tree on sys.path).
    cmd = [sys.executable, "-P", "-m", "pytest",
           "-p", "rq_suite_plugin", "-p", "pytest_timeout", "-p", "no:cacheprovider",
           "-c", str(tree / "pyproject.toml"), "--rootdir", str(tree),
           "--timeout", str(test_timeout), "-q", "-rfE", "--tb=short",
           *FILES, *extra]
    with open(log, "w") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

        def tee() -> None:
            for raw in proc.stdout:
                text = raw.decode(errors="replace")
                out.write(text)
                if verbose:
                    sys.stdout.write(text)
                    sys.stdout.flush()

        reader = threading.Thread(target=tee, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=overall_timeout)
        except subprocess.TimeoutExpired:
            code = None
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        _kill_group(proc)  # on time: the session's leftovers, if any; late: all of it
        if code is None:
            proc.wait()
        reader.join(5)
    return code


def summarize(outcomes: dict[str, dict]) -> list[tuple[str, Counter]]:
    per_file: dict[str, Counter] = {name: Counter() for name in FILES}
    for nodeid, entry in outcomes.items():
        per_file.setdefault(nodeid.split("::")[0], Counter())[entry["outcome"]] += 1
    return list(per_file.items())


def print_table(rows: list[tuple[str, Counter]], title: str) -> None:
    cols = ("passed", "failed", "error", "skipped")
    width = max(len(name) for name, _ in rows + [("TOTAL", None)])
    print(title)
    print(f"{'file':<{width}}  {'passed':>6}  {'failed':>6}  {'errors':>6}  {'skipped':>7}  {'total':>5}")
    total: Counter = Counter()
    for name, counts in rows + [("TOTAL", None)]:
        if counts is None:
            counts = total
            print("-" * (width + 42))
        else:
            total.update(counts)
        n = sum(counts.values())
        print(f"{name:<{width}}  {counts[cols[0]]:>6}  {counts[cols[1]]:>6}  {counts[cols[2]]:>6}  "
              f"{counts[cols[3]]:>7}  {n:>5}")


def read_known(path: Path) -> dict[str, tuple[str, str]]:
    """nodeid -> (kind, reason) from the known-failures file."""
    known: dict[str, tuple[str, str]] = {}
    if not path.is_file():
        return known
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) == 1:
            known[parts[0]] = UNCLASSIFIED
        elif len(parts) == 2:
            known[parts[0]] = (parts[1], "")
        else:
            known[parts[0]] = (parts[1], parts[2])
    return known


def write_known(path: Path, known: dict[str, tuple[str, str]], outcomes: dict[str, dict]) -> int:
    """This run's failures, keeping recorded kinds/reasons; tests this run
    did not reach (``-k``, a timeout) keep their lines."""
    keep = {nodeid: value for nodeid, value in known.items() if nodeid not in outcomes}
    for nodeid, entry in outcomes.items():
        if entry["outcome"] in FAILING:
            keep[nodeid] = known.get(nodeid, UNCLASSIFIED)
    lines = [f"{nodeid}  {kind}  {reason}".rstrip() for nodeid, (kind, reason) in sorted(keep.items())]
    path.write_text(KNOWN_HEADER + "\n".join(lines) + ("\n" if lines else ""))
    return len(lines)


def check(known: dict[str, tuple[str, str]], outcomes: dict[str, dict], path: Path) -> bool:
    """Print regressions and fixed tests; False when a failure is not listed."""
    new = sorted(n for n, e in outcomes.items() if e["outcome"] in FAILING and n not in known)
    fixed = sorted(n for n, e in outcomes.items() if e["outcome"] == "passed" and n in known)
    if fixed:
        print(f"\n{len(fixed)} listed test(s) now pass (trim them with --write-known):")
        for nodeid in fixed:
            print(f"  {nodeid}")
    if new:
        print(f"\n{len(new)} failure(s) not in {path}:")
        for nodeid in new:
            print(f"  {nodeid}  [{outcomes[nodeid]['outcome']}] {outcomes[nodeid]['message']}")
        return False
    print(f"\ncheck: every failure is listed ({sum(1 for n in outcomes if n in known)} listed tests ran)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/rq_suite.py",
        description=f"Run RQ {RQ_VERSION}'s own tests against taskq.rq (pytest arguments after --).")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--swap", dest="swap", action="store_true", default=True,
                      help="swap in taskq.rq's classes (default)")
    mode.add_argument("--no-swap", dest="swap", action="store_false",
                      help="RQ's own classes: checks the harness (nearly all should pass)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"sdist cache (default {default_cache()})")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 on a failure not listed in tests/rq_suite_known.txt")
    parser.add_argument("--write-known", action="store_true",
                        help="rewrite tests/rq_suite_known.txt with this run's failures")
    parser.add_argument("--known", type=Path, default=KNOWN, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="write per-test outcomes here")
    parser.add_argument("--timeout", type=float, default=OVERALL_TIMEOUT,
                        help=f"overall seconds for the pytest run (default {OVERALL_TIMEOUT})")
    parser.add_argument("--test-timeout", type=int, default=TEST_TIMEOUT,
                        help=f"seconds per test (default {TEST_TIMEOUT})")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    parser.add_argument("--failures", action="store_true",
                        help="list every failing test with its first error line")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    opts = parser.parse_args(argv)
    if (opts.check or opts.write_known) and not opts.swap:
        parser.error("--check and --write-known compare taskq.rq's run: not with --no-swap")

    try:
        return run(opts, extra)
    except HarnessError as exc:
        print(f"rq_suite: {exc}", file=sys.stderr)
        return 2


def run(opts, extra: list[str]) -> int:
    if opts.swap and importlib.util.find_spec("taskq.rq") is None:
        raise HarnessError("taskq.rq is not importable: nothing to swap in (use --no-swap "
                           "to check the harness with RQ's own classes)")
    cache = (opts.cache or default_cache()).expanduser().resolve()
    tree = fetch_sdist(cache)

    from taskq.local.embedded import start_server

    try:
        server = start_server(persistent=False)
    except RuntimeError as exc:
        raise HarnessError(f"could not start a Redis for the suite: {exc}") from None
    mode = "swap" if opts.swap else "no-swap"
    report = cache / f"report-{mode}-{os.getpid()}.jsonl"
    log = cache / f"pytest-{mode}.log"
    started, wall_started = time.monotonic(), time.time()
    try:
        code = run_pytest(tree, server.url, opts.swap, report, log, extra,
                          opts.timeout, opts.test_timeout, opts.verbose)
        outcomes = read_report(report)
    finally:
        server.stop()
        report.unlink(missing_ok=True)
    elapsed = time.monotonic() - started

    if code is None:
        if outcomes:
            print_table(summarize(outcomes), f"RQ {RQ_VERSION} test suite, {mode}: "
                        f"INCOMPLETE, the tests that ran within {opts.timeout:.0f} s:")
        raise HarnessError(f"the suite did not finish within {opts.timeout:.0f} s and was "
                           f"killed; log {log}")
    if code not in (0, 1) or not outcomes:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise HarnessError(f"pytest could not run the suite (exit {code}); log {log}:\n{tail}")

    print_table(summarize(outcomes), f"RQ {RQ_VERSION} test suite, {mode} "
                f"({'taskq.rq classes' if opts.swap else 'RQ classes'}), {elapsed:.0f} s:")
    print(f"(pytest log: {log})")
    collection = [n for n, e in outcomes.items() if e["message"].startswith("collection:")]
    for nodeid in collection:
        print(f"rq_suite: {nodeid} did not import: {outcomes[nodeid]['message']}", file=sys.stderr)
    if opts.failures:
        failing = sorted(n for n, e in outcomes.items() if e["outcome"] in FAILING)
        print(f"\n{len(failing)} failing:")
        for nodeid in failing:
            print(f"  {nodeid}  [{outcomes[nodeid]['outcome']}] {outcomes[nodeid]['message']}")

    if opts.json:
        opts.json.write_text(json.dumps({
            "rq_version": RQ_VERSION, "mode": mode, "seconds": round(elapsed, 1),
            "started": round(wall_started, 3),
            "pytest_exit": code, "tests": sorted(outcomes.values(), key=lambda e: e["nodeid"]),
        }, indent=1) + "\n")

    known = read_known(opts.known)
    ok = check(known, outcomes, opts.known) if opts.check else True
    if opts.write_known:
        count = write_known(opts.known, known, outcomes)
        print(f"wrote {count} known failure(s) to {opts.known}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
