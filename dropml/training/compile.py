"""Compile a fitted pipeline to ONNX at publish time, kept only when it gives scikit-learn's answers on the holdout.

Serving a one-row request through a scikit-learn pipeline costs about a
millisecond of per-call checks (a forest several); the same arithmetic in
onnxruntime costs microseconds. So the training job also writes, per model, an
ONNX file made by ``skl2onnx``, and serving uses it instead of the pickle
(:mod:`dropml.scoring.onnx_runtime`), scikit-learn staying the fallback.

Which pipelines compile: all-numeric inputs, no lag features (the common
tabular case). The pipeline's custom steps have no ONNX converter, so they are
folded away rather than converted: ``coerce`` is the identity on the frame
serving checks (every column already float64), and the ``select`` step keeps a
fixed set of columns, which the compiled model takes as its input columns
(imputing and scaling are per column, so their fitted statistics are sliced
to those columns). A dummy baseline that always gives one answer becomes a
graph that repeats it. Anything else, a converter error, or any holdout row on
which the compiled model's answer differs (a class label, or a regression
value by more than :data:`REGRESSION_TOLERANCE` relative), leaves the model
uncompiled: it is served by scikit-learn exactly as before.

Tree ensembles (forests, HistGradientBoosting classifiers) are written as
``ai.onnx.ml`` tree operators, whose split thresholds are single precision: a
value within float32 rounding of a split could take the other branch. The
holdout check is what stands behind them; a HistGradientBoosting regressor's
float32 sum would miss :data:`REGRESSION_TOLERANCE`, so it stays uncompiled.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from dropml.scoring.onnx_runtime import load_session, predict_frame
from dropml.training.bounded import BoundedRidgeCV

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from dropml.manifest import InputSchema

logger = logging.getLogger(__name__)

REGRESSION_TOLERANCE = 1e-9  # relative: double-precision ONNX arithmetic in another order, not another answer
RUNTIME = "onnxruntime"
CONSTANT_STRATEGIES = ("prior", "most_frequent", "mean", "median", "constant", "quantile")  # one answer for all


@dataclass(frozen=True)
class CompiledModel:
    """A pipeline compiled to ONNX: the model's bytes, its input columns, and how it was checked."""

    body: bytes
    input_columns: list[str]
    checked_rows: int
    max_difference: float  # the largest |onnx - sklearn| on the holdout (0 for class labels that all agree)


def missing_compilers() -> list[str]:
    """The libraries compiling needs that are not installed (skl2onnx, onnx, onnxruntime: the training extra's)."""
    return [name for name in ("skl2onnx", "onnx", "onnxruntime") if find_spec(name) is None]


class NotCompilable(Exception):
    """Why a pipeline has no compiled form (logged; the model is served by scikit-learn)."""


def compile_pipeline(pipeline: Pipeline, schema: InputSchema, holdout: pd.DataFrame, task: str) -> CompiledModel:
    """The ONNX form of a fitted ``pipeline``, checked against its own predictions on ``holdout``.

    ``holdout`` is the checked frame serving would build for the holdout rows
    (:func:`dropml.scoring.validate.validate_frame`).

    Raises:
        NotCompilable: the pipeline has steps the compiled path does not cover, a converter failed,
            or the compiled model disagrees with scikit-learn on a holdout row.
    """
    if holdout.empty:
        raise NotCompilable("no holdout rows to check a compiled model against")
    plain, columns = _foldable(pipeline, schema)
    model = plain.named_steps["model"]
    if type(model).__name__ in ("DummyClassifier", "DummyRegressor") and model.strategy in CONSTANT_STRATEGIES:
        body = _constant_onnx(model, len(columns))
    else:
        body = _to_onnx(plain, len(columns), task)
    difference = _check(body, columns, pipeline, holdout, task)
    return CompiledModel(body=body, input_columns=columns, checked_rows=len(holdout), max_difference=difference)


def _foldable(pipeline: Pipeline, schema: InputSchema) -> tuple[Pipeline, list[str]]:
    """The pipeline as plain scikit-learn steps on its selected columns, and those columns in order."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    if any(column.kind != "numeric" for column in schema.columns):
        raise NotCompilable("only all-numeric inputs are compiled")
    preprocess = pipeline.named_steps["preprocess"]
    if [name for name, _ in preprocess.steps] != ["coerce", "columns"]:
        raise NotCompilable(f"preprocess steps {[n for n, _ in preprocess.steps]} are not coerce + columns")
    fitted = [(n, t, c) for n, t, c in preprocess.named_steps["columns"].transformers_ if t != "drop"]
    if len(fitted) != 1 or fitted[0][0] != "numeric":
        raise NotCompilable("the column transformer has more than its numeric part")
    _, numeric, numeric_columns = fitted[0]
    impute, scale = numeric.named_steps["impute"], numeric.named_steps["scale"]
    if impute.add_indicator or len(impute.statistics_) != len(numeric_columns) or np.isnan(impute.statistics_).any():
        raise NotCompilable("the imputer drops or adds columns")
    selector = pipeline.named_steps["select"]
    mask = np.ones(len(numeric_columns), dtype=bool)
    if selector is not None and selector != "passthrough":
        mask = np.asarray(selector.get_support(), dtype=bool)
    columns = [str(name) for name, keep in zip(numeric_columns, mask, strict=True) if keep]
    return Pipeline(
        [
            ("impute", _sliced(impute, mask, ("statistics_",))),
            ("scale", _sliced(scale, mask, ("mean_", "var_", "scale_"))),
            ("model", pipeline.named_steps["model"]),
        ]
    ), columns


def _sliced(step: Any, mask: Any, attributes: tuple[str, ...]) -> Any:
    """A copy of a fitted per-column step that knows only the kept columns."""
    out = copy.deepcopy(step)
    for attribute in attributes:
        value = getattr(out, attribute, None)
        if value is not None:
            setattr(out, attribute, value[mask])
    out.n_features_in_ = int(mask.sum())
    if hasattr(out, "feature_names_in_"):
        out.feature_names_in_ = out.feature_names_in_[mask]
    return out


def _to_onnx(plain: Pipeline, width: int, task: str) -> bytes:
    """Convert in double precision (scikit-learn's own), the imputer as ONNX's IsNaN + Where.

    skl2onnx writes a SimpleImputer as the ``ai.onnx.ml`` Imputer operator,
    which onnxruntime runs only in single precision; single precision would
    change answers near a split or a decision boundary, so the imputer is
    written with two standard operators instead (a missing value takes the
    fitted median, as in scikit-learn).
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.pipeline import Pipeline

    impute = plain.named_steps["impute"]
    model, bounds = _convertible(plain.named_steps["model"])
    rest = Pipeline([*plain.steps[1:-1], ("model", model)])
    chosen = _converter_options(model, task)
    options = {id(model): chosen} if chosen else None
    _integer_missing_flags_in_tree_converters()
    try:
        onnx_model = to_onnx(rest, initial_types=[("input", DoubleTensorType([None, width]))], options=options)
    except Exception as err:  # skl2onnx raises many kinds (RuntimeError, NotImplementedError, TypeError, ...)
        raise NotCompilable(f"skl2onnx could not convert it: {type(err).__name__}: {str(err)[:300]}") from None
    _declare_float_tree_probabilities(onnx_model)
    if bounds is not None:
        _with_clipped_output(onnx_model, *bounds)
    return _with_imputation(onnx_model, impute.statistics_).SerializeToString()


def _convertible(model: Any) -> tuple[Any, tuple[float, float] | None]:
    """The model skl2onnx converts, and the range its answers are clipped to after (None: not clipped).

    A :class:`~dropml.training.bounded.BoundedRidgeCV` is converted as the
    ``RidgeCV`` it extends (same coefficients), its bounds added as a ``Clip``.
    """
    from sklearn.linear_model import RidgeCV

    if not isinstance(model, BoundedRidgeCV):
        return model, None
    ridge = copy.copy(model)
    ridge.__class__ = RidgeCV  # the fitted attributes are RidgeCV's; skl2onnx finds converters by exact type
    return ridge, ((model.target_min_, model.target_max_) if model.bounded else None)


def _with_clipped_output(onnx_model: Any, low: float, high: float) -> None:
    """Clip the graph's (first) output to ``[low, high]``, as the bounded model's ``predict`` does."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = onnx_model.graph
    output = graph.output[0].name
    unclipped = "unclipped_" + output
    for node in graph.node:
        node.output[:] = [unclipped if name == output else name for name in node.output]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.asarray(low, dtype="float64"), name="clip_low"),
            numpy_helper.from_array(np.asarray(high, dtype="float64"), name="clip_high"),
        ]
    )
    graph.node.append(helper.make_node("Clip", [unclipped, "clip_low", "clip_high"], [output], name="clip_to_range"))


def _converter_options(model: Any, task: str) -> dict[str, Any]:
    """skl2onnx options: labels only (no ZipMap); neighbours by onnxruntime's CDist (0.03 ms a row, not 0.7 ms)."""
    options: dict[str, Any] = {"zipmap": False} if task == "classification" else {}
    if type(model).__name__ in ("KNeighborsClassifier", "KNeighborsRegressor"):
        options["optim"] = "cdist"
    return options


def _integer_missing_flags_in_tree_converters() -> None:
    """Make skl2onnx's tree converter write its missing-value flags as ints (once per process).

    skl2onnx 1.20 passes a Python ``False`` for every leaf of a
    HistGradientBoosting tree, and protobuf 5+ refuses a bool in an int list, so
    the conversion fails. The flag's value is unchanged; the compiled model is
    still checked against scikit-learn on the holdout like any other.
    """
    from skl2onnx.common import tree_ensemble

    if getattr(tree_ensemble.add_node, "dropml_int_flags", False):
        return
    original = tree_ensemble.add_node

    def add_node(*args: Any, **kwargs: Any) -> Any:
        if "nodes_missing_value_tracks_true" in kwargs:
            kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
        return original(*args, **kwargs)

    add_node.dropml_int_flags = True  # type: ignore[attr-defined]
    tree_ensemble.add_node = add_node


def _declare_float_tree_probabilities(onnx_model: Any) -> None:
    """Declare a tree classifier's probabilities output as the float it is.

    ``ai.onnx.ml``'s TreeEnsembleClassifier (opset 1) always outputs float
    probabilities, but skl2onnx declares them double for a double input
    (HistGradientBoosting), which onnxruntime refuses to load. Only the label
    output is served.
    """
    from onnx import TensorProto

    float_outputs = {node.output[1] for node in onnx_model.graph.node if node.op_type == "TreeEnsembleClassifier"}
    for output in onnx_model.graph.output:
        if output.name in float_outputs and output.type.tensor_type.elem_type == TensorProto.DOUBLE:
            output.type.tensor_type.elem_type = TensorProto.FLOAT


def _with_imputation(onnx_model: Any, statistics: Any) -> Any:
    """``onnx_model`` with a first step that replaces each missing input value by its column's statistic."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = onnx_model.graph
    source = graph.input[0]
    imputed = source.name  # the converted steps keep reading this name
    raw = "raw_" + imputed
    source.name = raw
    fill = numpy_helper.from_array(np.asarray(statistics, dtype="float64").reshape(1, -1), name="impute_statistics")
    nodes = [
        helper.make_node("IsNaN", [raw], ["impute_missing"], name="impute_isnan"),
        helper.make_node("Where", ["impute_missing", "impute_statistics", raw], [imputed], name="impute_where"),
    ]
    graph.initializer.append(fill)
    for position, node in enumerate(nodes):
        graph.node.insert(position, node)
    if source.type.tensor_type.elem_type != TensorProto.DOUBLE:
        raise NotCompilable("the converted model does not take double-precision input")
    return onnx_model


def _constant_onnx(model: Any, width: int) -> bytes:
    """A dummy baseline (no converter in skl2onnx) as the graph it is: its one answer, once per input row."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    answer = np.asarray(model.predict(np.zeros((1, width))))
    if answer.dtype.kind in "OUS":
        value = numpy_helper.from_array(answer.astype(object), name="answer")
        kind = TensorProto.STRING
    elif answer.dtype.kind in "iub":
        value, kind = numpy_helper.from_array(answer.astype("int64"), name="answer"), TensorProto.INT64
    else:
        value, kind = numpy_helper.from_array(answer.astype("float64"), name="answer"), TensorProto.DOUBLE
    first = numpy_helper.from_array(np.array([0], dtype="int64"), name="first")
    one = numpy_helper.from_array(np.array([1], dtype="int64"), name="one")
    nodes = [
        helper.make_node("Shape", ["input"], ["input_shape"]),
        helper.make_node("Slice", ["input_shape", "first", "one"], ["rows"]),
        helper.make_node("Expand", ["answer", "rows"], ["label"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_answer",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, [None, width])],
        [helper.make_tensor_value_info("label", kind, [None])],
        initializer=[value, first, one],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    return onnx_model.SerializeToString()


def _check(body: bytes, columns: list[str], pipeline: Pipeline, holdout: pd.DataFrame, task: str) -> float:
    """The largest difference between the compiled and the scikit-learn answers on ``holdout``."""
    import numpy as np

    expected = pipeline.predict(holdout)
    try:
        got = predict_frame(load_session(body), holdout, columns)
    except Exception as err:  # onnxruntime's own error types
        raise NotCompilable(f"onnxruntime could not run it: {type(err).__name__}: {str(err)[:200]}") from None
    if task == "classification":
        disagree = int(sum(a != b for a, b in zip(expected.tolist(), got.tolist(), strict=True)))
        if disagree:
            raise NotCompilable(f"{disagree} of {len(holdout)} holdout labels differ from scikit-learn")
        return 0.0
    expected_values = np.asarray(expected, dtype="float64")
    difference = np.abs(np.asarray(got, dtype="float64") - expected_values)
    allowed = REGRESSION_TOLERANCE * np.maximum(np.abs(expected_values), 1.0)
    if not bool((difference <= allowed).all()):
        raise NotCompilable(f"holdout values differ from scikit-learn by up to {float(difference.max()):.3g}")
    return float(difference.max())
