"""dropml's module import graph, read with ``ast``: no cycles, the local world imported by nobody, Dask a mere executor.

What counts as an import: every ``import`` and ``from ... import`` anywhere in
a module, at the top, inside functions (where heavy libraries are imported
for cold start, and where a cycle used to hide) and under ``if TYPE_CHECKING:``.
Type-checking imports are included on purpose: a module that names another's
types depends on its design even if Python never runs the import, and a cycle
kept behind ``TYPE_CHECKING`` is the same tangle as one kept behind a
function-local import, one refactor (a runtime ``isinstance``, a moved
annotation) away from a partially initialised module. The layers hold without
them, so including them costs nothing.

``from package import name`` is an edge to ``package.name`` when that is a
module, else to ``package`` (its ``__init__``). The parent packages Python runs
on the way (``dropml/scoring/__init__.py`` before ``dropml.scoring.load``) are
not edges: a package ``__init__`` that re-exports its submodules would
otherwise sit in a cycle with each of them, though Python imports that
pattern fine; a submodule that reads a name from its own package's
``__init__`` is an edge to it, and is caught.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dropml"

Graph = dict[str, set[str]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The dropml modules ``module`` (at ``path``) imports, wherever the import statement is."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level-1 packages
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return {name for name in found if name in known and name != module}


@lru_cache(maxsize=1)
def import_graph() -> Graph:
    """Every module under dropml/ and the dropml modules it imports."""
    paths = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    known = set(paths)
    return {module: _imported(module, path, known) for module, path in paths.items()}


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected group of modules that import each other."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in on_stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: Graph, group: set[str]) -> list[str]:
    """A shortest cycle through the group's first module, staying inside the group (breadth first)."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")  # Tarjan said there was one


def test_the_graph_sees_function_local_and_type_checking_imports():
    graph = import_graph()
    assert "dropml.scoring.dask_executor" in graph["dropml.scoring.files"]  # top level
    assert "dropml.scoring.onnx_runtime" in graph["dropml.scoring.external_model"]  # inside _runtime()
    assert "dropml.manifest" in graph["dropml.scoring.load"]  # under TYPE_CHECKING only
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_under_dropml_is_in_an_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_nothing_outside_dropml_local_imports_the_local_world():
    offenders = {
        module: sorted(target for target in targets if target == "dropml.local" or target.startswith("dropml.local."))
        for module, targets in import_graph().items()
        if not (module == "dropml.local" or module.startswith("dropml.local."))
    }
    offenders = {module: targets for module, targets in offenders.items() if targets}
    assert not offenders, f"the core imports the local world (it must be the other way round): {offenders}"


def test_dask_executor_knows_nothing_about_scoring_versions_or_storage():
    imported = import_graph()["dropml.scoring.dask_executor"]
    forbidden = ("dropml.scoring", "dropml.registry", "dropml.storage", "dropml.manifest")
    assert not {target for target in imported if any(target == f or target.startswith(f + ".") for f in forbidden)}, (
        sorted(imported)
    )
