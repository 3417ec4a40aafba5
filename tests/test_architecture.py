"""The package's import graph: no circle anywhere (imports inside functions count too), and the layers of
docs/architecture.md: the lower parts never import the upper ones."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of gscpr it imports}``, from every import statement of every file (lazy ones too)."""
    files = {_module_name(p): p for p in SRC.joinpath("gscpr").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_there_is_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50 and "gscpr.refine.refiner" in graph  # the whole package was read
    assert cycles(graph) == []


LOWER_NEVER_IMPORTS = {  # (layer, what it must not import): docs/architecture.md
    "gscpr.splat": ("gscpr.data", "gscpr.training", "gscpr.refine", "gscpr.pipeline", "gscpr.paper"),
    "gscpr.match": ("gscpr.refine", "gscpr.solvers", "gscpr.data", "gscpr.pipeline", "gscpr.paper"),
    "gscpr.solvers": ("gscpr.refine", "gscpr.match", "gscpr.splat", "gscpr.data", "gscpr.pipeline", "gscpr.paper"),
    "gscpr.refine": ("gscpr.pipeline", "gscpr.records", "gscpr.queries", "gscpr.recipes", "gscpr.data",
                     "gscpr.bench", "gscpr.paper", "gscpr.training"),
    "gscpr.data": ("gscpr.splat", "gscpr.refine", "gscpr.pipeline", "gscpr.training", "gscpr.paper"),
    "gscpr.training": ("gscpr.refine", "gscpr.pipeline", "gscpr.bench", "gscpr.paper"),
    "gscpr.pipeline": ("gscpr.bench", "gscpr.paper", "gscpr.demo"),
    "gscpr.geometry": ("gscpr.",),
}  # fmt: skip


@pytest.mark.parametrize("layer", sorted(LOWER_NEVER_IMPORTS))
def test_lower_layers_never_import_upper_ones(layer):
    graph = import_graph()
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if m == layer or m.startswith(layer + ".")
        for t in targets
        if any(t == f or t.startswith(f) for f in LOWER_NEVER_IMPORTS[layer])
    )
    assert bad == []
