"""Run the README's quick start as a newcomer would, and fail when a step does.

    python scripts/check_readme.py [--readme README.md] [--start-timeout 300]

The "## Quick start" section's first ``sh`` block is the start command: it
runs in the background, from the project folder, with ``REDIS_URL`` unset, a
free ``PORT`` and a fresh ``TASKQ_STATE_DIR`` (so it gets its own embedded
Redis and data, and never touches a start that is already running). Once it
prints ``taskq: ready`` with the URLs on exactly that port and an API key,
the section's other blocks run in order in one ``bash -euo pipefail``
(``python`` blocks through ``python -``, so the README's
``source .venv/bin/activate`` applies to them), with three substitutions a
reader makes by hand: ``localhost:8000`` -> the free port, ``tq_...`` ->
the printed key, ``.taskq/`` -> the fresh state folder.

A trailing comment is an expected output: on a ``print(...)`` line an
output line equal to it, on a ``curl`` line an output line containing it,
in the order written. Every ``<http://localhost:8000/...>`` link of the
section must answer 200. Exit status 0 when all of that holds, else 1 with
what failed and the start's log tail.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Quick start"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
KEY_LINE = re.compile(r"^\s*API key\s+(tq_\S+)", re.M)
LINK = re.compile(r"<(http://localhost:8000/[^>]*)>")


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quick_start(readme: str) -> str:
    start = readme.find("\n" + SECTION + "\n")
    if start < 0:
        raise CheckFailed(f"README has no {SECTION!r} section")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end > 0 else None]


def blocks(section: str) -> list[tuple[str, str]]:
    found = [(lang or "sh", body) for lang, body in FENCE.findall(section)]
    if not found or found[0][0] != "sh":
        raise CheckFailed("the quick start must begin with a sh block: the start command")
    return found


def strip_comment(line: str) -> tuple[str, str | None]:
    """(code, trailing comment) of a line; '#' inside quotes is code."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), None


def expectations(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, text) pairs: 'line' must equal an output line, 'part' be in one."""
    wanted = []
    for lang, body in found:
        for line in body.splitlines():
            code, comment = strip_comment(line)
            if not comment:
                continue
            if lang == "python" and code.lstrip().startswith("print("):
                wanted.append(("line", comment))
            elif lang == "sh" and "curl " in code:
                wanted.append(("part", comment))
    return wanted


def substitute(text: str, port: int, key: str, state: Path) -> str:
    return (text.replace("localhost:8000", f"localhost:{port}")
                .replace("tq_...", key)
                .replace(".taskq/", f"{state}/"))


def walk_script(found: list[tuple[str, str]], port: int, key: str, state: Path) -> str:
    parts = ["set -euo pipefail"]
    for lang, body in found:
        body = substitute(body, port, key, state)
        if lang == "python":
            parts.append(f"python - <<'TASKQ_README_PY'\n{body}TASKQ_README_PY")
        elif lang == "sh":
            parts.append(body)
        else:
            raise CheckFailed(f"a {lang!r} block in the quick start: only sh and python run")
    return "\n".join(parts) + "\n"


def check_output(output: str, wanted: list[tuple[str, str]]) -> None:
    lines = output.splitlines()
    at = 0
    for kind, text in wanted:
        for i in range(at, len(lines)):
            if (lines[i].strip() == text) if kind == "line" else (text in lines[i]):
                at = i + 1
                break
        else:
            raise CheckFailed(f"expected output {text!r} (README comment) not found "
                              f"after line {at} of the walk's output")


def wait_ready(log: Path, proc: subprocess.Popen, port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "taskq: ready" in text and KEY_LINE.search(text):
            api = f"API      http://127.0.0.1:{port}/api"
            if api not in text:
                raise CheckFailed(f"taskq start is ready but not on port {port} ({api!r} missing)")
            return KEY_LINE.search(text).group(1)
        if "taskq: ready" in text:
            raise CheckFailed("taskq start printed no API key on a fresh store")
        if proc.poll() is not None:
            raise CheckFailed(f"the start command exited with code {proc.returncode}")
        time.sleep(0.2)
    raise CheckFailed(f"taskq start was not ready within {timeout:.0f} s")


def check_links(section: str, port: int) -> None:
    for url in LINK.findall(section):
        url = url.replace("localhost:8000", f"localhost:{port}")
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                status = resp.status
        except Exception as exc:  # HTTPError, URLError
            raise CheckFailed(f"{url}: {exc}") from None
        if status != 200:
            raise CheckFailed(f"{url}: status {status}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(readme_path: Path, start_timeout: float, walk_timeout: float) -> None:
    section = quick_start(readme_path.read_text())
    found = blocks(section)
    start_cmd = "\n".join(strip_comment(l)[0] for l in found[0][1].splitlines()).strip()
    port = free_port()
    state = Path(tempfile.mkdtemp(prefix="taskq-readme-"))
    log = state / "start.log"
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "PORT", "TASKQ_BIND", "TASKQ_WEB_PORT", "VIRTUAL_ENV")}
    env.update(PORT=str(port), TASKQ_STATE_DIR=str(state))
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", start_cmd], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        try:
            key = wait_ready(log, proc, port, start_timeout)
            script = walk_script(found[1:], port, key, state)
            walk_env = {k: v for k, v in env.items() if k != "TASKQ_STATE_DIR"}
            walk_env["TASKQ_STATE_DIR"] = str(state)  # `taskq` commands find this start
            done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=walk_env,
                                  capture_output=True, text=True, timeout=walk_timeout)
            if done.returncode != 0:
                raise CheckFailed(f"the walk failed (exit {done.returncode}):\n{script}\n"
                                  f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
            check_output(done.stdout, expectations(found[1:]))
            check_links(section, port)
        except CheckFailed as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise CheckFailed(f"{exc}\n--- taskq start (last lines)\n{tail}") from None
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"the walk took longer than {walk_timeout:.0f} s") from None
    finally:
        stop(proc)
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    parser.add_argument("--start-timeout", type=float, default=300.0,
                        help="seconds for the start (a cold one creates .venv)")
    parser.add_argument("--walk-timeout", type=float, default=120.0)
    opts = parser.parse_args(argv)
    try:
        run(Path(opts.readme), opts.start_timeout, opts.walk_timeout)
    except CheckFailed as exc:
        print(f"check_readme: FAILED: {exc}", file=sys.stderr)
        return 1
    print("check_readme: the quick start works as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
