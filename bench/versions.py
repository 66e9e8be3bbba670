"""The versions the serving benchmarks measure: made by the real training job on an example set.

``bench/serve.py`` and ``bench/load.py`` upload ``examples/breast_cancer.csv``
under ``train/`` of their moto server and run
:func:`dropml.usecases.train.run_training` on it, so they time the pipelines a
user gets, not hand-built ones. No poller runs there, so the publish Lambda's
part (making the version live) is a :func:`dropml.registry.promote` call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropml import registry, storage
from dropml.storage import keys
from dropml.usecases.train import run_training

if TYPE_CHECKING:
    from dropml.manifest import Manifest

BREAST_CANCER = Path(__file__).resolve().parents[1] / "examples" / "breast_cancer.csv"

# The config's own models (the dummy baseline, logistic regression, a 100-tree random forest, gradient
# boosting), fitted as the job always fits them; only cross-validation is cut to 2 folds, which changes the
# leaderboard's estimates, not the pickles served. serve.py times the random forest by name on Dask.
BENCH_TRAINING: dict[str, Any] = {"cv_folds": 2}

# Two more versions whose champion is known in advance, so the peers are compared on a tree ensemble and on a
# linear model (the issue asks for both): the other real models are made weak on purpose (a heavily
# regularised linear model, a one-stump forest, a 150-neighbour vote), so the named one wins the ranking.
# bench/serve.py prints the champion each version really got.
CHAMPION_TRAINING: dict[str, dict[str, Any]] = {
    "forest": {
        "cv_folds": 2,
        "models": {
            "baseline": {"estimator": "dummy"},
            "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 100, "min_samples_leaf": 2}},
            "linear": {"estimator": "linear", "params": {"C": 0.0001}},
            "knn": {"estimator": "knn", "params": {"n_neighbors": 150}},
        },
    },
    "linear": {
        "cv_folds": 2,
        "models": {
            "baseline": {"estimator": "dummy"},
            "linear": {"estimator": "linear"},
            "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 1, "max_depth": 1}},
            "knn": {"estimator": "knn", "params": {"n_neighbors": 150}},
        },
    },
}


def train_example_version(
    csv: Path = BREAST_CANCER,
    project: str = keys.DEFAULT_PROJECT,
    *,
    promote: bool = True,
    overrides: dict[str, Any] | None = None,
) -> Manifest:
    """Run the real training job on ``csv`` (uploaded to the project's ``train/`` key); live unless not ``promote``.

    ``overrides`` (default :data:`BENCH_TRAINING`) replace the project's training settings.
    Needs the stand-in (``local.use_endpoint``) and the bucket.
    """
    data_key = keys.data_key("train", project, csv.name)
    storage.put_bytes(data_key, csv.read_bytes(), "text/csv")
    manifest = run_training(data_key, overrides=BENCH_TRAINING if overrides is None else overrides)
    if promote:
        registry.promote(project, manifest.version)
    return manifest
