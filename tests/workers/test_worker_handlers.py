"""Workers serving the workflow queue publish the handlers they can run: a
real `taskq worker --burst` (and the rq worker classes) loads
TASKQ_HANDLERS_PATH / TASKQ_EXAMPLES=1 at start, refuses to start when a
step's code does not import, publishes what the web side then lists, and
publishes again after a Redis outage (not on a timer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from redis_clients import child_env
from taskq import Keys
from taskq.workflows import Registry, create, get, published, unpublish
from taskq.workflows.examples import load_examples
from workers.pool import PoolWorker

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
namespace: shop
name: order
version: "1.0.0"
step_templates:
  - {name: take, handler_class: tests.integration.workflow_extra_steps.charge}
  - {name: ship, handler_class: tests.integration.workflow_extra_steps.noop, depends_on_step: take}
"""
BROKEN = """
namespace: shop
name: refund
version: "1.0.0"
step_templates:
  - {name: give_back, handler_class: shop_code_that_is_not_installed.steps.GiveBack}
"""


def run(args, redis_url, prefix, **env_extra):
    env = child_env(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT), **env_extra)
    return subprocess.run([sys.executable, "-m", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def taskq_worker(*queues):
    return ["taskq.cli", "worker", "--burst", "-q", *queues]


def rq_worker(cls, name, *queues):
    return ["rq.cli", "worker", "-w", f"workers.rq_worker.{cls}", "--name", name, "--burst", *queues]


@pytest.fixture
def handlers_dir(tmp_path):
    def make(*texts):
        for i, text in enumerate(texts):
            (tmp_path / f"h{i}.yaml").write_text(text)
        return str(tmp_path)
    return make


def names(r, prefix):
    return [h.full_name for h in published(r, prefix).handlers()]


def test_taskq_worker_publishes_what_the_web_side_then_lists_and_runs(r, prefix, redis_url, handlers_dir):
    assert names(r, prefix) == []
    out = run(taskq_worker("workflows"), redis_url, prefix, TASKQ_EXAMPLES="1",
              TASKQ_HANDLERS_PATH=handlers_dir(GOOD))
    assert out.returncode == 0, out.stderr
    expected = Registry()
    load_examples(expected)
    assert set(names(r, prefix)) == {h.full_name for h in expected.handlers()} | {"shop.order@1.0.0"}
    # the web side creates by name from what was published, and a worker runs it
    shop = published(r, prefix)
    wf = create(r, "shop.order", context={"amount": 3}, registry=shop, prefix=prefix)
    out = run(taskq_worker("workflows"), redis_url, prefix, TASKQ_HANDLERS_PATH=handlers_dir(GOOD))
    assert out.returncode == 0, out.stderr
    wf = get(r, wf["id"], prefix=prefix)
    if wf["status"] != "complete":  # the second step may be released after the burst's last claim
        run(taskq_worker("workflows"), redis_url, prefix, TASKQ_HANDLERS_PATH=handlers_dir(GOOD))
        wf = get(r, wf["id"], prefix=prefix)
    assert wf["status"] == "complete" and wf["steps"][0]["results"] == {"charged": 3, "currency": "USD"}


@pytest.mark.parametrize("command", [
    taskq_worker("default", "workflows"),
    rq_worker("TaskqSimpleWorker", "wf-simple-bad", "workflows"),
    rq_worker("TaskqPoolWorker", "wf-pool-bad", "workflows"),
], ids=["taskq-worker", "rq-simple", "rq-pool"])
def test_a_worker_refuses_to_start_when_step_code_does_not_import(r, prefix, redis_url,
                                                                   handlers_dir, command):
    out = run(command, redis_url, prefix, TASKQ_HANDLERS_PATH=handlers_dir(GOOD, BROKEN))
    assert out.returncode == 2, (out.stdout, out.stderr)
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("taskq: workflow handlers:")]
    assert len(line) == 1, out.stderr
    assert "give_back" in line[0] and "shop_code_that_is_not_installed" in line[0]
    assert "Traceback" not in out.stderr
    assert names(r, prefix) == []                      # nothing published
    assert not r.exists(Keys(prefix).workers)           # never registered


def test_a_worker_not_serving_workflows_neither_checks_nor_publishes(r, prefix, redis_url, handlers_dir):
    out = run(taskq_worker("default"), redis_url, prefix, TASKQ_HANDLERS_PATH=handlers_dir(BROKEN))
    assert out.returncode == 0, out.stderr
    assert names(r, prefix) == []


@pytest.mark.parametrize("cls", ["TaskqSimpleWorker", "TaskqPoolWorker"])
def test_rq_worker_classes_publish_at_start(r, prefix, redis_url, handlers_dir, cls):
    name = f"wf-{cls}-{prefix}"
    try:
        out = run(rq_worker(cls, name, "workflows"), redis_url, prefix,
                  TASKQ_HANDLERS_PATH=handlers_dir(GOOD))
        assert out.returncode == 0, out.stdout + out.stderr
        assert names(r, prefix) == ["shop.order@1.0.0"]
    finally:
        r.delete(f"rq:worker:{name}")
        r.srem("rq:workers", f"rq:worker:{name}")


def test_published_again_after_an_outage_not_on_a_timer(r, prefix):
    reg = Registry()
    load_examples(reg)
    pool = PoolWorker(r, ["workflows"], prefix=prefix, handlers=reg)
    try:
        assert pool._register()
        full = names(r, prefix)
        assert len(full) == len(reg.handlers())
        unpublish(r, full, prefix=prefix)           # an operator's unpublish stays
        pool._publish_handlers()
        assert names(r, prefix) == []
        pool.outage.lost(redis.ConnectionError("gone"))   # a Redis restart, seen as an outage
        pool.outage.ok()
        pool._publish_handlers()
        assert names(r, prefix) == full
    finally:
        pool.registry.deregister(pool.worker_id)
