"""The operator CLI (``taskq info``, ``taskq tasks ...``, ``taskq queues ...``)
run as an operator runs it, against the real Redis under the test's prefix."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from taskq.cli import main
from taskq.errors import LeaseLost
from taskq.leadership import Leadership
from taskq.worker_registry import WorkerRegistry

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
"""The one wire format of times (taskq.isotime)."""


@pytest.fixture
def cli(redis_url, prefix):
    """cli(*args, input=None, env=None) -> click Result, on the test's Redis and prefix."""
    runner = CliRunner()

    def run(*args, input=None, env=None):
        return runner.invoke(main, [*args, "--url", redis_url, "--prefix", prefix],
                             input=input, env=env, catch_exceptions=False)
    return run


def as_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- info ------------------------------------------------------------------------

def test_info_shows_counts_workers_leader_and_redis(cli, make_queue, r, keys):
    q, other = make_queue("default"), make_queue("emails")
    first = q.enqueue("app:job", concurrency_key="acct")
    parked = q.enqueue("app:job", concurrency_key="acct")  # the key is full: parked
    q.enqueue("app:job", delay=60)
    [running] = q.claim(1)
    assert running.id == first.id
    other.enqueue("app:mail")
    other.pause()
    registry = WorkerRegistry(r, keys)
    registry.register("w-1", ["default"])
    registry.heartbeat("w-1", [first.id])
    registry.register("w-2", ["emails"])
    assert Leadership(r, keys, "sched-1").acquire()

    data = as_json(cli("info", "--json"))
    by_name = {row["name"]: row for row in data["queues"]}
    assert by_name["default"]["counts"] == {
        "queued": 1, "delayed": 1, "blocked": 0, "running": 1,
        "completed": 0, "failed": 0, "cancelled": 0}  # the parked task is queued
    assert q.get(parked.id).status == "queued"
    assert by_name["default"]["paused"] is False and by_name["emails"]["paused"] is True
    workers = {w["id"]: w for w in data["workers"]}
    assert workers["w-1"]["status"] == "active"
    assert workers["w-1"]["current_task_ids"] == [first.id]
    assert workers["w-1"]["queues"] == ["default"]
    assert ISO_UTC.fullmatch(workers["w-1"]["last_heartbeat"])
    assert data["scheduler"] == {"leader_id": "sched-1", "instance_count": 1}
    assert data["redis"]["version"].split(".")[0].isdigit()
    assert data["redis"]["used_memory"] > 0

    text = cli("info")
    assert text.exit_code == 0
    assert "2 workers" in text.output and "sched-1" in text.output
    assert first.id in text.output and "emails" in text.output


def test_info_queue_filter_keeps_only_those_queues_and_their_workers(cli, make_queue, r, keys):
    make_queue("default").enqueue("app:job")
    make_queue("emails").enqueue("app:mail")
    registry = WorkerRegistry(r, keys)
    registry.register("w-default", ["default"])
    registry.register("w-emails", ["emails"])
    data = as_json(cli("info", "--json", "--queue", "emails"))
    assert [row["name"] for row in data["queues"]] == ["emails"]
    assert [w["id"] for w in data["workers"]] == ["w-emails"]


def test_info_interval_refreshes_until_interrupted(cli, q, monkeypatch):
    q.enqueue("app:job")
    sleeps = []
    monkeypatch.setattr("taskq.cli.info_cmd.time.sleep", sleeps.append)
    result = cli("info", "--json", "--interval", "2", "--count", "3")
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0 and len(docs) == 3 and sleeps == [2.0, 2.0]
    assert docs[-1]["queues"][0]["counts"]["queued"] == 1

    def interrupt(_seconds):
        raise KeyboardInterrupt
    monkeypatch.setattr("taskq.cli.info_cmd.time.sleep", interrupt)
    result = cli("info", "--interval", "1")
    assert result.exit_code == 0  # Ctrl-C ends the watch cleanly
    assert "every 1 s" in result.output and "QUEUED" in result.output


def test_unreachable_redis_is_one_line_with_the_password_masked():
    url = "redis://:s3cret@127.0.0.1:1/0"
    for args, env in ((["info", "--url", url], None), (["tasks", "list"], {"REDIS_URL": url})):
        result = CliRunner().invoke(main, args, env=env)
        line = one_error_line(result, 1)
        assert "redis://:***@127.0.0.1:1/0" in line and "s3cret" not in result.output


# -- tasks -----------------------------------------------------------------------

def test_tasks_list_filters_and_pages(cli, q):
    ids = [q.enqueue("app:job", tags=["nightly"] if i % 2 else []).id for i in range(5)]
    [lease] = q.claim(1)
    lease.complete(7)
    everything = as_json(cli("tasks", "list", "--json"))
    assert [t["id"] for t in everything] == ids[::-1]  # newest first
    queued = as_json(cli("tasks", "list", "--json", "--status", "queued"))
    assert [t["id"] for t in queued] == ids[1:]
    tagged = as_json(cli("tasks", "list", "--json", "--tag", "nightly"))
    assert sorted(t["id"] for t in tagged) == sorted([ids[1], ids[3]])
    page = as_json(cli("tasks", "list", "--json", "--status", "queued",
                       "--limit", "2", "--offset", "1"))
    assert [t["id"] for t in page] == ids[2:4]
    assert ISO_UTC.fullmatch(page[0]["created_at"]) and page[0]["queue"] == "default"
    table = cli("tasks", "list", "--status", "completed")
    assert table.exit_code == 0 and "STATUS" in table.output and ids[0] in table.output
    assert cli("tasks", "list", "--queue", "other").output.strip() == "(no tasks)"


@pytest.mark.parametrize("args, says", [
    (["--queue", "my queue"], "queue name 'my queue'"),
    (["--queue", "a{b}"], "queue name 'a{b}'"),
    (["--status", "queued", "--tag", "x"], "--status or by --tag"),
])
def test_tasks_list_refuses_bad_filters_with_exit_2(cli, args, says):
    assert says in one_error_line(cli("tasks", "list", *args), 2)


def test_tasks_list_refuses_an_unknown_status_and_a_huge_limit(cli):
    for option, value in (("--status", "done"), ("--limit", "5000"), ("--offset", "-1")):
        result = cli("tasks", "list", option, value)
        assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.stderr


def test_tasks_show_gives_fields_log_and_result_or_error(cli, q):
    done = q.enqueue("app:job", n=1, tags=["t"])
    [lease] = q.claim(1)
    lease.log("step one")
    lease.log("careful", level="warn")
    lease.complete({"rows": 3})
    data = as_json(cli("tasks", "show", done.id, "--json"))
    assert data["task"]["id"] == done.id and data["task"]["status"] == "completed"
    assert data["task"]["result"] == {"rows": 3} and data["task"]["kwargs"] == {"n": 1}
    assert [(x["level"], x["message"]) for x in data["logs"]] == [
        ("info", "step one"), ("warn", "careful")]
    assert ISO_UTC.fullmatch(data["logs"][0]["ts"]) and data["log_count"] == 2
    text = cli("tasks", "show", done.id).output
    assert 'result: {"rows": 3}' in text and "step one" in text and "app:job" in text

    bad = q.enqueue("app:job", max_retries=0)
    [lease] = q.claim(1)
    lease.fail("ValueError: no such row", retryable=False)
    text = cli("tasks", "show", bad.id).output
    assert "failed" in text and "ValueError: no such row" in text
    assert as_json(cli("tasks", "show", bad.id, "--json"))["task"]["error"] == \
        "ValueError: no such row"


@pytest.mark.parametrize("task_id", ["default:nosuchtask", "not-an-id", "bad queue:x"])
def test_an_unknown_task_is_exit_1_not_found(cli, task_id):
    for args in (["show", task_id], ["retry", task_id], ["cancel", task_id],
                 ["delete", task_id]):
        line = one_error_line(cli("tasks", *args), 1)
        assert line == f"Error: task {task_id} not found"


def test_retry_runs_a_failed_task_again_and_refuses_a_completed_one(cli, q):
    t = q.enqueue("app:job", max_retries=0)
    [lease] = q.claim(1)
    lease.fail("boom", retryable=False)
    result = cli("tasks", "retry", t.id)
    assert result.exit_code == 0 and result.stdout.strip() == f"{t.id}: queued"
    assert q.get(t.id).status == "queued"
    [lease] = q.claim(1)
    lease.complete()
    line = one_error_line(cli("tasks", "retry", t.id), 1)
    assert t.id in line and "completed" in line


def test_cancel_asks_a_running_task_or_forces_it(cli, q):
    queued = q.enqueue("app:job")
    result = cli("tasks", "cancel", queued.id, "--reason", "not needed")
    assert result.stdout.strip() == f"{queued.id}: cancelled"
    assert q.get(queued.id).status == "cancelled"

    running = q.enqueue("app:job")
    [lease] = q.claim(1)
    assert cli("tasks", "cancel", running.id).stdout.strip() == f"{running.id}: cancel_requested"
    assert q.get(running.id).status == "running"
    assert cli("tasks", "cancel", "--force", running.id).stdout.strip() == \
        f"{running.id}: cancelled"
    assert q.get(running.id).status == "cancelled"
    with pytest.raises(LeaseLost):
        lease.complete("late")


def test_delete_needs_force_for_a_running_task(cli, q):
    queued, running = q.enqueue("app:job"), q.enqueue("app:job")
    [lease] = q.claim(1)
    assert lease.id == queued.id  # FIFO: the first one runs
    queued, running = running, queued
    assert cli("tasks", "delete", queued.id).stdout.strip() == f"{queued.id}: deleted"
    assert q.get(queued.id) is None
    line = one_error_line(cli("tasks", "delete", running.id), 1)
    assert running.id in line and "running" in line
    assert q.get(running.id).status == "running"
    assert cli("tasks", "delete", "--force", running.id).exit_code == 0
    assert q.get(running.id) is None


def test_several_ids_are_each_tried_and_any_failure_exits_1(cli, q):
    a, b = q.enqueue("app:job"), q.enqueue("app:job")
    result = cli("tasks", "cancel", a.id, "default:missing", b.id)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{a.id}: cancelled", f"{b.id}: cancelled"]
    assert result.stderr.strip() == "Error: task default:missing not found"


# -- queues ----------------------------------------------------------------------

def test_queues_list_pause_and_resume(cli, make_queue):
    q = make_queue("default")
    q.enqueue("app:job")
    make_queue("emails").enqueue("app:mail")
    assert cli("queues", "pause", "default").stdout.strip() == "queue default paused"
    assert q.is_paused and q.claim(1) == []
    rows = as_json(cli("queues", "list", "--json"))
    assert [(x["name"], x["paused"], x["counts"]["queued"]) for x in rows] == [
        ("default", True, 1), ("emails", False, 1)]
    assert cli("queues", "resume", "default").exit_code == 0
    assert not q.is_paused and len(q.claim(1)) == 1
    text = cli("queues", "list").output
    assert text.splitlines()[0].split()[:3] == ["QUEUE", "PAUSED", "QUEUED"]


def test_purge_asks_first_and_then_deletes_every_key_of_the_queue(cli, make_queue, r, prefix):
    q, kept = make_queue("default"), make_queue("emails")
    t = q.enqueue("app:job")
    kept.enqueue("app:mail")
    result = cli("queues", "purge", "default", input="n\n")
    assert result.exit_code == 1 and q.get(t.id) is not None  # declined: nothing deleted
    result = cli("queues", "purge", "default", input="y\n")
    assert result.exit_code == 0 and "purged" in result.stdout
    assert list(r.scan_iter(match=f"{prefix}:{{default}}:*")) == []
    assert kept.count() == 1
    kept.enqueue("app:mail")
    assert cli("queues", "purge", "emails", "--yes").exit_code == 0
    assert kept.count() == 0 and as_json(cli("queues", "list", "--json")) == []


@pytest.mark.parametrize("command", ["pause", "resume", "purge"])
def test_queue_commands_refuse_a_bad_name_with_exit_2(cli, command):
    extra = ["--yes"] if command == "purge" else []
    line = one_error_line(cli("queues", command, "my queue", *extra), 2)
    assert "queue name 'my queue'" in line


def test_the_prefix_comes_from_taskq_prefix_too(redis_url, prefix, q):
    q.enqueue("app:job")
    result = CliRunner().invoke(main, ["queues", "list", "--json", "--url", redis_url],
                                env={"TASKQ_PREFIX": prefix})
    assert [row["name"] for row in json.loads(result.stdout)] == ["default"]


def test_without_url_the_commands_use_the_redis_taskq_start_wrote(tmp_path, redis_url, prefix,
                                                                   make_queue, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("TASKQ_STATE_DIR", str(tmp_path))
    (tmp_path / "redis.url").write_text(redis_url + "\n")
    make_queue("default").enqueue("app:job")
    result = CliRunner().invoke(main, ["queues", "list", "--json", "--prefix", prefix],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [row["name"] for row in json.loads(result.stdout)] == ["default"]
    assert "the Redis of taskq start" in result.stderr


def test_queues_retention_shows_sets_and_clears_a_queues_settings(cli, q):
    shown = as_json(cli("queues", "retention", "default", "--json"))
    assert shown == {"queue": "default", "completed": None, "failed": None,
                     "completed_count": None, "failed_count": None}
    out = cli("queues", "retention", "default", "--completed", "60", "--failed-count", "10")
    assert out.exit_code == 0 and "60.0" in out.output and "default" in out.output
    assert q.retention_settings().completed == 60 and q.retention_settings().failed_count == 10
    cli("queues", "retention", "default", "--clear", "completed")
    assert q.retention_settings().completed is None and q.retention_settings().failed_count == 10
    for value in ("-1", "nan", "inf", "1e300"):
        bad = cli("queues", "retention", "default", "--completed", value)
        assert bad.exit_code == 2 and "completed must be" in bad.output, value
    assert cli("queues", "retention", "default", "--failed-count", "-5").exit_code == 2
    assert q.retention_settings().completed is None  # nothing refused was written


def test_queues_rate_limit_shows_sets_and_clears_limits(cli, q):
    assert as_json(cli("queues", "rate-limit", "default", "--json")) == {
        "queue": "default", "limit": None, "keys": {}}
    assert cli("queues", "rate-limit", "default", "100/s").exit_code == 0
    out = cli("queues", "rate-limit", "default", "5/10s", "--key", "acme")
    assert out.exit_code == 0 and "acme" in out.output and "5/10s" in out.output
    assert q.rate_limits() == {"queue": "100/s", "keys": {"acme": "5/10s"}}
    cli("queues", "rate-limit", "default", "--clear")
    assert q.rate_limits() == {"queue": None, "keys": {"acme": "5/10s"}}
    for bad in (["0/s"], ["ten/s"], ["1/s", "--clear"], ["--key", "acme"], ["1/s", "--key", ""]):
        result = cli("queues", "rate-limit", "default", *bad)
        assert result.exit_code == 2, (bad, result.output)
    assert q.rate_limits() == {"queue": None, "keys": {"acme": "5/10s"}}  # nothing refused was written
