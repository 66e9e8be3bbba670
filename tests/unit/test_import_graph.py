"""dropml's import graph, read with ``ast``: three layers, no cycle, dropml's own modules imported at the top.

The graph covers every module of ``dropml/``, ``web/``, ``functions/`` and
``training_job/``, at two grains: modules, and packages (a top-level module of
dropml is its own package: ``dropml.config``; a sub-package folds its modules:
``dropml.storage.keys`` is ``dropml.storage``; ``web``, ``functions`` and
``training_job`` are one package each). The packages stand in layers, each
importing only its own layer and those below it:

    services  <  domain (registry < scoring < monitoring < training)  <  use cases  <  entry points

and the entry points (the web app, the CLI, the Lambda handlers, the job) reach
the domain only through the use cases. ``dropml.local``, the local world, is
an entry point that nothing imports.

What counts as an import: every ``import`` and ``from ... import`` anywhere in
a module: at the top, inside functions, and under ``if TYPE_CHECKING:``.
Type-checking imports are included on purpose: a module that names another's
types depends on its design even if Python never runs the import, and a cycle
kept behind ``TYPE_CHECKING`` is the same tangle as one kept behind a
function-local import, one refactor (a runtime ``isinstance``, a moved
annotation) away from a partially initialised module. (Only the rule that
entry points reach the domain through use cases reads run-time imports alone:
a view may name a domain type in an annotation.)

``from package import name`` is an edge to ``package.name`` when that is a
module, else to ``package`` (its ``__init__``). The parent packages Python runs
on the way (``dropml/scoring/__init__.py`` before ``dropml.scoring.load``) are
not edges: a package ``__init__`` that re-exports its submodules would
otherwise sit in a cycle with each of them, though Python imports that
pattern fine; a submodule that reads a name from its own package's
``__init__`` is an edge to it, and is caught.

Run it as a script to print the package graph with each package's layer:
``.venv/bin/python tests/unit/test_import_graph.py``.
"""

from __future__ import annotations

import ast
import itertools
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("dropml", "web", "functions", "training_job")

# Every package, on its layer; within a layer a package may import any other (no cycles, though), except in the
# domain, whose packages are in order: each imports only those before it.
LAYERS: dict[str, tuple[str, ...]] = {
    "services": (
        "dropml",  # the package itself: code_version
        "dropml.config",
        "dropml.errors",
        "dropml.logs",
        "dropml.faults",
        "dropml.clock",
        "dropml.aws",
        "dropml.connection",
        "dropml.manifest",
        "dropml.storage",
        "dropml.notify",
        "dropml.audit",
        "dropml.jobs",
        "dropml.events",
        "dropml.security",
        "dropml.queues",
        "dropml.stacks",
        "dropml.aws_names",
    ),
    "domain": ("dropml.registry", "dropml.scoring", "dropml.monitoring", "dropml.training"),
    "use cases": ("dropml.usecases",),
    "entry points": ("dropml.cli", "web", "functions", "training_job", "dropml.local"),
}
ORDERED_LAYERS = ("domain",)
USE_CASES_ONLY = ("dropml.cli", "web", "functions", "training_job")  # the glue: the domain only through use cases
# Function-local imports of dropml's own modules, each with why it cannot be at the top (pyproject.toml's
# banned-module-level-imports lists the same modules for ruff).
LOCAL_IMPORTS_ALLOWED = {
    ("dropml.scoring.registered", "dropml.scoring.external_model"): "subclasses scikit-learn's BaseEstimator "
    "when imported: the web app and the CLI load it only when a Keras/ONNX model is registered",
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, and where it stands: in a function, under ``if TYPE_CHECKING:``."""

    target: str
    local: bool
    typing_only: bool


Graph = dict[str, set[str]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    """The package a module folds into (see the module docstring)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "dropml" else parts[0]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> list[Import]:
    """The imports of modules in ``known`` that ``module`` (at ``path``) makes, wherever the statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names}
        if node.level:  # relative: from the module's package, up level-1 packages
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        return {f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names}

    def visit(node: ast.AST, local: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend(
                    Import(target, local, typing_only)
                    for target in sorted(targets(child))
                    if target in known and target != module
                )
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, typing_only)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), local, True)
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), local, typing_only)
            else:
                visit(child, local, typing_only)

    visit(ast.parse(path.read_text(), filename=str(path)), False, False)
    return found


@lru_cache(maxsize=1)
def module_imports() -> dict[str, tuple[Import, ...]]:
    """Every module of the sources and the imports of other source modules it makes."""
    paths = {_module_name(path): path for top in SOURCES for path in sorted((ROOT / top).rglob("*.py"))}
    known = set(paths)
    return {module: tuple(_imports(module, path, known)) for module, path in paths.items()}


def import_graph() -> Graph:
    """Module → the modules it imports (every kind of import)."""
    return {module: {found.target for found in imports} for module, imports in module_imports().items()}


def package_graph() -> Graph:
    """Package → the other packages its modules import."""
    graph: Graph = {}
    for module, targets in import_graph().items():
        mine = package_of(module)
        graph.setdefault(mine, set()).update(package_of(t) for t in targets if package_of(t) != mine)
    return graph


def layer_of(package: str) -> tuple[int, int] | None:
    """(the layer's rank, the package's rank inside an ordered layer) or None when the package is on no layer."""
    for rank, (layer, packages) in enumerate(LAYERS.items()):
        if package in packages:
            return rank, packages.index(package) if layer in ORDERED_LAYERS else 0
    return None


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected group of nodes that import each other."""
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
    """A shortest cycle through the group's first node, staying inside the group (breadth first)."""
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


def _edges_between(source: str, target: str) -> list[str]:
    """The module imports behind the package edge ``source -> target``, as ``a -> b`` lines."""
    return sorted(
        f"{module} -> {found.target}{' (function-local)' if found.local else ''}"
        f"{' (TYPE_CHECKING)' if found.typing_only else ''}"
        for module, imports in module_imports().items()
        if package_of(module) == source
        for found in imports
        if package_of(found.target) == target
    )


def test_the_graph_sees_function_local_and_type_checking_imports():
    imports = module_imports()
    assert Import("dropml.scoring.dask_executor", False, False) in imports["dropml.scoring.files"]  # top level
    assert Import("dropml.scoring.external_model", True, False) in imports["dropml.scoring.registered"]  # in a def
    assert Import("dropml.manifest", False, True) in imports["dropml.scoring.load"]  # under TYPE_CHECKING only
    assert "dropml.usecases.triggers" in import_graph()["functions.train_trigger.app"]  # the entry points too
    assert package_of("dropml.storage.keys") == "dropml.storage"
    assert package_of("dropml.config") == "dropml.config"
    assert package_of("web.api") == "web"
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_in_an_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_no_package_is_in_an_import_cycle():
    cycles = find_cycles(package_graph())
    detail = [
        " -> ".join(cycle)
        + " ("
        + "; ".join(e for a, b in itertools.pairwise(cycle) for e in _edges_between(a, b))
        + ")"
        for cycle in cycles
    ]
    assert not cycles, "package cycles: " + " | ".join(detail)


def test_every_package_stands_on_a_layer():
    unplaced = sorted(package for package in package_graph() if layer_of(package) is None)
    assert not unplaced, f"packages on no layer (place each in LAYERS in {Path(__file__).name}): {unplaced}"


def test_no_import_runs_up_the_layers():
    names = list(LAYERS)
    upward = []
    for source, targets in sorted(package_graph().items()):
        for target in sorted(targets):
            mine, theirs = layer_of(source), layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                where = names[mine[0]] if mine[0] != theirs[0] else f"{names[mine[0]]}, an ordered layer"
                upward.append(
                    f"{source} ({where}) imports {target} ({names[theirs[0]]}), which stands above it: "
                    + "; ".join(_edges_between(source, target))
                    + ". Move the caller up (into a use case) or the callee down."
                )
    assert not upward, "\n".join(upward)


def test_entry_points_reach_the_domain_only_through_use_cases():
    domain = LAYERS["domain"]
    direct = sorted(
        f"{module} -> {found.target}"
        for module, imports in module_imports().items()
        if package_of(module) in USE_CASES_ONLY
        for found in imports
        if not found.typing_only and package_of(found.target) in domain
    )
    assert not direct, f"entry points calling the domain instead of a use case (dropml.usecases): {direct}"


def test_dropmls_own_modules_are_imported_at_the_top():
    local = sorted(
        (module, found.target)
        for module, imports in module_imports().items()
        for found in imports
        if found.local and (module, found.target) not in LOCAL_IMPORTS_ALLOWED
    )
    assert not local, (
        f"function-local imports of dropml's own modules (move them to the top, or list them with a reason in "
        f"LOCAL_IMPORTS_ALLOWED and pyproject.toml's banned-module-level-imports): {local}"
    )


def test_nothing_outside_dropml_local_imports_the_local_world():
    offenders = {
        module: sorted(target for target in targets if package_of(target) == "dropml.local")
        for module, targets in import_graph().items()
        if package_of(module) != "dropml.local"
    }
    offenders = {module: targets for module, targets in offenders.items() if targets}
    assert not offenders, f"the core imports the local world (it must be the other way round): {offenders}"


def test_dask_executor_knows_nothing_about_scoring_versions_or_storage():
    imported = import_graph()["dropml.scoring.dask_executor"]
    forbidden = ("dropml.scoring", "dropml.registry", "dropml.storage", "dropml.manifest")
    assert not {target for target in imported if any(target == f or target.startswith(f + ".") for f in forbidden)}, (
        sorted(imported)
    )


def print_package_graph() -> None:
    """Print each package's layer and the packages it imports, layer by layer from the top."""
    graph = package_graph()
    names = list(LAYERS)
    for rank in reversed(range(len(names))):
        print(f"{names[rank]}:")
        for package in sorted(
            (p for p in graph if (layer_of(p) or (-1, 0))[0] == rank), key=lambda p: (layer_of(p), p)
        ):
            print(f"  {package} -> {', '.join(sorted(graph[package])) or '(nothing)'}")
    unplaced = sorted(p for p in graph if layer_of(p) is None)
    if unplaced:
        print("on no layer:", ", ".join(unplaced))


if __name__ == "__main__":
    sys.exit(print_package_graph())
