"""Dialect knowledge lives in the dialects: no string constant of a shared
api module (api/*.py, api/services/, api/dashboard/, api/shared_tasks/)
names a dialect's mount (``/tasker``), a path it declares
(``/api/auth/login``), its scope (``tasker.task:create``, ``tasker.*``), its
setting (``TASKQ_TASKDRIVER_LOGIN``) or the dialect itself (``"tasker"``). A
dialect says such things in its descriptor (api.dialects.base.Dialect:
scopes, action_scopes, open_paths, uncounted_paths, versioned_paths,
login_paths, settings, error_style) and shared modules read them from the
app's registry. What is forbidden is derived from api.dialects.DIALECTS
(their names, url prefixes, declared paths, scopes and settings), so a new
dialect is held to it too. Docstrings and comments may name anything; that shared modules
import no dialect is tests/unit/test_api_layering.py's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from api.dialects import DIALECTS

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"
SHARED_DIRS = ("services", "dashboard", "shared_tasks")
"""Packages of api/ that are shared (besides the modules at its top)."""


def shared_files(root: Path = API) -> list[Path]:
    files = sorted(root.glob("*.py"))
    for d in SHARED_DIRS:
        files += sorted((root / d).rglob("*.py"))
    return files


def strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module with their lines: literals and the
    literal parts of f-strings, not docstrings (a string that is a statement
    of its own, as a module's, class's, function's or attribute's docstring)."""
    tree = ast.parse(path.read_text(), str(path))
    docs = {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs]


PATH_FIELDS = ("paths", "open_paths", "uncounted_paths", "versioned_paths", "login_paths")
"""Descriptor fields naming paths under a dialect's url_prefix: a shared
string equal to one of them (made absolute) names the dialect."""


def engine_part(name: str) -> bool:
    """Whether the engine has a part of this name (taskq.schedules): then
    the word is a shared concept, not only a dialect's name."""
    return (ROOT / "taskq" / name).is_dir() or (ROOT / "taskq" / f"{name}.py").is_file()


def markers(dialects=DIALECTS) -> list[re.Pattern]:
    """What names a dialect: a mount only one dialect has (or anything under
    it), a path it declares (PATH_FIELDS, the path itself), its name (alone,
    unless the engine has a part of that name; or as a scope's namespace), a
    scope it declares, a setting it reads or one named after it
    (TASKQ_<NAME>_...)."""
    mounts = [d.url_prefix for d in dialects if d.url_prefix]
    out = [re.compile(re.escape(m) + r"(?![\w-])") for m in mounts if mounts.count(m) == 1]
    for d in dialects:
        for field in PATH_FIELDS:
            for path in getattr(d, field, ()):
                full = (d.url_prefix + path).rstrip("/")
                if full and full not in mounts:  # a mount of several dialects is no one's
                    out.append(re.compile(r"^%s/?$" % re.escape(full)))
        namespaces = {d.name} | {s.split(".")[0] for s in getattr(d, "scopes", ())}
        out += [re.compile(r"(?<![\w.])%s\.(?:\*|\w+:|$)" % re.escape(ns)) for ns in namespaces]
        if not engine_part(d.name):
            out.append(re.compile(r"^%s$" % re.escape(d.name)))
        out += [re.compile(re.escape(s)) for s in getattr(d, "scopes", ())]
        out += [re.compile(re.escape(name)) for name in d.settings]
        out.append(re.compile(re.escape(f"TASKQ_{d.name.upper()}_")))
    return out


def violations(root: Path = API, dialects=DIALECTS) -> list[str]:
    patterns = markers(dialects)
    found = []
    for path in shared_files(root):
        for line, text in sorted(strings(path)):
            if any(p.search(text) for p in patterns):
                found.append(f"{path.relative_to(root.parent)}:{line}: {text!r}")
    return found


def test_shared_modules_name_no_dialect():
    assert violations() == []


def test_the_markers_catch_what_a_dialect_owns(tmp_path):
    api = tmp_path / "api"
    (api / "services").mkdir(parents=True)
    (api / "shared.py").write_text(
        '"""Docs may say /tasker and tasker.task:create."""\n'
        'OPEN = ("/health", "/tasker/health/ready")\n'
        'SCOPE = "tasker.task:create"  # a comment may say /tasker\n'
        'WILD = f"{1}tasker.*"\n'
        'STYLE = "tasker"; NS = "tasker."\n'
        '"""An attribute docstring: TASKQ_TASKDRIVER_LOGIN."""\n'
        'def f():\n    """TASKQ_TASKDRIVER_LOGIN"""\n    return "TASKQ_TASKDRIVER_LOGIN"\n')
    (api / "services" / "fine.py").write_text(
        'A = ("/api/health", "/api/tasks", "tasks:read", "schedules:write", "api.dialects.tasker", "not_taskdriver")\n')
    (api / "services" / "login.py").write_text('P = ("/api/auth/login", "/tasks", "/tasks/<task_id>")\n')
    assert violations(api) == [
        "api/shared.py:2: '/tasker/health/ready'", "api/shared.py:3: 'tasker.task:create'",
        "api/shared.py:4: 'tasker.*'", "api/shared.py:5: 'tasker'", "api/shared.py:5: 'tasker.'",
        "api/shared.py:9: 'TASKQ_TASKDRIVER_LOGIN'",
        "api/services/login.py:1: '/api/auth/login'", "api/services/login.py:1: '/tasks'"]
