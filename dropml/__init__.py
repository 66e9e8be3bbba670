"""dropml: tabular CSVs in S3 to ranked, versioned, live-served scikit-learn models.

The entry points (functions/, training_job/, web/) stay thin; everything they
share lives in this package. Importing it is cheap: heavy libraries (pandas,
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
