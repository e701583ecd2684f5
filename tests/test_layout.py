"""The package's shape: imports point one way (no cycles; data never imports tasks; core never
imports a tool package), and every module stays small enough to read in one sitting."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xtransfer"
# The floors of the core, bottom up: a module may import its own floor and the ones below.
FLOORS = [{"errors", "config", "cache", "metrics"}, {"data"}, {"tasks"}, {"engine"}, {"pipeline"}, {"run"}]
TOOLS = {"report", "plan", "xtreme", "xglue", "demo", "bench", "score", "export"}   # above the core; only CLIs and hooks use them
HOOKS = {("xtransfer.pipeline.demo_data", "demo")}                 # the pipeline generates the demo's data
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every xtransfer module that `path` imports, at any depth (function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def top(module: str) -> str:
    """The package (or top-level module) a module belongs to: xtransfer.engine.train -> engine."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def floor(package: str) -> int | None:
    return next((i for i, names in enumerate(FLOORS) if package in names), None)


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_data_never_imports_tasks_or_engine():
    bad = [(m, i) for m, targets in graph().items() if top(m) == "data"
           for i in targets if top(i) in {"tasks", "engine", "pipeline"}]
    assert bad == []


def test_core_imports_point_down_and_never_into_tools():
    bad = []
    for module, targets in graph().items():
        here = floor(top(module))
        if here is None:
            continue
        for target in targets:
            there = floor(top(target))
            if top(target) in TOOLS and (module, top(target)) not in HOOKS:
                bad.append((module, target, "imports a tool"))
            elif there is not None and there > here:
                bad.append((module, target, "imports a floor above its own"))
    assert bad == []


def test_every_module_is_short():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_console_scripts_name_the_module_clis():
    import importlib
    import tomllib

    scripts = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) >= {"xtransfer-run", "xtransfer-report", "xtransfer-score", "xtransfer-export", "xtransfer-bench"}
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target
