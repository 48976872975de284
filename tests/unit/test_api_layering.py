"""Layering inside api/: shared modules (auth, errors, metrics, services,
the shared task route, ...) import no dialect, and a dialect imports no
other dialect. Only the app factory (api/app.py) and the CLI entry point
(api/cli.py) bring the dialects together, through api.dialects.DIALECTS. Imports are read with ast, so a
function-level import counts as much as a top-level one."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"
FACTORY = {"api.app", "api.dialects", "api.cli"}
"""Modules allowed to import every dialect: the app factory, the list of
dialects, and the CLI entry point (it checks scopes against every dialect's)."""


def _module(path: Path) -> str:
    parts = list(path.relative_to(API.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module an api/ file imports, as absolute names (``from a import b``
    counts as a and a.b, since b may be a module)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
    return out


def _dialect_of(module: str) -> str | None:
    """``api.dialects.<name>...`` -> name; None for shared modules and for
    api.dialects itself and its base module."""
    parts = module.split(".")
    if parts[:2] != ["api", "dialects"] or len(parts) < 3 or parts[2] == "base":
        return None
    return parts[2]


def violations(root: Path = API) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        module = _module(path)
        if module in FACTORY:
            continue
        own = _dialect_of(module)
        for imported in sorted(_imports(path)):
            other = _dialect_of(imported)
            if other is None:
                continue
            if own is None:
                found.append(f"{module} (shared) imports {imported}")
            elif other != own:
                found.append(f"{module} (dialect {own}) imports {imported}")
    return found


def test_shared_modules_import_no_dialect_and_dialects_not_each_other():
    assert violations() == []


def test_the_check_sees_both_kinds_of_violation(tmp_path):
    root = tmp_path / "api"
    (root / "dialects" / "one").mkdir(parents=True)
    (root / "dialects" / "two").mkdir()
    for p in ("__init__.py", "dialects/__init__.py", "dialects/base.py",
              "dialects/one/__init__.py", "dialects/two/__init__.py"):
        (root / p).write_text("")
    (root / "shared.py").write_text("def f():\n    from .dialects.one import routes\n")
    (root / "dialects" / "two" / "routes.py").write_text("from ..one import schemas\nfrom ..base import x\n")
    (root / "dialects" / "one" / "routes.py").write_text("from . import schemas\nfrom ...shared import f\n")
    global API
    saved, API = API, root
    try:
        found = violations(root)
    finally:
        API = saved
    assert found == ["api.dialects.two.routes (dialect two) imports api.dialects.one",
                     "api.dialects.two.routes (dialect two) imports api.dialects.one.schemas",
                     "api.shared (shared) imports api.dialects.one",
                     "api.shared (shared) imports api.dialects.one.routes"]
