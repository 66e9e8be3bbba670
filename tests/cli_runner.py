"""The dropml CLI run as a user runs it: a subprocess pointed at the stand-in's endpoint."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dropml.cli *args`` against ``endpoint``; never raises on a non-zero exit."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    return subprocess.run(
        [sys.executable, "-m", "dropml.cli", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
