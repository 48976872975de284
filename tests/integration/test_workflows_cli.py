"""`taskq handlers publish` / `list`: what a worker host publishes is what
every process lists; a bad definition is one line on stderr, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from taskq.workflows import published

ROOT = Path(__file__).resolve().parents[2]


def cli(args, redis_url, prefix, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("TASKQ_HANDLERS_PATH", "TASKQ_EXAMPLES")}
    full.update(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "taskq.cli", "handlers", *args], env=full,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_publish_examples_then_list(r, prefix, redis_url):
    out = cli(["publish"], redis_url, prefix, TASKQ_EXAMPLES="1")
    assert out.returncode == 0 and out.stdout.strip() == "published 12 handler(s)", out.stderr
    assert published(r, prefix).get("payments", "process_payment").version == "2.1.0"
    out = cli(["list"], redis_url, prefix)
    assert ("payments.process_payment@2.1.0: validate_payment -> charge_card -> update_order"
            " -> send_confirmation") in out.stdout.splitlines()


def test_a_bad_definition_is_one_line_and_exit_2(r, prefix, redis_url, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "namespace: shop\nname: h\nversion: '1.0.0'\nstep_templates:\n"
        "  - {name: a, handler_class: p.A, depends_on_step: b}\n"
        "  - {name: b, handler_class: p.B, depends_on_step: a}\n")
    out = cli(["publish"], redis_url, prefix, TASKQ_HANDLERS_PATH=str(tmp_path))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "bad.yaml") in out.stderr and "cycle" in out.stderr
    assert published(r, prefix).handlers() == []


def test_step_code_that_does_not_import_is_not_published(r, prefix, redis_url, tmp_path):
    (tmp_path / "h.yaml").write_text(
        "namespace: shop\nname: h\nversion: '1.0.0'\nstep_templates:\n"
        "  - {name: a, handler_class: taskq.workflows.examples.payments.ChargeCardHandler}\n"
        "  - {name: b, handler_class: shop_missing_module.Steps, depends_on_step: a}\n")
    out = cli(["publish"], redis_url, prefix, TASKQ_HANDLERS_PATH=str(tmp_path))
    assert out.returncode == 2, out.stdout
    assert "step 'b'" in out.stderr and "does not import" in out.stderr
    assert published(r, prefix).handlers() == []
    out = cli(["publish", "--no-import-check"], redis_url, prefix, TASKQ_HANDLERS_PATH=str(tmp_path))
    assert out.returncode == 0 and [h.full_name for h in published(r, prefix).handlers()] == ["shop.h@1.0.0"]


def _chain_yaml(n: int) -> str:
    lines = ["namespace: shop", "name: long", "version: '1.0.0'", "step_templates:",
             "  - {name: s0, handler_class: p.Step}"]
    lines += [f"  - {{name: s{i}, handler_class: p.Step, depends_on_step: s{i - 1}}}" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def test_a_1200_step_chain_is_refused_in_one_line_not_a_traceback(r, prefix, redis_url, tmp_path):
    (tmp_path / "long.yaml").write_text(_chain_yaml(1200))
    out = cli(["publish", "--no-import-check"], redis_url, prefix, TASKQ_HANDLERS_PATH=str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"taskq handlers publish: {tmp_path / 'long.yaml'}: shop.long@1.0.0 has 1200 steps; "
        "a handler has at most 256"]
    assert published(r, prefix).handlers() == []


def test_a_chain_at_the_bound_publishes_and_lists(r, prefix, redis_url, tmp_path):
    (tmp_path / "long.yaml").write_text(_chain_yaml(256))
    out = cli(["publish", "--no-import-check"], redis_url, prefix, TASKQ_HANDLERS_PATH=str(tmp_path))
    assert out.returncode == 0 and out.stdout.strip() == "published 1 handler(s)", out.stderr
    out = cli(["list"], redis_url, prefix)
    assert out.returncode == 0 and out.stdout == "shop.long@1.0.0: " + " -> ".join(f"s{i}" for i in range(256)) + "\n"


def test_list_names_a_stored_definition_that_does_not_load(r, prefix, redis_url):
    from taskq.keys import WorkflowKeys

    r.hset(WorkflowKeys(prefix).handlers, "shop.broken@1.0.0", "{not json")
    out = cli(["list"], redis_url, prefix)
    assert out.returncode == 0 and out.stdout == ""
    assert "taskq handlers list: skipped shop.broken@1.0.0: does not load" in out.stderr
