"""A fitted estimator as an ONNX graph taking the feature program's matrix: the model part of a compiled form.

Which converter: tree ensembles by :mod:`dropml.training.compile_trees`
(double precision, scikit-learn's order of sums); a baseline that always gives
one answer (``DummyClassifier``/``DummyRegressor``) as a graph repeating it;
the persistence baseline as "the last value, else the mean label"; everything
else (linear and logistic models, neighbours, a registered pipeline's own
estimator) by ``skl2onnx`` in double precision. The bounded ridge
(:class:`~dropml.training.bounded.BoundedRidgeCV`) is converted as the
``RidgeCV`` it extends, with its bounds as a ``Clip``.

A classifier's graph answers each row's class as its position in
``classes_`` (:data:`CLASS_INDEX`), so the class values themselves (ints,
text, booleans) come from the feature program's output and keep their types.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from dropml.training.compile_features import NotCompilable
from dropml.training.compile_trees import ONNX_OPSET, is_tree_model, single_input_model, tree_model_onnx

VALUE, CLASS_INDEX, LABEL = "value", "class_index", "label"  # what a graph's first output is
CONSTANT_STRATEGIES = ("prior", "most_frequent", "mean", "median", "constant", "quantile")  # one answer for all


def estimator_onnx(model: Any, width: int, task: str) -> tuple[bytes, str]:
    """``model`` as ONNX taking ``[rows, width]`` doubles, and what its first output is (:data:`VALUE`, ...).

    Raises:
        NotCompilable: no converter, or the converter failed (its message kept).
    """
    name = type(model).__name__
    classifier = task == "classification"
    if is_tree_model(model):
        return tree_model_onnx(model, width), CLASS_INDEX if classifier else VALUE
    if name in ("DummyClassifier", "DummyRegressor"):
        if model.strategy not in CONSTANT_STRATEGIES:
            raise NotCompilable(f"{name}(strategy={model.strategy!r}) answers at random")
        return constant_onnx(model, width), CLASS_INDEX if classifier else VALUE
    if name == "LastValueRegressor":
        return _last_value_onnx(model.fallback_, width), VALUE
    if name in ("ExternalModel",):
        raise NotCompilable(f"a registered {model.estimator_name} model runs in its own runtime")
    return _skl2onnx(model, width, classifier)


def _skl2onnx(model: Any, width: int, classifier: bool) -> tuple[bytes, str]:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    converted, output = model, VALUE
    bounds = None
    # by name: importing BoundedRidgeCV imports scikit-learn, and the web app imports this module (registering)
    if type(model).__name__ == "BoundedRidgeCV":
        converted = _as_ridge(model)
        bounds = (model.target_min_, model.target_max_) if model.bounded else None
    elif classifier:
        converted, output = _classes_as_positions(model)
    options: dict[str, Any] = {"zipmap": False} if classifier else {}
    if type(model).__name__ in ("KNeighborsClassifier", "KNeighborsRegressor"):
        options["optim"] = "cdist"  # onnxruntime's CDist: 0.03 ms a row, not 0.7 ms
    try:
        onnx_model = to_onnx(
            converted,
            initial_types=[("input", DoubleTensorType([None, width]))],
            options={id(converted): options} if options else None,
            target_opset={"": ONNX_OPSET, "ai.onnx.ml": 3},
        )
    except Exception as err:  # skl2onnx raises many kinds (RuntimeError, NotImplementedError, TypeError, ...)
        raise NotCompilable(f"skl2onnx could not convert it: {type(err).__name__}: {str(err)[:300]}") from None
    if bounds is not None:
        _clip_output(onnx_model, *bounds)
    return onnx_model.SerializeToString(), output


def _as_ridge(model: Any) -> Any:
    """A BoundedRidgeCV as the RidgeCV it extends (same fitted coefficients): skl2onnx finds converters by type."""
    from sklearn.linear_model import RidgeCV

    ridge = copy.copy(model)
    ridge.__class__ = RidgeCV
    return ridge


def _classes_as_positions(model: Any) -> tuple[Any, str]:
    """A copy of a classifier whose classes are 0..k-1, so its graph answers positions; else the model as it is."""
    positions = copy.copy(model)
    try:
        positions.classes_ = np.arange(len(model.classes_))
    except (AttributeError, TypeError):  # a classes_ property: the graph answers the class values themselves
        return model, LABEL
    return positions, CLASS_INDEX


def _clip_output(onnx_model: Any, low: float, high: float) -> None:
    """Clip the graph's (first) output to ``[low, high]``, as the bounded model's ``predict`` does."""
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


def constant_onnx(model: Any, width: int) -> bytes:
    """A dummy baseline (no converter in skl2onnx) as the graph it is: its one answer, once per input row."""
    from onnx import TensorProto, helper, numpy_helper

    answer = np.asarray(model.predict(np.zeros((1, width))))
    classes = getattr(model, "classes_", None)
    if classes is not None:
        position = [i for i, c in enumerate(classes.tolist()) if c == answer.tolist()[0]][:1]
        value = numpy_helper.from_array(np.asarray(position, dtype="int64"), name="answer")
        kind = TensorProto.INT64
    else:
        value, kind = numpy_helper.from_array(answer.astype("float64"), name="answer"), TensorProto.DOUBLE
    nodes = [
        helper.make_node("Shape", ["input"], ["input_shape"]),
        helper.make_node("Slice", ["input_shape", "first", "one"], ["rows"]),
        helper.make_node("Expand", ["answer", "rows"], ["label"]),
    ]
    first = numpy_helper.from_array(np.array([0], dtype="int64"), name="first")
    one = numpy_helper.from_array(np.array([1], dtype="int64"), name="one")
    return single_input_model(nodes, [value, first, one], width, "label", kind)


def _last_value_onnx(fallback: float, width: int) -> bytes:
    """The persistence baseline: each row's (only) input value, the mean training label where it is missing."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Reshape", ["input", "flat_shape"], ["last"]),
        helper.make_node("IsNaN", ["last"], ["missing"]),
        helper.make_node("Where", ["missing", "fallback", "last"], ["value"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([-1], dtype="int64"), name="flat_shape"),
        numpy_helper.from_array(np.array(float(fallback)), name="fallback"),
    ]
    if width != 1:
        raise NotCompilable(f"the persistence baseline reads one column, not {width}")
    return single_input_model(nodes, initializers, width, "value", TensorProto.DOUBLE)
