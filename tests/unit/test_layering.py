"""The local world depends on the core, never the reverse: no cloud code names dropml.local, PyYAML or moto.

A quick static check of every module outside dropml/local/ (imports, and modules
imported by name); tests/integration/test_cloud_install.py checks it for real.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

CLOUD_CODE = ("dropml", "functions", "training_job", "web")
LOCAL_ONLY = ("dropml.local", "yaml", "moto")


def _cloud_modules() -> list[Path]:
    return sorted(
        path
        for top in CLOUD_CODE
        for path in (ROOT / top).rglob("*.py")
        if not path.is_relative_to(ROOT / "dropml" / "local")
    )


def _imported_names(tree: ast.AST) -> list[str]:
    """Every module ``tree`` imports: import statements and import_module/__import__ calls with a literal name."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
    return names


def _is_local_only(name: str) -> bool:
    return any(name == banned or name.startswith(f"{banned}.") for banned in LOCAL_ONLY)


@pytest.mark.parametrize("path", _cloud_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_cloud_code_does_not_import_the_local_world(path):
    found = [n for n in _imported_names(ast.parse(path.read_text(), str(path))) if _is_local_only(n)]
    assert found == [], f"{path.relative_to(ROOT)} imports {found}"


def test_the_check_sees_each_way_of_importing():
    code = "\n".join(
        [
            "import yaml",
            "from dropml import local",
            "from dropml.local.world import build",
            "importlib.import_module('moto')",
        ]
    )
    assert [n for n in _imported_names(ast.parse(code)) if _is_local_only(n)] == [
        "yaml",
        "dropml.local",
        "dropml.local.world",
        "dropml.local.world.build",
        "moto",
    ]
