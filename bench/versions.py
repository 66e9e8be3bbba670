"""The versions the serving benchmarks measure: made by the real training job on an example set.

``bench/serve.py`` and ``bench/load.py`` upload ``examples/breast_cancer.csv``
under ``train/`` of their moto server and run
:func:`dropml.training.job.run_training` on it, so they time the pipelines a
user gets, not hand-built ones. No poller runs there, so the publish Lambda's
part (making the version live) is a :func:`dropml.registry.promote` call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropml import registry, storage
from dropml.storage import keys
from dropml.training.job import run_training

if TYPE_CHECKING:
    from dropml.manifest import Manifest

BREAST_CANCER = Path(__file__).resolve().parents[1] / "examples" / "breast_cancer.csv"

# The config's own models (the dummy baseline, logistic regression, a 100-tree random forest, gradient
# boosting), fitted as the job always fits them; only cross-validation is cut to 2 folds, which changes the
# leaderboard's estimates, not the pickles served. serve.py times the random forest by name on Dask.
BENCH_TRAINING: dict[str, Any] = {"cv_folds": 2}


def train_example_version(
    csv: Path = BREAST_CANCER, project: str = keys.DEFAULT_PROJECT, *, promote: bool = True
) -> Manifest:
    """Run the real training job on ``csv`` (uploaded to the project's ``train/`` key); live unless not ``promote``.

    Needs the stand-in (``local.use_endpoint``) and the bucket.
    """
    data_key = keys.data_key("train", project, csv.name)
    storage.put_bytes(data_key, csv.read_bytes(), "text/csv")
    manifest = run_training(data_key, overrides=BENCH_TRAINING)
    if promote:
        registry.promote(project, manifest.version)
    return manifest
