"""The documentation site builds (``mkdocs build --strict``: no broken link or
anchor, no page missing from the nav or the nav naming a missing page, every
``:::`` reference resolved), and the README's links into it hold."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from polling import until

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def section(text: str, heading: str) -> str:
    start = text.index("\n" + heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_mkdocs_build_strict(tmp_path):
    """``taskq docs --build`` (mkdocs build --strict on the checkout's
    mkdocs.yml), run from a folder outside the checkout."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "taskq.cli", "docs", "--build", str(site)],
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


def test_taskq_docs_serves_the_site_on_its_own_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "taskq.cli", "docs", "-a", f"127.0.0.1:{port}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), start_new_session=True)
    def page() -> str | None:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return None

    try:
        text = until(page, "taskq docs to serve the site", timeout=120)
        assert "taskq" in text and "<html" in text.lower()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_taskq_docs_outside_a_checkout_says_where_the_site_comes_from(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from taskq.cli import docs_cmd, main

    monkeypatch.setattr(docs_cmd, "CHECKOUT", tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["docs"])
    assert result.exit_code == 1
    assert "no mkdocs.yml with a docs/ folder" in result.output and "source checkout" in result.output



def test_taskq_docs_build_refuses_a_folder_holding_other_files(tmp_path):
    """MkDocs empties its site folder first: a folder with files of its own is
    refused before anything is deleted."""
    from click.testing import CliRunner

    from taskq.cli import main

    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["docs", "--build", str(tmp_path)])
    assert result.exit_code == 1 and "MkDocs would delete them" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"
