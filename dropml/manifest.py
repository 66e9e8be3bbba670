"""The manifest: the contract between training and serving.

A version exists for everyone else only once its manifest does; serving loads
nothing whose sha256 differs from what the manifest records.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import dropml

MODEL_LIBRARIES = (
    "scikit-learn",
    "pandas",
    "numpy",
    "joblib",
    "scipy",
    "matplotlib",
    "skl2onnx",
    "onnxruntime",
)  # recorded per version

MANIFEST_FORMAT = 1
PROFILE_ARTIFACT = "profile"  # the artifact name of a version's training profile (Manifest.profile names it)

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime"]
# How a boolean column's values are written. Training reads a text column of these words as a boolean column;
# the pipelines and the request checks also read 1 and 0 (and 1.0, 0.0: what a spreadsheet or pandas writes
# for them in a column that also holds a decimal). Case is ignored.
TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
TRUE_TEXTS = TRUE_WORDS | {"1", "1.0"}
FALSE_TEXTS = FALSE_WORDS | {"0", "0.0"}


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSchema(_Doc):
    """One input column the models expect."""

    name: str
    dtype: str
    kind: ColumnKind
    categories: list[str] | None = None  # allowed values of a categorical column
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True


class InputSchema(_Doc):
    """The columns a request must carry, in training order."""

    columns: list[ColumnSchema]
    time_column: str | None = None
    group_column: str | None = None

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema | None:
        """The schema of column ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)


class Artifact(_Doc):
    """One file of a version, with what proves it is the one that was written."""

    key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    content_type: str = "application/octet-stream"


class DataSource(_Doc):
    """The training data a version was made from."""

    key: str
    etag: str
    sha256: str
    rows: int
    columns: int
    bytes: int


class CodeVersion(_Doc):
    """The code and libraries that produced a version (pickles need the same scikit-learn)."""

    dropml: str
    git: str
    python: str
    libraries: dict[str, str]

    @classmethod
    def running(cls) -> CodeVersion:
        """The dropml version, git commit, Python and model-library versions of this process."""
        libraries = {}
        for name in MODEL_LIBRARIES:
            try:
                libraries[name] = version(name)
            except PackageNotFoundError:
                continue
        return cls(
            dropml=dropml.__version__, git=dropml.code_version(), python=platform.python_version(), libraries=libraries
        )


class CompiledForm(_Doc):
    """A model's compiled form (ONNX for onnxruntime), made at publish time and checked against scikit-learn.

    Serving uses it instead of the pickle when the runtime is installed; the
    pickle stays the fallback. ``checked_rows`` holdout rows gave the same answer
    (labels equal; regression values within ``max_difference``). The ONNX file
    carries its feature program (:mod:`dropml.scoring.feature_program`) in its
    metadata; one compiled before programs existed takes ``input_columns`` as
    one float64 matrix.
    """

    artifact: str  # name in ``artifacts``
    runtime: Literal["onnxruntime"] = "onnxruntime"
    input_columns: list[str]  # the raw input columns it reads
    checked_rows: int = Field(ge=1)
    max_difference: float = 0.0


class ExplainerForm(_Doc):
    """The champion's explainer (:mod:`dropml.scoring.explain`): its file, method, output scale, holdout importance.

    ``importance`` is the mean absolute contribution of each input column over
    ``importance_rows`` holdout rows, largest first: the version's global
    importance, on the output scale ``scale``.
    """

    artifact: str  # name in ``artifacts``
    method: Literal["tree_shap", "linear"]
    scale: Literal["value", "probability", "log_odds", "raw_score"]
    importance: dict[str, float]
    importance_rows: int = Field(ge=1)


class ModelEntry(_Doc):
    """One trained model of a version, as its leaderboard row."""

    name: str
    estimator: str
    artifact: str  # name in ``artifacts``
    rank: int
    metrics: dict[str, float | None]
    params: dict[str, Any] = Field(default_factory=dict)
    baseline: bool = False
    compiled: CompiledForm | None = None  # None: served by scikit-learn only
    not_compiled: str | None = None  # why it has no compiled form (None when it has one, or the version predates it)
    explainer: ExplainerForm | None = None  # the champion's; None for the others and versions before explanations
    not_explained: str | None = None  # why the champion has no explainer


class Manifest(_Doc):
    """Everything DESIGN.md lists about a version, written last."""

    format: int = MANIFEST_FORMAT
    project: str
    version: int = Field(ge=1)
    created_at: str
    run_id: str
    source: Literal["training", "registered"] = "training"
    data: DataSource | None = None
    code: CodeVersion
    config: dict[str, Any]
    target: str
    task: Literal["classification", "regression"]
    classes: list[Any] | None = None
    input_schema: InputSchema
    selected_features: list[str] = Field(default_factory=list)
    data_quality: dict[str, Any] = Field(default_factory=dict)
    artifacts: dict[str, Artifact]
    models: list[ModelEntry]
    rank_metric: str
    champion: str
    reports: dict[str, str] = Field(default_factory=dict)  # name -> S3 key of EDA plots / HTML
    # the artifact holding the training profile (dropml.monitoring.profile), the reference of every drift report;
    # None: a version written before profiles existed, or registered without labelled data
    profile: str | None = None

    def model(self, name: str) -> ModelEntry:
        """The entry of model ``name``.

        Raises:
            KeyError: no such model in this version.
        """
        for entry in self.models:
            if entry.name == name:
                return entry
        raise KeyError(name)

    @property
    def model_names(self) -> list[str]:
        """Model names in leaderboard order (champion first)."""
        return [m.name for m in sorted(self.models, key=lambda m: m.rank)]

    def leaderboard(self) -> list[dict[str, Any]]:
        """The models as leaderboard rows, best rank first: name, estimator, rank, metrics, baseline, champion,
        compiled, and why not (None when it is)."""
        return [
            {
                "name": entry.name,
                "estimator": entry.estimator,
                "rank": entry.rank,
                "metrics": entry.metrics,
                "baseline": entry.baseline,
                "champion": entry.name == self.champion,
                "compiled": entry.compiled is not None,
                "not_compiled": self.uncompiled.get(entry.name),
            }
            for entry in sorted(self.models, key=lambda e: e.rank)
        ]

    @property
    def metric_names(self) -> list[str]:
        """Every metric some model of this version has, in the order they first appear (the leaderboard's columns)."""
        names: list[str] = []
        for entry in self.models:
            names += [name for name in entry.metrics if name not in names]
        return names

    @property
    def uncompiled(self) -> dict[str, str]:
        """Each model without a compiled form, with the reason (scikit-learn serves it), in leaderboard order."""
        return {
            m.name: m.not_compiled or "no compiled form recorded"
            for m in sorted(self.models, key=lambda m: m.rank)
            if m.compiled is None
        }
