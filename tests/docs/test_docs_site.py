"""The documentation site builds (``mkdocs build --strict``: no broken link or
anchor, no page missing from the nav or the nav naming a missing page, every
``:::`` reference resolved), and the README's links into it hold."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def section(text: str, heading: str) -> str:
    start = text.index("\n" + heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_mkdocs_build_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "index.html").is_file()
    reference = (site / "python" / "reference" / "index.html").read_text()
    for name in ("taskq.Queue.enqueue", "taskq.aio.Queue", "taskq.rq.Queue", "taskq.rq.Job"):
        assert f'id="{name}' in reference, name
    for image in (DOCS / "images").iterdir():
        assert (site / "images" / image.name).is_file(), image.name


def test_readme_links_into_the_docs_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)", readme)
    assert links, "the README links into docs/"
    for link in links:
        assert (ROOT / link).exists(), link


def test_quick_start_is_the_same_in_readme_and_docs():
    readme = (ROOT / "README.md").read_text()
    page = (DOCS / "getting-started.md").read_text()
    assert section(readme, "## Quick start") == section(page, "## Quick start")
    assert "bash scripts/run\n" in section(page, "## Set up")
    assert "bash scripts/test\n" in section(page, "## Set up")
