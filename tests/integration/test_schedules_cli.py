"""``taskq schedules list|show|pause|resume|run-now`` run as an operator
runs it, against the real Redis under the test's prefix (the click runner,
and one real subprocess for the Redis-down path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from schedule_helpers import AGENT, spec

from taskq import Queue
from taskq.cli import main
from taskq.cli import schedules_cmd
from taskq.schedules import model, timing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(redis_url, prefix):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["schedules", *args, "--url", redis_url, "--prefix", prefix],
                             catch_exceptions=False)
    return run


def one_error_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_the_cli_choices_are_the_engines():
    assert schedules_cmd.STATUSES == model.STATUSES
    assert schedules_cmd.KINDS == timing.KINDS


def test_list_shows_a_table_filters_and_pages(cli, sched):
    a = sched.create(spec(title="hourly report", timezone="Europe/Chisinau"))
    b = sched.create(spec(title="on invoice", schedule_kind="event", schedule_expr="invoice.paid"))
    sched.pause(a["id"])

    out = cli("list")
    assert out.exit_code == 0, out.output
    header, *rows = out.stdout.strip().splitlines()
    assert header.split()[:4] == ["ID", "TITLE", "KIND", "EXPRESSION"]
    assert [r.split()[0] for r in rows] == [b["id"], a["id"]]  # newest first
    assert "hourly report" in rows[1] and "paused" in rows[1] and "Europe/Chisinau" in rows[1]
    assert "invoice.paid" in rows[0] and "event" in rows[0]

    assert [r.split()[0] for r in cli("list", "--status", "paused").stdout.strip().splitlines()[1:]] == [a["id"]]
    assert [r.split()[0] for r in cli("list", "--kind", "event").stdout.strip().splitlines()[1:]] == [b["id"]]
    paged = cli("list", "--limit", "1")
    assert len(paged.stdout.strip().splitlines()) == 4  # header, one row, blank, "1 of 2 shown"
    assert "1 of 2 shown" in paged.stdout
    data = json.loads(cli("list", "--json", "--created-by", AGENT).stdout)
    assert data["total"] == 2 and {s["id"] for s in data["schedules"]} == {a["id"], b["id"]}
    assert cli("list", "--status", "canceled").stdout.strip() == "(no schedules)"


def test_show_prints_fields_payload_and_recent_runs(cli, sched):
    s = sched.create(spec(title="nightly"))
    run = sched.run_now(s["id"])
    out = cli("show", s["id"])
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert f"id                     {s['id']}" in text
    assert "schedule_expr          0 * * * *" in text and "status                 active" in text
    assert '"step": "echo"' in text
    runs = text.split("recent runs:")[1].strip().splitlines()
    assert runs[0].split()[:4] == ["RUN", "FIRED_AT", "OUTCOME", "STATUS"]
    assert runs[1].split()[0] == run["run"] and "created" in runs[1]
    shown = json.loads(cli("show", s["id"], "--json").stdout)
    assert shown["recent_runs"][0]["task_ids"] == run["task_ids"]


def test_pause_resume_and_run_now(cli, sched, r, prefix):
    s = sched.create(spec())
    out = cli("pause", s["id"])
    assert out.exit_code == 0 and out.stdout.strip() == f"schedule {s['id']} paused (next run: none)"
    assert sched.get(s["id"])["status"] == "paused"
    out = cli("resume", s["id"])
    assert out.exit_code == 0 and f"schedule {s['id']} active (next run: 20" in out.stdout
    assert sched.get(s["id"])["next_run_at"] == s["next_run_at"]

    out = cli("run-now", s["id"])
    assert out.exit_code == 0, out.output
    [task_id] = sched.get(s["id"])["recent_runs"][0]["task_ids"]
    assert out.stdout.strip() == f"schedule {s['id']} run n1 created (tasks: {task_id})"
    assert Queue("default", redis=r, prefix=prefix).get(task_id).status == "queued"
    assert sched.get(s["id"])["next_run_at"] == s["next_run_at"]


def test_errors_are_one_line_with_a_non_zero_exit(cli, sched):
    missing = "00000000-0000-4000-8000-000000000000"
    for command in ("show", "pause", "resume", "run-now"):
        assert "not found" in one_error_line(cli(command, missing))
        assert "not found" in one_error_line(cli(command, "not-a-uuid"))
    s = sched.create(spec())
    sched.cancel(s["id"])
    for command in ("resume", "run-now", "pause"):
        assert "canceled" in one_error_line(cli(command, s["id"]))
    assert "--created-by" in one_error_line(cli("list", "--created-by", "bob"), code=2)
    assert cli("list", "--status", "cancelled").exit_code == 2


def test_redis_down_is_one_line_and_exit_1_in_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "taskq.cli", "schedules", "list",
                           "--url", "redis://127.0.0.1:1/0"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert "Traceback" not in proc.stderr
