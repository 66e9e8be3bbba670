"""Versions made by the real training code on the example sets: trained once per session, written per test.

A test that needs a published version gets what ``dropml.training`` produces
from an example CSV: the real ingest, clean, schema, EDA, fit and rank steps
(:func:`dropml.training.steps.train`) run once per (CSV, project, settings) in
the session, with the fitted pipelines spooled to a session temp folder. Each
test then writes that trained version into its freshly reset stand-in with the
real packaging code (:func:`dropml.training.package.write_trained_version`,
which goes through the one version writer) and, when asked, makes it live with
:func:`dropml.registry.promote`, as the publish Lambda would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropml import registry, storage
from dropml.config import settings
from dropml.storage import keys
from dropml.training.ingest import load_training_data
from dropml.training.package import write_trained_version
from dropml.training.steps import train
from dropml.usecases.train import new_run_id

if TYPE_CHECKING:
    from dropml.manifest import Manifest
    from dropml.training.steps import TrainedVersion

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BREAST_CANCER = EXAMPLES / "breast_cancer.csv"  # classification: 30 numeric columns, target benign/malignant
DIABETES = EXAMPLES / "diabetes.csv"  # regression: 9 numeric columns and the categorical sex (F/M)

# Small and fast (a few seconds per data set, most of it EDA plots and first imports): the three real models
# the config requires, one of them a forest and one linear (tests address both by name), plus the dummy
# baseline. No boosting: its cross-validation alone costs seconds.
VERSION_TRAINING: dict[str, Any] = {
    "cv_folds": 2,
    "models": {
        "baseline": {"estimator": "dummy"},
        "linear": {"estimator": "linear"},
        "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 20, "min_samples_leaf": 2}},
        "knn": {"estimator": "knn"},
    },
}
TAMPERED_BYTES = b"not the pickle the manifest promises"


class TrainedVersions:
    """The example sets trained by the real training steps, once per session; each test writes its own versions."""

    def __init__(self, spool_root: Path) -> None:
        self._spool_root = spool_root
        self._trained: dict[tuple[str, str, str], TrainedVersion] = {}
        self.training_seconds: dict[str, float] = {}  # per (CSV, project, settings): what the session paid

    def write(
        self,
        project: str = keys.DEFAULT_PROJECT,
        csv: Path = BREAST_CANCER,
        *,
        promote: bool = True,
        overrides: dict[str, Any] | None = None,
    ) -> Manifest:
        """Write the next version of ``project`` trained on ``csv``, and make it live unless ``promote`` is False.

        The CSV is (re)uploaded to the project's training key first, so the
        version's ``data.key`` names a file that exists, as after a real run.
        """
        trained = self.trained(project, csv, overrides)
        storage.put_bytes(trained.data.key, csv.read_bytes(), "text/csv")
        manifest = write_trained_version(trained, project, new_run_id())
        if promote:
            registry.promote(project, manifest.version)
        return manifest

    def trained(self, project: str, csv: Path, overrides: dict[str, Any] | None = None) -> TrainedVersion:
        """What the training steps make of ``csv`` for ``project`` (trained on the first call, then reused).

        ``overrides`` (default :data:`VERSION_TRAINING`) replace the project's
        training settings, as the launcher's stored overrides do.
        """
        overrides = VERSION_TRAINING if overrides is None else overrides
        cache_key = (str(csv), project, json.dumps(overrides, sort_keys=True))
        if cache_key not in self._trained:
            started = time.perf_counter()
            data_key = keys.data_key("train", project, csv.name)
            storage.put_bytes(data_key, csv.read_bytes(), "text/csv")
            spool_dir = self._spool_root / f"trained-{len(self._trained)}"
            spool_dir.mkdir()
            conf = settings().training_for(project, overrides)
            self._trained[cache_key] = train(load_training_data(data_key), conf, str(spool_dir))
            self.training_seconds[f"{csv.name} as {project}"] = time.perf_counter() - started
        return self._trained[cache_key]


def tamper_with_artifact(manifest: Manifest, artifact: str, body: bytes = TAMPERED_BYTES) -> str:
    """Overwrite one artifact of a written version in S3 behind the registry's back (simulates tampering).

    Returns the overwritten key.
    """
    key = manifest.artifacts[artifact].key
    storage.put_bytes(key, body)
    return key
