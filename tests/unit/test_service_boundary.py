"""Services are built in one place and are the only way to the engine (the
rule api/services/__init__.py and api/app_state.py write down):

- the REST dialects (api/dialects/) and the dashboard (api/dashboard/) hold
  no Redis client: no ``import redis``, no ``.redis``, ``.pipeline``,
  ``.client`` or ``.execute_command``;
- they import only engine modules that issue no Redis command (PURE_MODULES),
  or from a module that does, only the pure names listed in PURE_NAMES
  (constants, value classes, parsers); a new engine import is a conscious
  choice made here;
- only api/app_state.py constructs a service: a class of api/services/ named
  ``*Service`` or ``*Store``, or one of the engine's stores (ENGINE_STORES).

When a module of taskq/ moves, rename it here; when a dialect needs
something of the engine that talks to Redis, add a service method (and
build the service in api.app_state.AppState) rather than an entry here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PURE_MODULES = frozenset({
    "taskq.backoff", "taskq.errors", "taskq.ids", "taskq.isotime", "taskq.jsontext",
    "taskq.keys", "taskq.keys.dialects", "taskq.keys.flows",  # key names, no commands
    "taskq.options", "taskq.task",
    "taskq.schedules.model", "taskq.schedules.timing", "taskq.schedules.rrules",
    "taskq.webhooks.netguard",
    "taskq.workflows.diagram", "taskq.workflows.graph", "taskq.workflows.handlers",
})
"""Engine modules that issue no Redis command: errors, ids, times, option
checks, key names, cron/rrule parsing, graphs and handler definitions."""

PURE_NAMES = {
    "taskq": {"__version__"},
    "taskq.projects.store": {"MAX_MINUTES", "NAME_MESSAGE", "NAME_RE", "Project", "QUEUE_PREFIX",
                             "project_of_queue"},
    "taskq.projects.task_types": {"DUPLICATE_HANDLING", "MAX_TEMPLATE", "MAX_VARIABLES",
                                  "TYPE_NAME_MESSAGE", "TaskType", "VARIABLE_RE"},
    "taskq.schedules.store": {"MAX_PAGE", "MAX_SNOOZE"},
    "taskq.webhooks.store": {"EVENTS", "MAX_EVENTS", "valid_event"},
    "taskq.worker_registry": {"WorkerInfo"},
    "taskq.workflows": {"Handler", "STEP_STATUSES", "StepNotFound", "WORKFLOW_STATUSES",
                        "WorkflowNotFound", "dependency_analysis", "dependency_graph"},
    "taskq.workflows.control": {"FINISHED"},
    "taskq.workflows.counters": {"MAX_PERIOD_HOURS"},
}
"""Pure names a dialect may take from an engine module that also talks to Redis."""

CLIENT_ATTRIBUTES = frozenset({"redis", "pipeline", "client", "execute_command"})
"""Attributes that reach a Redis client or issue commands on one."""

ENGINE_STORES = frozenset({"TaskTypeStore", "ProjectStore", "WebhookStore", "WorkerRegistry"})
"""The engine's stores the app keeps (api.app_state.AppState builds each once)."""

OTHER_BUILDERS: dict[str, set[str]] = {}
"""Known constructions outside api/app_state.py (none: keep it so)."""


def py_files(*folders: str, root: Path = ROOT) -> list[Path]:
    return sorted(p for f in folders for p in (root / f).rglob("*.py"))


def engine_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each import of redis, or of the engine outside the allow-lists."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "redis" or (top == "taskq" and alias.name not in PURE_MODULES):
                    bad.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            if top == "redis":
                bad.append((node.lineno, f"from {node.module} import ..."))
            elif top == "taskq" and node.module not in PURE_MODULES:
                allowed = PURE_NAMES.get(node.module, set())
                for alias in node.names:
                    if alias.name not in allowed and f"{node.module}.{alias.name}" not in PURE_MODULES:
                        bad.append((node.lineno, f"from {node.module} import {alias.name}"))
    return bad


def client_uses(tree: ast.AST) -> list[tuple[int, str]]:
    return [(node.lineno, f".{node.attr}") for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in CLIENT_ATTRIBUTES]


def service_classes(root: Path = ROOT) -> set[str]:
    names = set(ENGINE_STORES)
    for path in py_files("api/services", root=root):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Service", "Store")):
                names.add(node.name)
    return names


def constructions(tree: ast.AST, classes: set[str]) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in classes:
                out.append((node.lineno, name))
    return out


def boundary_violations(root: Path = ROOT) -> list[str]:
    """Every breach of the rule under ``root``, one line each."""
    out = []
    for path in py_files("api/dialects", "api/dashboard", root=root):
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(root)
        out += [f"{rel}:{line}: {what}" for line, what in engine_imports(tree) + client_uses(tree)]
    return out + built_elsewhere(root)


def built_elsewhere(root: Path = ROOT) -> list[str]:
    """Every service constructed outside api/app_state.py, one line each."""
    classes, out = service_classes(root), []
    for path in py_files("api", root=root):
        rel = path.relative_to(root).as_posix()
        if rel == "api/app_state.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        out += [f"{rel}:{line}: constructs {name}" for line, name in constructions(tree, classes)
                if name not in OTHER_BUILDERS.get(rel, ())]
    return out


DIALECT_FILES = py_files("api/dialects", "api/dashboard")


@pytest.mark.parametrize("path", DIALECT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dialects_and_the_dashboard_hold_no_redis_client(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = client_uses(tree)
    assert not bad, f"{path.relative_to(ROOT)} reaches Redis itself at {bad}: add a service method"


@pytest.mark.parametrize("path", DIALECT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dialects_and_the_dashboard_import_only_pure_engine_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = engine_imports(tree)
    assert not bad, (f"{path.relative_to(ROOT)} imports {bad}: engine code that talks to Redis "
                     "goes through a service (or, if pure, into PURE_MODULES / PURE_NAMES)")


def test_only_the_app_state_builds_services():
    assert {"TaskService", "WorkflowService", "ScheduleService", "SessionStore",
            "DashboardSessionStore", "AnalyticsService", "LabelService"} <= service_classes()
    bad = built_elsewhere()
    assert not bad, f"services are built in api/app_state.py only: {bad}"


def test_the_allow_lists_name_modules_that_exist():
    """A module renamed in taskq/ must be renamed here too, not left to allow nothing."""
    for name in PURE_MODULES | set(PURE_NAMES):
        parts = name.split(".")
        base = ROOT.joinpath(*parts)
        assert base.with_suffix(".py").is_file() or (base / "__init__.py").is_file(), name


def test_the_pure_modules_issue_no_redis_command():
    for name in PURE_MODULES:
        base = ROOT.joinpath(*name.split("."))
        path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        tree = ast.parse(path.read_text())
        assert not client_uses(tree), name
        calls = [n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr in ("hget", "hset", "get", "set",
                                                                          "zadd", "evalsha", "execute")
                 and isinstance(n.func.value, ast.Name) and n.func.value.id in ("redis", "r", "client", "pipe")]
        assert not calls, f"{name} calls Redis: {calls}"


def test_the_checks_catch_what_they_are_for(tmp_path):
    (tmp_path / "api" / "dialects" / "x").mkdir(parents=True)
    (tmp_path / "api" / "dashboard").mkdir(parents=True)
    (tmp_path / "api" / "services").mkdir(parents=True)
    (tmp_path / "api" / "services" / "things.py").write_text("class ThingService:\n    pass\n")
    (tmp_path / "api" / "dialects" / "x" / "routes.py").write_text(
        "import redis\nfrom taskq.workflows import get, Handler\nfrom taskq.keys import Keys\n"
        "from taskq.webhooks import netguard\n"
        "def f(st):\n    return st.redis.get('k'), st.tasks.redis.pipeline()\n")
    (tmp_path / "api" / "dashboard" / "reads.py").write_text(
        "def g(st):\n    from taskq.monitoring import overview\n    return ThingService(st)\n")
    (tmp_path / "api" / "app_state.py").write_text("from .services.things import ThingService\nThingService()\n")
    found = boundary_violations(tmp_path)
    assert sorted(found) == sorted([
        "api/dialects/x/routes.py:1: import redis",
        "api/dialects/x/routes.py:2: from taskq.workflows import get",
        "api/dialects/x/routes.py:6: .redis",
        "api/dialects/x/routes.py:6: .redis",
        "api/dialects/x/routes.py:6: .pipeline",
        "api/dashboard/reads.py:2: from taskq.monitoring import overview",
        "api/dashboard/reads.py:3: constructs ThingService",
    ]), found
