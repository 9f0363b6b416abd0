"""The import graph of src/: modules, their project imports, cycles and imports inside function bodies.

``python -m pipeutil.importgraph [SRC]`` prints the counts (modules, project import arrows, import cycles,
imports inside functions: project ones and third-party ones) and lists every deferred import and cycle.
tests/test_layering.py asserts the house plan (ARCHITECTURE.md) on this graph; pipeutil.dvcgen takes each
DVC stage's source dependencies from it (the stage packages and shared modules its scripts reach).
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("pipeutil", "avss", "ball3d")


@dataclass
class Graph:
    modules: dict[str, Path] = field(default_factory=dict)        # dotted name -> file
    arrows: dict[str, set[str]] = field(default_factory=dict)     # module -> project modules it imports
    deferred: list[tuple[str, int, str]] = field(default_factory=list)  # (module, line, imported name) inside a def


def _module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported(node: ast.AST, module: str, is_pkg: bool) -> list[str]:
    """Absolute dotted names an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names if a.name != "*"]


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (``pkg.mod.func`` -> ``pkg.mod``), or None for third-party."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _in_functions(tree: ast.Module):
    """Import statements inside a function body (at any depth), without those under ``if TYPE_CHECKING``."""
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


def build(src: str | Path) -> Graph:
    src = Path(src)
    g = Graph()
    for pkg in PACKAGES:
        for path in sorted((src / pkg).rglob("*.py")):
            g.modules[_module_name(src, path)] = path
    for mod, path in g.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_pkg = path.name == "__init__.py"
        inner = {id(n) for n in _in_functions(tree)}
        g.arrows[mod] = set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported(node, mod, is_pkg)
            targets = {t for t in (_resolve(n, g.modules) for n in names) if t and t != mod}
            g.arrows[mod] |= targets
            if id(node) in inner:
                g.deferred.append((mod, node.lineno, names[0] if isinstance(node, ast.ImportFrom) else ", ".join(names)))
    # a package's __init__ is imported whenever a submodule is: not an arrow of the submodule's own
    for mod in g.arrows:
        g.arrows[mod] = {t for t in g.arrows[mod] if not mod.startswith(t + ".")}
    return g


def cycles(g: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.arrows.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(g.arrows):
        if v not in index:
            visit(v)
    return out


def is_project(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def imports_of(path: str | Path, g: Graph) -> set[str]:
    """Project modules a file outside src/ (a rule script, a benchmark) imports at any depth."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), str(path))
    names = [n for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) and not
             getattr(node, "level", 0) for n in _imported(node, "", False)]
    return {t for t in (_resolve(n, g.modules) for n in names) if t}


def reach(g: Graph, start: set[str]) -> set[str]:
    """``start`` and every project module it imports, transitively."""
    seen, todo = set(), list(start)
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(g.arrows.get(mod, ()))
    return seen


def main(argv: list[str]) -> None:
    src = argv[0] if argv else str(Path(__file__).resolve().parents[1])
    g = build(src)
    cyc = cycles(g)
    project = [d for d in g.deferred if is_project(d[2]) or d[2].startswith(".")]
    print(f"{src}: {len(g.modules)} modules, {sum(map(len, g.arrows.values()))} project import arrows, "
          f"{len(cyc)} import cycle(s), {len(g.deferred)} import(s) inside functions "
          f"({len(project)} of project modules, {len(g.deferred) - len(project)} third-party)")
    for c in cyc:
        print("  cycle:", " <-> ".join(c))
    for mod, line, name in g.deferred:
        print(f"  deferred: {mod}:{line} imports {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
