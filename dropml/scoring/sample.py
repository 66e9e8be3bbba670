"""Publish a small, real version from a CSV without the training job: for tests, demos and benchmarks.

It fits three scikit-learn Pipelines (steps ``preprocess``, ``select``,
``model``) the way the training job does, writes them with the registry
(claim, artifacts, a leaderboard, an EDA plot and report, the manifest last)
and optionally makes the version live. The fitted bytes are cached per
process, so publishing again (e.g. after a test resets the stand-in) is fast.
"""

from __future__ import annotations

import io
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

from dropml import aws, registry
from dropml.config import settings
from dropml.manifest import CodeVersion, ColumnSchema, InputSchema, Manifest, ModelEntry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BREAST_CANCER = EXAMPLES / "breast_cancer.csv"


def _schema_of(frame: Any) -> InputSchema:
    import pandas as pd

    columns = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series.dtype):
            columns.append(
                ColumnSchema(
                    name=name,
                    dtype=str(series.dtype),
                    kind="numeric",
                    minimum=float(series.min()),
                    maximum=float(series.max()),
                )
            )
        else:
            categories = sorted(str(v) for v in series.dropna().unique())
            columns.append(ColumnSchema(name=name, dtype="str", kind="categorical", categories=categories))
    return InputSchema(columns=columns)


def _pipeline(schema: InputSchema, estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in schema.columns if c.kind == "numeric"]
    categorical = [c.name for c in schema.columns if c.kind != "numeric"]
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("select", VarianceThreshold()), ("model", estimator)])


def _estimators(task: str, trees: int) -> dict[str, tuple[str, Any]]:
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "classification":
        return {
            "linear": ("logistic_regression", LogisticRegression(max_iter=2000)),
            "random_forest": ("random_forest", RandomForestClassifier(n_estimators=trees, random_state=42)),
            "baseline": ("dummy", DummyClassifier(strategy="most_frequent")),
        }
    return {
        "linear": ("ridge", Ridge()),
        "random_forest": ("random_forest", RandomForestRegressor(n_estimators=trees, random_state=42)),
        "baseline": ("dummy", DummyRegressor()),
    }


@lru_cache(maxsize=8)
def fit_sample(csv_path: str, target: str, trees: int = 30) -> dict[str, Any]:
    """Fit the sample pipelines on ``csv_path`` once per process; pickled bytes, schema, metrics, report files."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(csv_path)
    features = frame.drop(columns=[target])
    labels = frame[target]
    task = "regression" if pd.api.types.is_float_dtype(labels.dtype) else "classification"
    schema = _schema_of(features)
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.25, random_state=42)
    models: dict[str, Any] = {}
    for name, (estimator_name, estimator) in _estimators(task, trees).items():
        pipeline = _pipeline(schema, estimator).fit(x_train, y_train)
        predicted = pipeline.predict(x_test)
        if task == "classification":
            metrics = {"accuracy": float(np.mean(predicted == y_test.to_numpy()))}
        else:
            metrics = {"rmse": float(np.sqrt(np.mean((predicted - y_test.to_numpy()) ** 2)))}
        buffer = io.BytesIO()
        joblib.dump(pipeline, buffer)
        models[name] = {"estimator": estimator_name, "bytes": buffer.getvalue(), "metrics": metrics}
    metric = "accuracy" if task == "classification" else "rmse"
    order = sorted(models, key=lambda n: models[n]["metrics"][metric], reverse=task == "classification")
    classes = sorted(str(c) for c in labels.unique()) if task == "classification" else None
    return {
        "task": task,
        "schema": schema,
        "models": models,
        "order": order,
        "metric": metric,
        "classes": classes,
        "rows": len(frame),
        "reports": _reports(features, target),
    }


def _reports(features: Any, target: str) -> dict[str, tuple[bytes, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = features.columns[0]
    figure, axes = plt.subplots(figsize=(4, 3))
    features[first].plot.hist(ax=axes, bins=20, title=f"{first}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=60)
    plt.close(figure)
    html = (
        "<!doctype html><html><head><title>EDA report</title></head><body>"
        f"<h1>EDA report</h1><p>{len(features)} rows, {features.shape[1]} features, target {target}.</p>"
        '<img src="hist.png" alt="histogram"></body></html>'
    )
    return {"hist.png": (buffer.getvalue(), "image/png"), "report.html": (html.encode(), "text/html")}


def publish_sample_version(
    project: str = "default",
    csv_path: str | Path = BREAST_CANCER,
    target: str = "target",
    promote: bool = True,
    trees: int = 30,
    tamper: str | None = None,
) -> Manifest:
    """Write a real version of ``project`` from ``csv_path`` and (by default) make it live.

    ``tamper`` names a model whose pickle is overwritten after the manifest is
    written (and, with ``promote``, the version is made live anyway), to test
    checksum handling.
    """
    from dropml import storage

    fitted = fit_sample(str(csv_path), target, trees)
    version = registry.claim_version(project, "sample")
    artifacts = {}
    entries = []
    for rank, name in enumerate(fitted["order"], start=1):
        model = fitted["models"][name]
        artifacts[name] = registry.write_artifact(
            project, version, f"{name}.pkl", model["bytes"], "application/x-pickle"
        )
        entries.append(
            ModelEntry(
                name=name,
                estimator=model["estimator"],
                artifact=name,
                rank=rank,
                metrics=model["metrics"],
                baseline=model["estimator"] == "dummy",
            )
        )
    leaderboard = (
        "model,rank,"
        + fitted["metric"]
        + "\n"
        + "".join(f"{e.name},{e.rank},{e.metrics[fitted['metric']]}\n" for e in entries)
    )
    artifacts["leaderboard"] = registry.write_artifact(
        project, version, "leaderboard.csv", leaderboard.encode(), "text/csv"
    )
    reports = {}
    for file_name, (body, content_type) in fitted["reports"].items():
        artifact = registry.write_artifact(project, version, file_name, body, content_type, report=True)
        artifacts[f"report:{file_name}"] = artifact
        reports[file_name] = artifact.key
    champion = next(e.name for e in entries if not e.baseline)
    manifest = Manifest(
        project=project,
        version=version,
        created_at=registry.utc_now(),
        run_id=f"sample-{version}",
        source="registered",
        code=CodeVersion(dropml="sample", git="", python=platform.python_version(), libraries={}),
        config={"sample": True, "trees": trees},
        target=target,
        task=fitted["task"],
        classes=fitted["classes"],
        input_schema=fitted["schema"],
        artifacts=artifacts,
        models=entries,
        rank_metric=fitted["metric"],
        champion=champion,
        reports=reports,
    )
    registry.write_manifest(manifest)
    if tamper:
        storage.put_bytes(artifacts[tamper].key, b"not the pickle the manifest promises")
    if promote and tamper:  # as if the pickle was replaced after a correct promotion
        aws.client("ssm").put_parameter(
            Name=settings().model_version_parameter(project), Value=str(version), Type="String", Overwrite=True
        )
    elif promote:
        registry.promote(project, version)
    return manifest
