"""dropml: tabular CSVs in S3 to ranked, versioned, live-served scikit-learn models.

The entry points (functions/, training_job/, web/, :mod:`dropml.cli`) stay
thin; everything they share lives in this package, in three layers, each
importing only those below it (tests/unit/test_import_graph.py checks it):

- services: :mod:`~dropml.config`, :mod:`~dropml.errors`, :mod:`~dropml.logs`, :mod:`~dropml.faults`,
  :mod:`~dropml.clock`, :mod:`~dropml.aws`, :mod:`~dropml.connection`, :mod:`~dropml.manifest`,
  :mod:`dropml.storage`, :mod:`~dropml.notify`, :mod:`~dropml.audit`, :mod:`dropml.jobs`,
  :mod:`~dropml.events`, :mod:`~dropml.security`, :mod:`~dropml.queues`, :mod:`~dropml.stacks` (a deployed
  stack's outputs), :mod:`~dropml.aws_names` (names AWS refuses)
- domain: :mod:`dropml.registry` < :mod:`dropml.scoring` < :mod:`dropml.training`
- use cases: :mod:`dropml.usecases`

:mod:`dropml.local` (the local world, dev install only) sits beside them and
nothing imports it. Importing this package is cheap: heavy libraries (pandas,
scikit-learn, dask) are imported only by the modules that need them.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

__version__ = "0.1.0"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the running code: ``DROPML_CODE_VERSION`` (set at image build), else git, else 'unknown'."""
    from_env = os.environ.get("DROPML_CODE_VERSION")
    if from_env:
        return from_env
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
