"""The compiled (ONNX) form of the models a Dask run publishes, checked on holdout rows like every compiled model.

Serving loads it through the same path as the scikit-learn pipelines'
compiled forms (:mod:`dropml.scoring.onnx_runtime`: one input matrix of the
version's input columns, the first output is the answer):

- the baseline is the graph of its one answer (the in-process baseline's,
  :func:`~dropml.training.compile_estimators.constant_onnx`), a class looked up by its position;
- the linear model is written by hand in double precision (fill missing with
  the mean, standardise, one matrix product; classification an ArgMax and a
  lookup of the class label), so it gives the pickled model's answers;
- the LightGBM booster is converted by ``onnxmltools``; ONNX tree ensembles
  take single-precision input, so a value within float32 rounding of a split
  may take the other branch: every checked holdout label must agree, and a
  regression value may differ by at most :data:`BOOSTED_TOLERANCE` of the largest answer.

Each form takes the version's input columns as one float64 matrix and answers
the label or value itself (no feature program: serving runs such a form as
:class:`~dropml.scoring.load.CompiledPredictor` runs one without a program), and
is checked by :func:`~dropml.training.compile.compare_answers`, the tolerance
check of every compiled form. A model whose compiled form disagrees is served
by its pickle, as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dropml.scoring.load import compiled_predictor
from dropml.training.compile import REGRESSION_TOLERANCE, CompiledModel, NotCompilable, compare_answers
from dropml.training.compile_estimators import constant_onnx
from dropml.training.partitioned_models import BoostedModel, ConstantModel, LinearModel

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

BOOSTED_TOLERANCE = 1e-4  # relative: float32 inputs and leaf sums in onnxruntime's tree ensemble
OPSET = 15  # the highest onnxmltools 1.16 converts LightGBM to


def compile_model(model: Any, sample: pd.DataFrame) -> CompiledModel:
    """The ONNX form of ``model`` (a partitioned model: constant, linear or boosted), checked on ``sample`` rows.

    Raises:
        NotCompilable: no ONNX form for this model, or it disagrees with the model on a sample row.
    """
    if sample.empty:
        raise NotCompilable("no holdout rows to check a compiled model against")
    if isinstance(model, ConstantModel):
        body, tolerance = _constant_onnx(model), REGRESSION_TOLERANCE
    elif isinstance(model, LinearModel):
        body, tolerance = _linear_onnx(model), REGRESSION_TOLERANCE  # double arithmetic in another order
    elif isinstance(model, BoostedModel):
        body, tolerance = _boosted_onnx(model), BOOSTED_TOLERANCE
    else:
        raise NotCompilable(f"{type(model).__name__} has no compiled form")
    columns = list(model.stats.columns)
    task = "regression" if model.classes is None else "classification"
    try:
        got = compiled_predictor(body, columns).predict(sample)
    except Exception as err:  # onnxruntime's own error types
        raise NotCompilable(f"the compiled form could not run: {type(err).__name__}: {str(err)[:200]}") from None
    difference = compare_answers(model.predict(sample), got, task, tolerance, reference="the model")
    return CompiledModel(body=body, input_columns=columns, checked_rows=len(sample), max_difference=difference)


def _constant_onnx(model: ConstantModel) -> bytes:
    """The baseline's one answer per row; a classifier's as its class label (the graph gives its position)."""
    import numpy as np
    import onnx

    class Answer:  # what constant_onnx reads of a fitted dummy: its answer, and a classifier's classes
        classes_ = None if model.classes is None else np.asarray(model.classes)

        def predict(self, rows: Any) -> Any:
            return model.predict(rows)

    body = constant_onnx(Answer(), len(model.stats.columns))
    if model.classes is None:
        return body
    onnx_model = onnx.load_from_string(body)
    _answer_labels(onnx_model.graph, model.classes, onnx_model.graph.output[0].name)
    return onnx_model.SerializeToString()


def _label_lookup(classes: list[Any], codes: str, output: str) -> tuple[list[Any], list[Any], int]:
    """Nodes and initializers mapping class codes (int64) to the class labels; returns them and the label type."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    if all(isinstance(c, str) for c in classes):
        table, kind = np.asarray(classes, dtype=object), TensorProto.STRING
    else:
        table, kind = np.asarray(classes, dtype="int64"), TensorProto.INT64
    initializer = numpy_helper.from_array(table, name="class_labels")
    node = helper.make_node("Gather", ["class_labels", codes], [output], axis=0, name="class_lookup")
    return [node], [initializer], kind


def _linear_onnx(model: LinearModel) -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    width = len(model.stats.columns)
    tensors = {
        "fill": model.stats.mean.reshape(1, -1),
        "center": model.stats.mean.reshape(1, -1),
        "spread": model.stats.scale.reshape(1, -1),
        "weights": model.weights,
        "bias": model.bias.reshape(1, -1),
    }
    initializers = [numpy_helper.from_array(np.asarray(v, dtype="float64"), name=k) for k, v in tensors.items()]
    nodes = [
        helper.make_node("IsNaN", ["input"], ["missing"]),
        helper.make_node("Where", ["missing", "fill", "input"], ["filled"]),
        helper.make_node("Sub", ["filled", "center"], ["centered"]),
        helper.make_node("Div", ["centered", "spread"], ["standard"]),
        helper.make_node("MatMul", ["standard", "weights"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["scores"]),
    ]
    if model.classes is None:
        initializers.append(numpy_helper.from_array(np.array([-1], dtype="int64"), name="flat"))
        nodes.append(helper.make_node("Reshape", ["scores", "flat"], ["answer"]))
        kind = TensorProto.DOUBLE
    else:
        nodes.append(helper.make_node("ArgMax", ["scores"], ["codes"], axis=1, keepdims=0))
        lookup, tables, kind = _label_lookup(model.classes, "codes", "answer")
        nodes += lookup
        initializers += tables
    graph = helper.make_graph(
        nodes,
        "ridge_by_partitions",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, [None, width])],
        [helper.make_tensor_value_info("answer", kind, [None])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx_model.ir_version = 8
    return onnx_model.SerializeToString()


def _boosted_onnx(model: BoostedModel) -> bytes:
    """onnxmltools' LightGBM form; a classifier's answer is its most probable class's label."""
    from onnx import helper
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    width = len(model.stats.columns)
    try:
        onnx_model = convert_lightgbm(
            model.booster(), initial_types=[("input", FloatTensorType([None, width]))], zipmap=False, target_opset=OPSET
        )
    except Exception as err:  # onnxmltools raises many kinds
        raise NotCompilable(f"onnxmltools could not convert it: {type(err).__name__}: {str(err)[:300]}") from None
    graph = onnx_model.graph
    if model.classes is not None:
        probabilities = next((o.name for o in graph.output if "prob" in o.name), graph.output[-1].name)
        most_probable = helper.make_node("ArgMax", [probabilities], ["codes"], axis=1, keepdims=0, name="most_probable")
        graph.node.append(most_probable)
        _answer_labels(graph, model.classes, "codes")
    return onnx_model.SerializeToString()


def _answer_labels(graph: Any, classes: list[Any], codes: str) -> None:
    """Make ``graph``'s only output the class label at each row's position ``codes`` (int64) in ``classes``."""
    from onnx import helper

    lookup, tables, kind = _label_lookup(classes, codes, "class_label")
    graph.node.extend(lookup)
    graph.initializer.extend(tables)
    while len(graph.output):
        graph.output.pop()
    graph.output.append(helper.make_tensor_value_info("class_label", kind, [None]))
