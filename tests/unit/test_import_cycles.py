"""No import circles among taskq's own modules, counting imports inside
functions too: a lazy import that closes a circle still ties two modules
together (neither can be read, tested or moved without the other), and the
next top-level import of it fails at start-up. When two modules need each
other, what both need moves to a third they both import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("taskq", "api", "workers")


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imported(name: str, is_package: bool, node: ast.AST, known: dict) -> set[str]:
    """The project modules an import statement names (a package's own
    submodules and its parents are not edges: importing a.b runs a)."""
    names = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = name.split(".") if is_package else name.split(".")[:-1]
        if node.level:
            base = base[:len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        names = [module] + [f"{module}.{alias.name}" for alias in node.names]
    out = set()
    for target in names:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name and not target.startswith(name + ".") \
                and not name.startswith(target + "."):
            out.add(target)
    return out


def circles() -> list[list[str]]:
    known = modules()
    graph = {name: set() for name in known}
    for name, (path, is_package) in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name] |= imported(name, is_package, node, known)
    # Tarjan's strongly connected components, iteratively
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others():
    assert circles() == []


def test_the_scan_finds_a_circle(tmp_path, monkeypatch):
    """The scan itself works: two modules importing each other are found."""
    package = tmp_path / "taskq"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f():\n    from . import two\n")
    (package / "two.py").write_text("from .one import f\n")
    for other in ("api", "workers"):
        (tmp_path / other).mkdir()
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert circles() == [["taskq.one", "taskq.two"]]
