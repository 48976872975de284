"""The suite never reads a developer's local state: a ``taskq start``
running in this folder leaves ``.taskq/redis.url``, which a CLI call without
``--url`` would otherwise follow into that developer's Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from taskq.cli import main
from taskq.local.state_files import url_file

from redis_clients import child_env

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "redis://127.0.0.1:1/15"
"""A URL no test may reach: planted where a developer's taskq start writes."""


def test_the_run_keeps_its_state_out_of_the_working_folder():
    state = Path(os.environ["TASKQ_STATE_DIR"]).resolve()
    assert not state.is_relative_to(ROOT)
    assert url_file().resolve().parent == state
    assert os.environ["REDIS_URL"] == os.environ.get("TASKQ_TEST_REDIS_URL", os.environ["REDIS_URL"])


def test_a_cli_call_in_a_folder_with_a_running_start_ignores_it(tmp_path, monkeypatch):
    (tmp_path / ".taskq").mkdir()
    (tmp_path / ".taskq" / "redis.url").write_text(SENTINEL + "\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["queues", "list", "--json"])
    assert "127.0.0.1:1" not in result.output + (result.stderr or "")


def test_a_child_process_keeps_the_runs_state_folder(tmp_path):
    (tmp_path / ".taskq").mkdir()
    (tmp_path / ".taskq" / "redis.url").write_text(SENTINEL + "\n")
    env = child_env(PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", "from taskq.local.state_files import url_file; print(url_file())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).parent == Path(os.environ["TASKQ_STATE_DIR"])
