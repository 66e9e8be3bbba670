"""Small, honest stand-ins for tests that need a published version but not a training run."""

from __future__ import annotations

from dropml import registry
from dropml.manifest import Artifact, CodeVersion, ColumnSchema, InputSchema, Manifest, ModelEntry
from dropml.registry import VersionFile


def write_opaque_version(project: str, body: bytes = b"model") -> Manifest:
    """Claim a version and write one opaque artifact plus a valid manifest (registry tests only)."""
    files = [VersionFile("m", "m.pkl", body, "application/octet-stream")]

    def manifest_for(version: int, created_at: str, artifacts: dict[str, Artifact]) -> Manifest:
        return Manifest(
            project=project,
            version=version,
            created_at=created_at,
            run_id="test-run",
            code=CodeVersion(dropml="0", git="abc", python="3.11", libraries={}),
            config={},
            target="y",
            task="regression",
            input_schema=InputSchema(columns=[ColumnSchema(name="x", dtype="float64", kind="numeric")]),
            artifacts=artifacts,
            models=[ModelEntry(name="m", estimator="linear", artifact="m", rank=1, metrics={"rmse": 1.0})],
            rank_metric="rmse",
            champion="m",
        )

    return registry.write_version(project, "test-run", lambda _version, _created: files, manifest_for)


# Small, fast training settings for tests that need a real training run but not good models.
FAST_TRAINING = {
    "cv_folds": 3,
    "models": {
        "baseline": {"estimator": "dummy"},
        "linear": {"estimator": "linear"},
        "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 20, "min_samples_leaf": 2}},
        "gradient_boosting": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 30}},
    },
}
