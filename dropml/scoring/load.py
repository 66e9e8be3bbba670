"""Load a version's pipelines (checksums first) and predict with them in this thread.

The leaf of scoring: it knows the registry and :mod:`dropml.scoring.onnx_runtime`
and nothing else of dropml.scoring, so the cache, the Dask path and file
scoring can all build on it. A model with a compiled form in the manifest
(ONNX, checked against scikit-learn at publish time) is predicted by
onnxruntime when that is installed; its pipeline is the fallback, unpickled
only when first used (so a fresh process that serves compiled models never
imports scikit-learn: a cold start of a fraction of a second).
"""

from __future__ import annotations

import functools
import io
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dropml import registry
from dropml.errors import BadInput
from dropml.scoring.engines import require_scikit_learn
from dropml.scoring.explain import Explainer, ExplainerError
from dropml.scoring.feature_program import METADATA_KEY, FeatureProgram
from dropml.scoring.onnx_runtime import OnnxModel, load_session, onnx_available, predict_frame, run
from dropml.scoring.ranges import TrainingRanges
from dropml.scoring.rows import as_frame

if TYPE_CHECKING:
    import numpy as np

    from dropml.manifest import InputSchema, Manifest
    from dropml.scoring.rows import CheckedRows

logger = logging.getLogger(__name__)

ModelChoice = Literal["all", "champion"]
_EXPLAINER_READ = threading.Lock()  # one read of a version's explainer at a time


class NotExplained(Exception):
    """Why a version's champion has no explanation (said in the answer that asked for one)."""


class LazyPipelines(Mapping[str, Any]):
    """Model name → fitted pipeline, each unpickled on first use from bytes whose checksum was already checked."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self._blobs = blobs
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Any:
        found = self._loaded.get(name)
        if found is not None:
            return found
        with self._lock:  # two threads asking at once unpickle once
            if name not in self._loaded:
                import joblib

                self._loaded[name] = joblib.load(io.BytesIO(self._blobs[name]))
            return self._loaded[name]

    def unpickle(self, names: list[str]) -> None:
        """Unpickle ``names`` now (the models served by scikit-learn: their first request should not wait)."""
        for name in names:
            self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, bytes]]]:
        return LazyPipelines, (self._blobs,)  # a Dask worker process gets the bytes, not the lock


@dataclass(frozen=True)
class CompiledPredictor:
    """A model's compiled form, loaded: its onnxruntime model, the raw columns it reads, and its feature program.

    Without a program (versions compiled before programs existed), the ONNX
    model takes ``input_columns`` as one float64 matrix itself.
    """

    model: OnnxModel
    input_columns: list[str]
    program: FeatureProgram | None = None

    def predict(self, rows: CheckedRows, matrices: dict[Any, np.ndarray] | None = None) -> np.ndarray:
        """The model's predictions for checked rows (the same as its pipeline's, checked at publish time).

        ``matrices`` is shared by the models of one request: each input matrix is made once per request.
        """
        program = self.program
        if program is None:
            return predict_frame(self.model, rows, self.input_columns, matrices)
        matrix = matrices.get(program.key) if matrices is not None else None
        if matrix is None:
            matrix = program.matrix(rows)
            if matrices is not None:
                matrices[program.key] = matrix
        return program.output.decode(run(self.model, matrix))


def compiled_predictor(model_bytes: bytes, input_columns: list[str]) -> CompiledPredictor:
    """A compiled model's bytes loaded for predicting (its feature program read from its metadata).

    Raises:
        ImportError: onnxruntime is not installed.
        onnxruntime's errors, ProgramError: the bytes are not a compiled model this code runs.
    """
    model = load_session(model_bytes)
    text = model.metadata.get(METADATA_KEY)
    return CompiledPredictor(model, input_columns, FeatureProgram.from_json(text) if text is not None else None)


@dataclass(frozen=True)
class LoadedVersion:
    """One version ready to predict: its manifest and a fitted pipeline per model (immutable once built)."""

    manifest: Manifest
    pipelines: Mapping[str, Any]
    compiled: dict[str, CompiledPredictor] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0
    explainers: dict[str, Explainer] = field(default_factory=dict, compare=False)  # read on first use

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to a Dask worker) without the explainers read so far: partitions are predicted, not explained."""
        return {**self.__dict__, "explainers": {}}

    def champion_explainer(self) -> Explainer:
        """The champion's explainer, read (its checksum checked) on the first request that asks for one.

        Plain predictions never read it, so a version loads and answers as fast as without.

        Raises:
            NotExplained: the champion has none (the manifest says why), or its file is not one this code reads.
            ChecksumMismatch: the file differs from the manifest.
        """
        found = self.explainers.get(self.champion)
        if found is not None:
            return found
        entry = self.manifest.model(self.champion)
        if entry.explainer is None:
            if entry.not_explained:
                raise NotExplained(entry.not_explained)
            if self.manifest.source == "registered":
                raise NotExplained("a registered model has no explainer (explainers are built when dropml trains)")
            raise NotExplained("this version was published before explanations existed: retrain to get them")
        with _EXPLAINER_READ:
            if self.champion not in self.explainers:
                artifact = self.manifest.artifacts[entry.explainer.artifact]
                body = registry.read_artifacts({"explainer": artifact})["explainer"]
                try:
                    self.explainers[self.champion] = Explainer.from_bytes(body)
                except ExplainerError as err:
                    raise NotExplained(f"its explainer cannot be read by this server: {err}") from None
        return self.explainers[self.champion]

    @property
    def project(self) -> str:
        """The project this version belongs to."""
        return self.manifest.project

    @property
    def version(self) -> int:
        """The version number."""
        return self.manifest.version

    @property
    def champion(self) -> str:
        """The name of the best-ranked model."""
        return self.manifest.champion

    @property
    def schema(self) -> InputSchema:
        """The input columns every request must match."""
        return self.manifest.input_schema

    @functools.cached_property
    def training_ranges(self) -> TrainingRanges:
        """The numeric ranges its models were trained on, to flag rows they extrapolate for (built once)."""
        return TrainingRanges.of(self.manifest.input_schema)

    @property
    def scores_whole_batches(self) -> bool:
        """True when a row's answer reads earlier rows of its batch, so a batch must not be split into partitions.

        A sequence model scores each row with a window of the rows before it; a
        time-ordered project's lags and returns come from the rows before it
        in its group.
        """
        return bool(self.manifest.config.get("sequence")) or bool(self.manifest.input_schema.time_column)

    @property
    def model_names(self) -> list[str]:
        """Model names in leaderboard order (champion first)."""
        return self.manifest.model_names

    def names_for(self, models: ModelChoice) -> list[str]:
        """The models a request asked for: every model, or just the champion.

        Raises:
            BadInput: ``models`` is neither ``all`` nor ``champion``.
        """
        if models == "all":
            return self.model_names
        if models == "champion":
            return [self.champion]
        raise BadInput("models", models, f"models must be 'all' or 'champion' (got {models!r})")


def load_version(project: str, version: int, manifest: Manifest | None = None) -> LoadedVersion:
    """Read a version's manifest and load every model, each only after its sha256 matched.

    All artifacts are read and checked before any is unpickled, so a tampered
    version loads nothing (pickles run code on load). Models with a compiled
    form get an onnxruntime session; their pickles are unpickled on first use
    (the fallback), the others now. ``manifest``, when the
    caller has just read it, saves reading it again. Every call unpickles:
    serving code asks :func:`dropml.scoring.version_cache.cached_version`,
    which calls this once per version and process.

    Raises:
        NotFound: no such version, or an artifact is missing.
        ChecksumMismatch: an artifact differs from the manifest.
        BadInput: the manifest is malformed.
        NeedsScikitLearn: a model has no compiled form and scikit-learn is not installed.
    """
    started = time.perf_counter()
    manifest = manifest or registry.read_manifest(project, version)
    wanted = {("pickle", entry.name): manifest.artifacts[entry.artifact] for entry in manifest.models}
    if onnx_available():  # else every model is served by scikit-learn
        wanted.update(
            {
                ("compiled", entry.name): manifest.artifacts[entry.compiled.artifact]
                for entry in manifest.models
                if entry.compiled is not None
            }
        )
    read = registry.read_artifacts(wanted)
    blobs = {name: body for (kind, name), body in read.items() if kind == "pickle"}
    compiled_blobs = {name: body for (kind, name), body in read.items() if kind == "compiled"}
    compiled = {}
    for entry in manifest.models:
        if entry.name in compiled_blobs and entry.compiled is not None:
            try:
                compiled[entry.name] = compiled_predictor(compiled_blobs[entry.name], entry.compiled.input_columns)
            except Exception as err:  # onnxruntime's own errors, or a newer program: serve it with scikit-learn
                logger.warning("compiled model not loaded", extra={"model": entry.name, "error": str(err)[:300]})
    uncompiled = [name for name in blobs if name not in compiled]
    require_scikit_learn(manifest, uncompiled)  # the lean Lambda package has none: refuse with where to serve it
    pipelines = LazyPipelines(blobs)
    pipelines.unpickle(uncompiled)  # now, not on a request after a swap
    seconds = time.perf_counter() - started
    logger.info(
        "model version loaded",
        extra={"project": project, "model_version": version, "seconds": seconds, "compiled": sorted(compiled)},
    )
    return LoadedVersion(manifest=manifest, pipelines=pipelines, compiled=compiled, load_seconds=seconds)


def predict_in_process(loaded: LoadedVersion, frame: CheckedRows, names: list[str]) -> dict[str, np.ndarray]:
    """Each named model's predictions for the checked rows, in this thread: compiled form first, else its pipeline.

    ``frame`` may be :class:`~dropml.scoring.rows.NumberRows`: compiled models read its matrix, a pipeline gets
    its DataFrame.

    Raises:
        BadInput: (422) a model refused the input (e.g. a value it cannot transform).
    """
    out = {}
    matrices: dict[tuple[Any, ...], np.ndarray] = {}  # compiled models taking the same columns share one matrix
    for name in names:
        try:
            compiled = loaded.compiled.get(name)
            if compiled is not None:
                out[name] = compiled.predict(frame, matrices)
            else:
                out[name] = loaded.pipelines[name].predict(as_frame(frame))
        except (ValueError, TypeError) as err:
            logger.warning("model refused input", extra={"model": name, "error": str(err)[:300]})
            raise BadInput("body", None, f"model {name!r} could not score this input: {err}", http_status=422) from None
    return out
