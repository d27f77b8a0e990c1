"""The package structure of ``src/hfgate``: imports point one way, and no package cycle exists.

docs/architecture.md explains the layers. A new top-level package or module must be placed in
``LAYERS`` below; an import that points upward, or any cycle between packages, fails here
with the files that cause it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hfgate"

# Top to bottom: a package may import only packages on a lower line.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"app", "sim"},  # the assembled ASGI app; the simulator (a test peer) stands alone
    {"web"},
    {"api"},
    {"services"},
    {"hf"},
    {"conversations", "integrations", "cluster"},
    {"embeddings"},  # embeddings and reranking; calls run through chat's lifecycle
    {"chat"},
    {"endpoints", "auth", "budgets"},  # budgets: spending limits, checked on the hot path
    # costs: the endpoint state ledger and what it costs; reports: usage figures over time
    {"catalog", "audit", "upstream", "costs", "reports"},
    {"settings", "_server", "shutdown"},
    {"storage", "metrics", "textcheck"},
    {"values"},
    {"errors", "__init__"},
]
RANK = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def _top(module: str) -> str | None:
    """``hfgate.chat.service`` → ``chat``; None for anything outside hfgate."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "hfgate" else None


def _imports(path: Path) -> set[str]:
    """The hfgate modules a file imports (``from hfgate import x`` counts as ``hfgate.x``)."""
    relative = path.relative_to(SRC.parent).with_suffix("")
    package = list(relative.parts[:-1])  # a module's package; for __init__, itself
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module == "hfgate":
                found.update(f"hfgate.{alias.name}" for alias in node.names)
            else:
                found.add(module)
    return found


def _graph() -> dict[str, dict[str, set[str]]]:
    """package → imported package → the files that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        me = path.relative_to(SRC).parts[0].removesuffix(".py")
        for module in _imports(path):
            other = _top(module)
            known = other is not None and ((SRC / other).is_dir() or (SRC / f"{other}.py").exists())
            if known and other != me:
                graph[me][other].add(str(path.relative_to(SRC)))
    return graph


def _cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_package_imports_another_that_imports_it_back() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    detail = [
        f"{a} → {b} in {sorted(graph[a][b])}"
        for cycle in cycles
        for a in cycle
        for b in cycle
        if b in graph.get(a, {})
    ]
    assert not cycles, "package cycles:\n" + "\n".join(detail)


def test_every_package_has_a_layer() -> None:
    packages = {
        p.name.removesuffix(".py")
        for p in SRC.iterdir()
        if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert packages - RANK.keys() == set(), "place these in LAYERS (tests/test_architecture.py)"


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{me} (layer {RANK[me]}) imports {other} (layer {RANK[other]}): {sorted(files)}"
        for me, targets in _graph().items()
        for other, files in targets.items()
        if me in RANK and other in RANK and RANK[other] <= RANK[me]
    ]
    assert not upward, "imports that point up or sideways:\n" + "\n".join(upward)


@pytest.mark.parametrize("leaf", ["values", "errors"])
def test_value_types_import_nothing_above_them(leaf: str) -> None:
    allowed = {"errors"} if leaf == "values" else set()
    assert set(_graph().get(leaf, {})) <= allowed
