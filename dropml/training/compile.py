"""Compile a fitted pipeline at publish time, kept only when it gives scikit-learn's answers on the holdout.

Serving a one-row request through a scikit-learn pipeline costs about a
millisecond of per-call checks (a forest several, a pipeline with categories
tens); the same arithmetic in numpy and onnxruntime costs microseconds, and
needs neither scikit-learn nor scipy in the serving process. So the training
job also writes, per model, one ONNX file holding two parts:

- the **feature program** (:mod:`dropml.training.compile_features`): what the
  ``preprocess`` and ``select`` steps do to a row (coerce, lags, imputing,
  scaling, one-hot codes of categories and first words, date parts, the
  selected columns), written as numbers and run by serving in numpy
  (:mod:`dropml.scoring.feature_program`), stored in the file's metadata;
- the **model** (:mod:`dropml.training.compile_estimators`): the estimator as
  an ONNX graph on the program's matrix, trees in double precision
  (:mod:`dropml.training.compile_trees`).

Before it is kept, serving's own loader runs it on the holdout rows (as
validation makes them, :func:`dropml.scoring.validate.validate_frame`): the
program must give scikit-learn's matrix exactly (NaN where NaN), and every
answer must be scikit-learn's: the same class, or a regression value within
:data:`REGRESSION_TOLERANCE` of the largest answer (trees sum exactly; a linear
model's dot product may add in another order). Anything else raises
:class:`NotCompilable` with the reason, which the manifest records; such a
model is served by scikit-learn exactly as before.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.scoring.feature_program import METADATA_KEY
from dropml.scoring.load import compiled_predictor
from dropml.scoring.validate import validate_frame
from dropml.training.compile_estimators import CLASS_INDEX, estimator_onnx
from dropml.training.compile_features import NotCompilable, feature_program, final_estimator

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from dropml.manifest import InputSchema

__all__ = [
    "REGRESSION_TOLERANCE",
    "CompiledModel",
    "NotCompilable",
    "check_rows",
    "compare_answers",
    "compile_pipeline",
    "compile_registered",
    "missing_compilers",
]

logger = logging.getLogger(__name__)

# relative to the largest answer checked: a linear model's dot product summed in another order (onnxruntime's, not
# BLAS's) differs in the last bits, and where terms cancel (sk-diabetes' ridge) by ~1e-10 of its answers' scale
REGRESSION_TOLERANCE = 1e-9
MAX_SHOWN_DIFFERENCES = 3
CHECK_SEED = 26
GAP_SHARE = 0.05  # of the drawn rows, with a gap in a column
REGISTERED_CHECK_ROWS = 500  # rows drawn from its schema a registered model's compiled form is checked on


@dataclass(frozen=True)
class CompiledModel:
    """A pipeline's compiled form: the ONNX file (feature program inside), the raw columns it reads, its check."""

    body: bytes
    input_columns: list[str]
    checked_rows: int
    max_difference: float  # the largest |compiled - sklearn| on the holdout (0 for class labels that all agree)


def missing_compilers() -> list[str]:
    """The libraries compiling needs that are not installed (skl2onnx, onnx, onnxruntime: the training extra's)."""
    return [name for name in ("skl2onnx", "onnx", "onnxruntime") if find_spec(name) is None]


def compile_pipeline(
    pipeline: Pipeline, schema: InputSchema, holdout: pd.DataFrame, task: str, refuse_missing: bool = False
) -> CompiledModel:
    """The compiled form of a fitted ``pipeline``, checked against its own predictions on ``holdout``.

    ``holdout`` is the checked frame serving would build for the holdout rows
    (:func:`dropml.scoring.validate.validate_frame`). ``refuse_missing``: the
    pipeline refuses rows with a gap (a registered model without an imputer),
    so the compiled form refuses them too, as scikit-learn's ValueError.

    Raises:
        NotCompilable: a step has no compiled form, a converter failed, or the compiled form disagrees with
            scikit-learn on a holdout row (the reason names which).
    """
    if holdout.empty:
        raise NotCompilable("no holdout rows to check a compiled model against")
    program, width = feature_program(pipeline, schema)
    model = final_estimator(pipeline)
    graph, output = estimator_onnx(model, width, task)
    program["output"] = _output(model, output)
    program["refuse_missing"] = refuse_missing
    body = with_program(graph, program)
    difference = check_compiled(body, list(program["inputs"]), pipeline, holdout, task)
    return CompiledModel(body, list(program["inputs"]), len(holdout), difference)


def _output(model: Any, output: str) -> dict[str, Any]:
    if output != CLASS_INDEX:
        return {"kind": output}
    classes = np.asarray(model.classes_)
    return {"kind": output, "classes": classes.tolist(), "dtype": str(classes.dtype)}


def with_program(graph: bytes, program: dict[str, Any]) -> bytes:
    """The ONNX model ``graph`` with its feature program in its metadata (one file, one checksum)."""
    import onnx

    onnx_model = onnx.load_from_string(graph)
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(program, separators=(",", ":"))
    return onnx_model.SerializeToString()


def sklearn_matrix(pipeline: Any, rows: pd.DataFrame) -> np.ndarray:
    """What scikit-learn hands ``pipeline``'s final estimator for ``rows``: every step before it, applied."""
    matrix: Any = rows
    steps = list(pipeline.steps[:-1])
    model = pipeline.steps[-1][1]
    while hasattr(model, "steps"):
        steps += model.steps[:-1]
        model = model.steps[-1][1]
    for _, step in steps:
        if step is not None and not (isinstance(step, str) and step == "passthrough"):
            matrix = step.transform(matrix)
    return np.asarray(matrix.to_numpy() if hasattr(matrix, "to_numpy") else matrix, dtype="float64")


def check_compiled(body: bytes, inputs: list[str], pipeline: Any, holdout: pd.DataFrame, task: str) -> float:
    """The largest difference between the compiled and the scikit-learn answers on ``holdout`` (0.0 for classes).

    Raises:
        NotCompilable: serving cannot load it, its matrix differs from scikit-learn's, or an answer differs.
    """
    try:
        predictor = compiled_predictor(body, inputs)
        assert predictor.program is not None
        matrix = predictor.program.matrix(holdout)
        got = predictor.predict(holdout)
    except NotCompilable:
        raise
    except Exception as err:  # onnxruntime's and numpy's own error types
        raise NotCompilable(f"the compiled form could not run: {type(err).__name__}: {str(err)[:200]}") from None
    _same_matrix(matrix, sklearn_matrix(pipeline, holdout))
    return compare_answers(pipeline.predict(holdout), got, task)


def compare_answers(
    expected: Any, got: Any, task: str, tolerance: float = REGRESSION_TOLERANCE, reference: str = "scikit-learn"
) -> float:
    """The largest difference between a compiled form's answers (``got``) and its model's (``expected``).

    The one tolerance check of every compiled form (a trained pipeline's, and a Dask run's models':
    :mod:`~dropml.training.partitioned_compile`): every class the same (and of one type), a value within
    ``tolerance`` of the largest answer (at least 1). Returns 0.0 for classes.

    Raises:
        NotCompilable: an answer differs (the message names how many, and from ``reference``).
    """
    holdout = len(expected)
    if task == "classification":
        differ = [i for i, (a, b) in enumerate(zip(expected.tolist(), got.tolist(), strict=True)) if not _same(a, b)]
        if differ:
            shown = ", ".join(f"{expected[i]!r} vs {got[i]!r}" for i in differ[:MAX_SHOWN_DIFFERENCES])
            raise NotCompilable(f"{len(differ)} of {holdout} holdout labels differ from {reference} ({shown})")
        return 0.0
    expected_values = np.asarray(expected, dtype="float64")
    difference = np.abs(np.asarray(got, dtype="float64") - expected_values)
    allowed = tolerance * max(float(np.abs(expected_values).max()), 1.0)
    if not bool((difference <= allowed).all()):
        count = int((difference > allowed).sum())
        raise NotCompilable(
            f"{count} of {holdout} holdout values differ from {reference}, by up to {float(difference.max()):.3g}"
        )
    return float(difference.max())


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (a class True is not the class 1)."""
    return type(a) is type(b) and a == b


def _same_matrix(compiled: np.ndarray, expected: np.ndarray) -> None:
    if compiled.shape != expected.shape:
        raise NotCompilable(f"the feature program makes a {compiled.shape} matrix, scikit-learn {expected.shape}")
    unequal = ~((compiled == expected) | (np.isnan(compiled) & np.isnan(expected)))
    if unequal.any():
        rows, columns = np.nonzero(unequal)
        raise NotCompilable(
            f"the feature program differs from scikit-learn's steps in {int(unequal.sum())} values "
            f"(first: row {int(rows[0])}, column {int(columns[0])}: {compiled[rows[0], columns[0]]!r} vs "
            f"{expected[rows[0], columns[0]]!r})"
        )


def check_rows(schema: InputSchema, count: int, seed: int = CHECK_SEED, gaps: bool = True) -> pd.DataFrame:
    """``count`` raw rows drawn across ``schema`` (for a model with no holdout of its own: a registered one).

    Numbers uniformly between the recorded minimum and maximum (both ends
    included; whole numbers for an integer column), every category, booleans,
    dates from 2000 to 2030, and, with ``gaps``, a gap in about one value in
    twenty of a nullable column.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for column in schema.columns:
        if column.kind == "categorical":
            values: Any = rng.choice(column.categories or ["a", "b", "c"], count).astype(object)
        elif column.kind == "boolean":
            values = rng.choice([True, False], count).astype(object)
        elif column.kind == "datetime":
            days = rng.integers(10_957, 21_915, count)  # 2000-01-01 .. 2030-01-01
            values = (np.datetime64("1970-01-01") + days.astype("timedelta64[D]")).astype(str).astype(object)
        else:
            low = column.minimum if column.minimum is not None else -1.0
            high = column.maximum if column.maximum is not None else 1.0
            drawn = rng.uniform(low, high, count)
            drawn[:2] = [low, high]
            values = np.round(drawn) if column.dtype.startswith("int") else drawn
            values = values.astype(object)
        if column.nullable and gaps:
            values[rng.random(count) < GAP_SHARE] = None
        columns[column.name] = values
    return pd.DataFrame(columns, columns=schema.names)


def compile_registered(
    pipeline: Any, schema: InputSchema, task: str, labelled: pd.DataFrame | None, model_format: str
) -> tuple[CompiledModel | None, str | None]:
    """A registered pipeline's compiled form (or None) and why it has none, checked as a trained model's is.

    It has no holdout of its own, so it is checked on its labelled rows (checked, when given) and on
    :data:`REGISTERED_CHECK_ROWS` rows drawn across its schema (:func:`check_rows`).
    """
    import pandas as pd

    if model_format != "pickle":
        return None, f"a registered {model_format} model runs in its own runtime"
    missing = missing_compilers()
    if missing:
        return None, f"the compiler is not installed ({', '.join(missing)})"
    rows = validate_frame(schema, check_rows(schema, REGISTERED_CHECK_ROWS))
    refuse_missing = False
    try:
        pipeline.predict(rows)
    except ValueError:  # no imputer: a gap is refused by scikit-learn, and so by the compiled form
        rows, refuse_missing = validate_frame(schema, check_rows(schema, REGISTERED_CHECK_ROWS, gaps=False)), True
    if labelled is not None:
        rows = pd.concat([labelled, rows], ignore_index=True)
    try:
        return compile_pipeline(pipeline, schema, rows, task, refuse_missing), None
    except NotCompilable as err:
        return None, str(err)
    except Exception as err:  # the user's own pipeline failing on rows its schema allows: not compiled, not refused
        return None, f"the pipeline failed on rows of its schema: {type(err).__name__}: {str(err)[:200]}"
