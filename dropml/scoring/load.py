"""Load a version's pipelines (checksums first) and predict with them in this thread.

The leaf of scoring: it knows the registry and nothing else of dropml.scoring,
so the cache, the Dask path and file scoring can all build on it.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dropml import registry
from dropml.errors import BadInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dropml.manifest import InputSchema, Manifest

logger = logging.getLogger(__name__)

ModelChoice = Literal["all", "champion"]


@dataclass(frozen=True)
class LoadedVersion:
    """One version ready to predict: its manifest and a fitted pipeline per model (immutable once built)."""

    manifest: Manifest
    pipelines: dict[str, Any]
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0

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

    @property
    def scores_whole_batches(self) -> bool:
        """True for a sequence model: a row's window reaches earlier rows, so a batch must not be split."""
        return bool(self.manifest.config.get("sequence"))

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
    """Read a version's manifest and unpickle every model, each only after its sha256 matched.

    All artifacts are read and checked before any is unpickled, so a tampered
    version loads nothing (pickles run code on load). ``manifest``, when the
    caller has just read it, saves reading it again. Every call unpickles:
    serving code asks :func:`dropml.scoring.version_cache.loaded_version`,
    which calls this once per version and process.

    Raises:
        NotFound: no such version, or an artifact is missing.
        ChecksumMismatch: an artifact differs from the manifest.
        BadInput: the manifest is malformed.
    """
    import joblib

    started = time.perf_counter()
    manifest = manifest or registry.read_manifest(project, version)
    blobs = {entry.name: registry.read_artifact(manifest.artifacts[entry.artifact]) for entry in manifest.models}
    pipelines = {name: joblib.load(io.BytesIO(blob)) for name, blob in blobs.items()}
    seconds = time.perf_counter() - started
    logger.info("model version loaded", extra={"project": project, "model_version": version, "seconds": seconds})
    return LoadedVersion(manifest=manifest, pipelines=pipelines, load_seconds=seconds)


def predict_in_process(loaded: LoadedVersion, frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """Each named model's ``predict`` on the checked frame, in this thread.

    Raises:
        BadInput: (422) a model refused the input (e.g. a value it cannot transform).
    """
    out = {}
    for name in names:
        try:
            out[name] = loaded.pipelines[name].predict(frame)
        except (ValueError, TypeError) as err:
            logger.warning("model refused input", extra={"model": name, "error": str(err)[:300]})
            raise BadInput("body", None, f"model {name!r} could not score this input: {err}", http_status=422) from None
    return out
