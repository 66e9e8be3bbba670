"""Packaging a trained version: its files (pickles, compiled models, leaderboard, plots, report) and manifest.

The registry's :func:`~dropml.registry.write_version` claims the number,
uploads the files and writes the manifest last; this module only says what
the version is made of. Each model that compiles to ONNX and gives
scikit-learn's answers on the holdout (:mod:`dropml.training.compile`) gets a
``<model>.onnx`` file and a ``compiled`` entry in its manifest row. The
training profile (:mod:`dropml.monitoring.profile`, every cleaned row) is the
``profile`` artifact, the reference of the version's drift reports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dropml import registry
from dropml.config import settings
from dropml.errors import BadInput
from dropml.manifest import PROFILE_ARTIFACT, CodeVersion, CompiledForm, DataSource, ExplainerForm, Manifest, ModelEntry
from dropml.monitoring.profile import build_profile
from dropml.registry import VersionFile
from dropml.scoring.validate import validate_frame
from dropml.storage import keys
from dropml.training.compile import NotCompilable, compile_pipeline, missing_compilers
from dropml.training.explainers import BuiltExplainer, NotExplainable, build_explainer
from dropml.training.report import ReportContent, render_report

if TYPE_CHECKING:
    from dropml.manifest import Artifact
    from dropml.training.compile import CompiledModel
    from dropml.training.evaluation import ModelResult
    from dropml.training.steps import TrainedVersion

logger = logging.getLogger(__name__)


def write_trained_version(trained: TrainedVersion, project: str, run_id: str) -> Manifest:
    """Write ``trained`` as the next version of ``project`` through the registry (manifest last)."""
    compiled, reasons = compile_models(trained)
    explained = explain_champion(trained)
    return registry.write_version(
        project,
        run_id,
        lambda version, created_at: version_files(trained, project, version, created_at, compiled, explained),
        lambda version, created_at, artifacts: build_manifest(
            trained, project, version, run_id, created_at, artifacts, compiled, reasons, explained
        ),
    )


def compiled_artifact(model_name: str) -> str:
    """The artifact name of a model's compiled form."""
    return f"{model_name}.onnx"


def explainer_artifact(model_name: str) -> str:
    """The artifact name of a model's explainer."""
    return f"{model_name}.explainer.npz"


def explain_champion(trained: TrainedVersion) -> BuiltExplainer | str:
    """The champion's explainer, checked on the holdout rows, or why it has none (never raises: a version
    publishes without reasons rather than not at all)."""
    champion = trained.champion
    try:
        holdout = validate_frame(trained.schema, trained.cleaned.features.iloc[trained.split.holdout])
        pipeline = champion.pipeline if champion.pipeline is not None else _unpickle(champion.pickle_path)
        built = build_explainer(pipeline, trained.schema, holdout, trained.cleaned.task)
    except (NotExplainable, BadInput) as err:
        logger.info("champion not explained", extra={"model": champion.name, "reason": str(err)})
        return str(err)
    except Exception as err:  # reasons are extra: a failure to explain never stops a version from publishing
        logger.warning("explaining the champion failed", extra={"model": champion.name}, exc_info=True)
        return f"explaining it failed: {type(err).__name__}: {str(err)[:200]}"
    logger.info(
        "champion explained",
        extra={"model": champion.name, "method": built.method, "rows": built.importance_rows, "seconds": built.seconds},
    )
    return built


def compile_models(trained: TrainedVersion) -> tuple[dict[str, CompiledModel], dict[str, str]]:
    """Each model's compiled form that agrees with scikit-learn on the holdout rows, and why the others have none."""
    names = [result.name for result in trained.ranked]
    missing = missing_compilers()
    if missing:  # skl2onnx/onnx/onnxruntime absent: every model is served by scikit-learn
        logger.info("models not compiled", extra={"reason": f"not installed: {', '.join(missing)}"})
        return {}, dict.fromkeys(names, f"the compiler is not installed ({', '.join(missing)})")
    try:
        holdout = validate_frame(trained.schema, trained.cleaned.features.iloc[trained.split.holdout])
    except BadInput as err:
        logger.info("models not compiled", extra={"reason": f"holdout rows: {err}"})
        return {}, dict.fromkeys(names, f"the holdout rows to check it on are not valid input: {err}")
    compiled, reasons = {}, {}
    for result in trained.ranked:
        pipeline = result.pipeline if result.pipeline is not None else _unpickle(result.pickle_path)
        try:
            compiled[result.name] = compile_pipeline(pipeline, trained.schema, holdout, trained.cleaned.task)
        except NotCompilable as err:
            reasons[result.name] = str(err)
            logger.warning("model not compiled", extra={"model": result.name, "reason": str(err)})
    return compiled, reasons


def _unpickle(path: str | None) -> object:
    import joblib

    return joblib.load(path)


def version_files(
    trained: TrainedVersion,
    project: str,
    version: int,
    created_at: str,
    compiled: dict[str, CompiledModel] | None = None,
    explained: BuiltExplainer | str | None = None,
) -> Iterator[VersionFile]:
    """Every file of a trained version, pickles first (one at a time: a forest can be hundreds of MB)."""

    for result in trained.ranked:
        body = result.pickle_path or _pickle(result.pipeline)
        yield VersionFile(result.name, f"{result.name}.pkl", body, "application/octet-stream")
    for name, model in (compiled or {}).items():
        yield VersionFile(compiled_artifact(name), compiled_artifact(name), model.body, "application/octet-stream")
    if isinstance(explained, BuiltExplainer):
        name = explainer_artifact(trained.champion.name)
        yield VersionFile(name, name, explained.body, "application/octet-stream")
    board = trained.leaderboard.to_csv(index=False).encode()
    yield VersionFile("leaderboard", keys.LEADERBOARD_NAME, board, "text/csv")
    for name, png in trained.plots.items():
        yield VersionFile(f"plot_{name}", f"{name}.png", png, "image/png", report=True)
    content = ReportContent(
        project=project,
        version=version,
        data_key=trained.data.key,
        created_at=created_at,
        task=trained.cleaned.task,
        target=trained.conf.target,
        rank_metric=trained.rank_metric,
        champion=trained.champion.name,
        quality=trained.cleaned.quality,
        summary=trained.summary,
        leaderboard=trained.leaderboard,
        selected_features=trained.selected_features,
        plots=trained.plots,
        split=trained.split.kind,
    )
    yield VersionFile("report", keys.REPORT_NAME, render_report(content), "text/html; charset=utf-8", report=True)
    yield VersionFile(PROFILE_ARTIFACT, keys.PROFILE_NAME, training_profile(trained), "application/json")


def training_profile(trained: TrainedVersion) -> bytes:
    """The profile of the cleaned training rows, as the version stores it.

    Read from the cleaned frame as it is: it gives the profile of the same rows
    checked against the schema (tests/unit/test_monitoring_drift.py, on the zoo),
    without checking a million rows value by value.
    """
    points = settings().monitoring.drift.profile_points
    return build_profile(trained.schema, trained.cleaned.features, points).to_bytes()


def _pickle(pipeline: object) -> bytes:
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def build_manifest(
    trained: TrainedVersion,
    project: str,
    version: int,
    run_id: str,
    created_at: str,
    artifacts: dict[str, Artifact],
    compiled: dict[str, CompiledModel] | None = None,
    not_compiled: dict[str, str] | None = None,
    explained: BuiltExplainer | str | None = None,
) -> Manifest:
    """The manifest of an uploaded version: data, code, config, schema, every model's metrics, the champion.

    ``compiled`` holds each compiled model's form, ``not_compiled`` why the others have none; ``explained``
    the champion's explainer or why it has none.
    """
    cleaned, data = trained.cleaned, trained.data
    classes = trained.champion.classes if cleaned.task == "classification" else None
    quality = {**cleaned.quality, "split": trained.split.kind, "train_rows": len(trained.split.train)}
    quality["holdout_rows"] = len(trained.split.holdout)
    gap = len(cleaned.frame) - len(trained.split.train) - len(trained.split.holdout)
    if gap:  # time-ordered: the rows whose targets lie in the holdout period train nothing (evaluation.time_split)
        quality["gap_rows"] = gap
    return Manifest(
        project=project,
        version=version,
        created_at=created_at,
        run_id=run_id,
        data=DataSource(
            key=data.key,
            etag=data.etag,
            sha256=data.sha256,
            rows=len(data.frame),
            columns=len(data.frame.columns),
            bytes=data.size,
        ),
        code=CodeVersion.running(),
        config=trained.conf.model_dump(mode="json"),
        target=trained.conf.target,
        task=cleaned.task,
        classes=classes,
        input_schema=trained.schema,
        selected_features=trained.selected_features,
        data_quality=quality,
        artifacts=artifacts,
        models=model_entries(trained.ranked, compiled, not_compiled, trained.champion.name, explained),
        rank_metric=trained.rank_metric,
        champion=trained.champion.name,
        **artifact_links(artifacts),
    )


def artifact_links(artifacts: dict[str, Artifact]) -> dict[str, Any]:
    """The manifest fields that point into ``artifacts``: its report and plots, and its training profile if written.

    Both training paths (in process and Dask) name their artifacts alike, so both link them here.
    """
    return {
        "reports": {
            n.removeprefix("plot_"): a.key for n, a in artifacts.items() if n == "report" or n.startswith("plot_")
        },
        "profile": PROFILE_ARTIFACT if PROFILE_ARTIFACT in artifacts else None,
    }


def model_entries(
    ranked: list[ModelResult],
    compiled: dict[str, CompiledModel] | None,
    not_compiled: dict[str, str] | None = None,
    champion: str | None = None,
    explained: BuiltExplainer | str | None = None,
) -> list[ModelEntry]:
    """The manifest's leaderboard rows: each ranked model, its metrics, its compiled form or why it has none,
    and the ``champion``'s explainer (``explained``) or why it has none."""
    return [
        ModelEntry(
            name=r.name,
            estimator=r.estimator,
            artifact=r.name,
            rank=r.rank,
            metrics={k: v for k, v in r.metrics.items() if k != "cv_fit_seconds"},
            params=r.params,
            baseline=r.baseline,
            compiled=_compiled_form(r.name, (compiled or {}).get(r.name)),
            not_compiled=(not_compiled or {}).get(r.name),
            **(_explainer_fields(r.name, explained) if r.name == champion else {}),
        )
        for r in ranked
    ]


def _explainer_fields(model_name: str, explained: BuiltExplainer | str | None) -> dict[str, Any]:
    if not isinstance(explained, BuiltExplainer):
        return {"not_explained": explained}
    form = ExplainerForm(
        artifact=explainer_artifact(model_name),
        method=explained.method,  # type: ignore[arg-type]
        scale=explained.scale,  # type: ignore[arg-type]
        importance=explained.importance,
        importance_rows=explained.importance_rows,
    )
    return {"explainer": form}


def _compiled_form(model_name: str, model: CompiledModel | None) -> CompiledForm | None:
    if model is None:
        return None
    return CompiledForm(
        artifact=compiled_artifact(model_name),
        input_columns=model.input_columns,
        checked_rows=model.checked_rows,
        max_difference=model.max_difference,
    )
