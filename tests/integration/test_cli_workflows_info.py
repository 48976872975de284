"""``taskq workflows list|show|cancel`` and what ``taskq info`` adds:
schedules due next and workflows in flight."""

from __future__ import annotations

import json

from click.testing import CliRunner

from schedule_helpers import spec
from taskq.cli import main
from taskq.schedules import Schedules
from taskq.workflows import Registry, create, get

S = "tests.integration.workflow_steps"


def cli(redis_url, prefix, *args):
    return CliRunner().invoke(main, [*args, "--url", redis_url, "--prefix", prefix], catch_exceptions=False)


def flow(r, prefix, n=1):
    reg = Registry()
    reg.register({"namespace": "test", "name": "flow", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": f"{S}.Source"},
        {"name": "after", "handler_class": f"{S}.after", "depends_on_step": "source"},
        {"name": "side", "handler_class": f"{S}.Source"}]})
    return [create(r, "test.flow", context={"n": i}, registry=reg, prefix=prefix) for i in range(n)]


def test_workflows_list_and_show(r, prefix, redis_url):
    first, second = flow(r, prefix, 2)
    out = cli(redis_url, prefix, "workflows", "list")
    assert out.exit_code == 0 and first["id"] in out.output and "0/3" in out.output
    assert out.output.index(second["id"]) < out.output.index(first["id"])  # newest first
    data = json.loads(cli(redis_url, prefix, "workflows", "list", "--json", "--limit", "1").output)
    assert data["total"] == 2 and [w["id"] for w in data["workflows"]] == [second["id"]]
    out = cli(redis_url, prefix, "workflows", "list", "--limit", "1")
    assert "(1 of 2 shown; --offset 1 for more)" in out.output
    out = cli(redis_url, prefix, "workflows", "show", first["id"])
    assert out.exit_code == 0 and "test.flow@1.0.0" in out.output and "after" in out.output
    assert json.loads(cli(redis_url, prefix, "workflows", "show", first["id"], "--json").output)["id"] == first["id"]
    out = cli(redis_url, prefix, "workflows", "show", "nope")
    assert out.exit_code == 1 and out.stderr.strip() == "Error: workflow nope not found"
    out = cli(redis_url, prefix, "workflows", "list", "--status", "bogus")
    assert out.exit_code == 2


def test_workflows_cancel_one_step_or_all(r, prefix, redis_url):
    a, b = flow(r, prefix, 2)
    out = cli(redis_url, prefix, "workflows", "cancel", a["id"], "--step", "side")
    assert out.exit_code == 0 and "side: cancelled" in out.output
    assert [s["status"] for s in get(r, a["id"], prefix=prefix)["steps"]] == ["pending", "pending", "cancelled"]
    out = cli(redis_url, prefix, "workflows", "cancel", a["id"], "--step", "side")
    assert out.exit_code == 1 and "already cancelled" in out.stderr
    out = cli(redis_url, prefix, "workflows", "cancel", b["id"])
    assert out.exit_code == 0
    assert {s["status"] for s in get(r, b["id"], prefix=prefix)["steps"]} == {"cancelled"}
    out = cli(redis_url, prefix, "workflows", "cancel", b["id"], "--step", "ghost")
    assert out.exit_code == 1 and "no step 'ghost'" in out.stderr


def test_info_shows_schedules_due_next_and_workflows_in_flight(r, prefix, redis_url):
    store = Schedules(r, prefix)
    later = store.create(spec(title="later", schedule_expr="0 3 * * *"))
    sooner = store.create(spec(title="sooner", schedule_kind="once", schedule_expr="2099-01-01T00:00:00",
                               timezone="UTC"))
    [wf] = flow(r, prefix)
    data = json.loads(cli(redis_url, prefix, "info", "--json").output)
    titles = [s["title"] for s in data["schedules_due"]]
    assert titles == ["later", "sooner"] and data["schedules_due"][0]["id"] == later["id"]
    assert data["schedules_due"][1]["next_run_at"].startswith("2099-01-01T00:00:00")
    assert data["workflows_in_flight"]["total"] == 1
    assert data["workflows_in_flight"]["workflows"][0]["id"] == wf["id"]
    store.pause(sooner["id"])
    text = cli(redis_url, prefix, "info").output
    assert "schedules due next" in text and "later" in text and "sooner" not in text
    assert "1 workflow in flight" in text and wf["id"] in text and "0/3" in text
