"""The engine stays importable alone: taskq/ imports neither Flask nor the
HTTP layer (api/) nor the workers (workers/); upper layers reach the
``taskq`` command through entry points instead.

taskq/rq/ is the one exception, and only for rq itself: RQ's API over taskq
(an adapter RQ apps import as ``taskq.rq``) builds on rq and rq-scheduler,
yet imports neither Flask, the HTTP layer nor the workers; no other engine
module imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("api", "workers", "flask", "flask_smorest", "werkzeug", "marshmallow",
             "prometheus_flask_exporter", "gunicorn", "rq")
"""Top-level packages taskq/ must not import (rq belongs to the worker layer)."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


ADAPTER = ROOT / "taskq" / "rq"
ENGINE_FILES = sorted(p for p in (ROOT / "taskq").rglob("*.py") if ADAPTER not in p.parents)
ADAPTER_FILES = sorted(ADAPTER.rglob("*.py"))


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_imports_no_upper_layer(path):
    bad = sorted(m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN)
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", ADAPTER_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_rq_adapter_imports_rq_but_no_upper_layer(path):
    allowed = {"rq", "rq_scheduler"}
    bad = sorted(m for m in imported_modules(path)
                 if m.split(".")[0] in FORBIDDEN and m.split(".")[0] not in allowed)
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_does_not_import_its_rq_adapter(path):
    assert not [m for m in imported_modules(path) if m.startswith("taskq.rq")]


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from workers.pool import PoolWorker\n    import flask\n")
    assert {"workers.pool", "flask"} <= imported_modules(f)


def test_the_layers_commands_join_the_taskq_command():
    from click.testing import CliRunner

    from taskq.cli import main

    out = CliRunner().invoke(main, ["--help"]).output
    for name in ("start", "worker", "scheduler", "auth"):
        assert f"  {name} " in out, out


def test_the_command_list_shows_whole_descriptions():
    from click.testing import CliRunner

    from taskq.cli import main

    out = CliRunner().invoke(main, ["--help"], terminal_width=80).output
    commands = out.split("Commands:", 1)[1]
    assert "..." not in commands and "every second" in commands, out
