"""Every Python block of docs/ marked to run is run.

The marker is the HTML comment ``<!-- run -->`` on the line before a
```` ```python ```` fence (it does not show on the site). The marked blocks
of one page run in order, in one child interpreter and one namespace, with
``REDIS_URL`` set to the suite's Redis and a fresh ``TASKQ_PREFIX`` whose
keys are deleted afterwards (never a FLUSH). Mark only blocks that need
nothing but Redis: no worker, no web process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from redis_clients import child_env

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKER = "<!-- run -->"

RUNNER = r'''
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__docs__"}
for where, code in blocks:
    try:
        exec(compile(code, where, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"docs block failed: {where}", file=sys.stderr)
        sys.exit(1)
print(f"ran {len(blocks)} block(s)")
'''


def marked_blocks(path: Path) -> list[tuple[str, str]]:
    """(where, code) of each marked block of a page, in order."""
    lines = path.read_text().split("\n")
    found = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        where = f"{path.relative_to(ROOT)}:{i + 1}"
        fence = lines[i + 1] if i + 1 < len(lines) else ""
        if fence.strip() != "```python":
            raise AssertionError(f"{where}: {MARKER} must come right before a ```python fence")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"{where}: the marked block never closes")
        # line numbers in tracebacks match the page's
        found.append((where, "\n" * (i + 2) + "\n".join(lines[i + 2:end]) + "\n"))
    return found


PAGES = sorted(p for p in DOCS.rglob("*.md") if MARKER in p.read_text())


def test_some_blocks_are_marked():
    assert sum(len(marked_blocks(p)) for p in PAGES) >= 5


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_marked_blocks_run(page, tmp_path, redis_url, prefix, r):
    blocks = marked_blocks(page)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "runner.py").write_text(RUNNER)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "blocks.json")],
        cwd=tmp_path, env=child_env(REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
                                    PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ran {len(blocks)} block(s)" in done.stdout
