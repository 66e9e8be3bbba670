"""scikit-learn tree ensembles as ONNX graphs that give scikit-learn's answers to the last bit.

skl2onnx writes trees as ``ai.onnx.ml`` TreeEnsembleRegressor/Classifier,
whose split thresholds and sums are single precision. scikit-learn compares
float32 inputs with float64 thresholds and sums in float64, so a value within
float32 rounding of a split, or two classes within float32 rounding of a tie,
could take the other answer: on statsmodels' fair a forest differed from
scikit-learn on 1,268 of 1,366 rows by up to 3.3e-6, and on 1 of 1,038
holdout rows enough to fail the check. So compile writes them itself, as
``ai.onnx.ml`` opset 5's TreeEnsemble in double precision (onnxruntime
1.18+), doing what scikit-learn does step by step:

- decision trees, random forests and extra trees cast the input to float32
  and back (scikit-learn's trees read float32), then compare it with the
  float64 thresholds; a forest's trees are summed in order from zero and the
  sum divided by their count (``RandomForestRegressor.predict``); a
  classifier has one copy of each tree per class, whose leaves hold that
  class's value, so each class's probabilities are summed in the same order,
  then the first largest wins (``np.argmax``);
- HistGradientBoosting reads the float64 input as it is; its baseline is a
  first one-leaf tree, so the sum starts where scikit-learn's does
  (``raw = baseline``, then ``raw += tree`` per iteration); a binary
  classifier answers class 1 when the sum is above 0, a multiclass one the
  first largest sum.

onnxruntime (one thread, as serving runs it) sums a row's trees in their
order, so the answers are scikit-learn's exactly (``tests/unit/test_compile_trees.py``).
A node's missing-value branch is scikit-learn's (``missing_go_to_left``).
Classifiers output the class's position in ``classes_``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dropml.scoring.tree_shap import TreeArrays
from dropml.training.compile_features import NotCompilable

ML_OPSET = 5  # ai.onnx.ml: TreeEnsemble with double thresholds, leaf weights and output
ONNX_OPSET = 19
IR_VERSION = 9
LEQ = 0  # TreeEnsemble's nodes_modes: BRANCH_LEQ (go to the true branch when x <= threshold)


@dataclass
class _Ensemble:
    """The TreeEnsemble operator's arrays, built tree by tree."""

    roots: list[int] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    splits: list[np.ndarray] = field(default_factory=list)
    true_ids: list[np.ndarray] = field(default_factory=list)
    false_ids: list[np.ndarray] = field(default_factory=list)
    true_leafs: list[np.ndarray] = field(default_factory=list)
    false_leafs: list[np.ndarray] = field(default_factory=list)
    missing_true: list[np.ndarray] = field(default_factory=list)
    leaf_targets: list[np.ndarray] = field(default_factory=list)
    leaf_weights: list[np.ndarray] = field(default_factory=list)
    nodes: int = 0
    leaves: int = 0

    def add_tree(self, nodes: TreeArrays, column: int, target: int) -> None:
        """One tree (node 0 its root) whose leaves add ``nodes.values[leaf, column]`` to ``target``."""
        is_leaf = np.asarray(nodes.left == -1, dtype=bool)
        values = nodes.values[:, column]
        if is_leaf[0]:  # a tree of one leaf: a split whose two branches reach it
            self.add_constant(float(values[0]), target)
            return
        inner = np.flatnonzero(~is_leaf)
        leaf = np.flatnonzero(is_leaf)
        inner_id = np.full(len(is_leaf), -1, dtype="int64")
        inner_id[inner] = self.nodes + np.arange(len(inner))
        leaf_id = np.full(len(is_leaf), -1, dtype="int64")
        leaf_id[leaf] = self.leaves + np.arange(len(leaf))
        self.roots.append(int(inner_id[0]))
        branches = ((nodes.left, self.true_ids, self.true_leafs), (nodes.right, self.false_ids, self.false_leafs))
        for children, ids, leafs in branches:
            child = np.asarray(children, dtype="int64")[inner]
            child_is_leaf = is_leaf[child]
            ids.append(np.where(child_is_leaf, leaf_id[child], inner_id[child]))
            leafs.append(child_is_leaf.astype("int64"))
        self.features.append(np.asarray(nodes.feature, dtype="int64")[inner])
        self.splits.append(np.asarray(nodes.threshold, dtype="float64")[inner])
        self.missing_true.append(np.asarray(nodes.missing_left, dtype="int64")[inner])
        self.leaf_targets.append(np.full(len(leaf), target, dtype="int64"))
        self.leaf_weights.append(np.asarray(values, dtype="float64")[leaf])
        self.nodes += len(inner)
        self.leaves += len(leaf)

    def add_constant(self, value: float, target: int) -> None:
        """A tree that adds ``value`` to ``target`` for every row."""
        self.roots.append(self.nodes)
        for ids, leafs in ((self.true_ids, self.true_leafs), (self.false_ids, self.false_leafs)):
            ids.append(np.array([self.leaves]))
            leafs.append(np.array([1]))
        self.features.append(np.array([0]))
        self.splits.append(np.array([0.0]))
        self.missing_true.append(np.array([0]))
        self.leaf_targets.append(np.array([target]))
        self.leaf_weights.append(np.array([value]))
        self.nodes += 1
        self.leaves += 1

    def node(self, source: str, output: str, targets: int) -> Any:
        """The TreeEnsemble node: every tree summed, ``targets`` outputs, double precision."""
        from onnx import helper, numpy_helper

        def ints(parts: list[np.ndarray]) -> list[int]:
            return np.concatenate(parts).astype("int64").tolist()

        def doubles(parts: list[np.ndarray], name: str) -> Any:
            return numpy_helper.from_array(np.concatenate(parts).astype("float64"), name=name)

        return helper.make_node(
            "TreeEnsemble",
            [source],
            [output],
            domain="ai.onnx.ml",
            name="trees",
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            n_targets=targets,
            tree_roots=self.roots,
            nodes_featureids=ints(self.features),
            nodes_splits=doubles(self.splits, "nodes_splits"),
            nodes_modes=numpy_helper.from_array(np.full(self.nodes, LEQ, dtype="uint8"), name="nodes_modes"),
            nodes_truenodeids=ints(self.true_ids),
            nodes_falsenodeids=ints(self.false_ids),
            nodes_trueleafs=ints(self.true_leafs),
            nodes_falseleafs=ints(self.false_leafs),
            nodes_missing_value_tracks_true=ints(self.missing_true),
            leaf_targetids=ints(self.leaf_targets),
            leaf_weights=doubles(self.leaf_weights, "leaf_weights"),
        )


FOREST_TYPES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
)
BOOSTING_TYPES = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def is_tree_model(model: Any) -> bool:
    """Whether :func:`tree_model_onnx` converts ``model``."""
    return type(model).__name__ in FOREST_TYPES + BOOSTING_TYPES


def tree_model_onnx(model: Any, width: int) -> bytes:
    """A fitted tree model as ONNX taking ``[rows, width]`` doubles: a regressor's value, or a class position.

    Raises:
        NotCompilable: a multi-output model, a HistGradientBoosting model with categorical splits or a
            non-identity link, or a model of another type.
    """
    from onnx import TensorProto, helper, numpy_helper

    name = type(model).__name__
    if name in BOOSTING_TYPES:
        return _boosting_onnx(model, width)
    if name not in FOREST_TYPES:
        raise NotCompilable(f"{name} is not a tree model")
    if getattr(model, "n_outputs_", 1) != 1:
        raise NotCompilable(f"{name} with several outputs has no compiled form")
    trees = list(getattr(model, "estimators_", [model]))
    classes = getattr(model, "classes_", None)
    ensemble = _Ensemble()
    count = len(classes) if classes is not None else 1
    for tree in fitted_trees(model):
        for target in range(count):
            ensemble.add_tree(tree.nodes, target, target)
    nodes = [
        helper.make_node("Cast", ["input"], ["input_float32"], to=TensorProto.FLOAT, name="as_float32"),
        helper.make_node("Cast", ["input_float32"], ["input_read"], to=TensorProto.DOUBLE, name="read_as_sklearn"),
        ensemble.node("input_read", "sums", count),
        helper.make_node("Div", ["sums", "tree_count"], ["means"], name="mean_of_trees"),
    ]
    initializers = [numpy_helper.from_array(np.array(float(len(trees))), name="tree_count")]
    if classes is None:
        nodes.append(_flat("means", "value", initializers))
        return single_input_model(nodes, initializers, width, "value", TensorProto.DOUBLE)
    nodes.append(helper.make_node("ArgMax", ["means"], ["label"], axis=1, keepdims=0, name="first_largest"))
    return single_input_model(nodes, initializers, width, "label", TensorProto.INT64)


def _missing_left(structure: Any) -> np.ndarray:
    flags = getattr(structure, "missing_go_to_left", None)
    return np.zeros(structure.node_count, dtype="int64") if flags is None else np.asarray(flags, dtype="int64")


@dataclass(frozen=True)
class FittedTree:
    """One fitted tree's node arrays (:class:`~dropml.scoring.tree_shap.TreeArrays` of one tree) and where it adds.

    ``nodes.values`` has one column per output when ``target`` is None (a
    forest's tree: a column per class), else one column that adds to output
    ``target`` (histogram boosting's tree of one class).
    """

    nodes: TreeArrays
    target: int | None = None


def _nodes(**arrays: Any) -> TreeArrays:
    return TreeArrays(starts=np.zeros(1, dtype="int64"), **arrays)


def fitted_trees(model: Any) -> Iterator[FittedTree]:
    """The trees of a fitted forest, decision tree or histogram boosting model, in the order it sums them.

    Raises:
        NotCompilable: histogram boosting with categorical splits (no threshold form).
    """
    name = type(model).__name__
    if name in BOOSTING_TYPES:
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            raise NotCompilable(f"{name} with categorical splits has no compiled form")
        for iteration in model._predictors:
            for target, predictor in enumerate(iteration):
                nodes = predictor.nodes
                if np.any(nodes["is_categorical"]):
                    raise NotCompilable(f"{name} with categorical splits has no compiled form")
                leaf = nodes["is_leaf"].astype(bool)
                arrays = _nodes(
                    left=np.where(leaf, -1, nodes["left"].astype("int64")),
                    right=np.where(leaf, -1, nodes["right"].astype("int64")),
                    feature=nodes["feature_idx"].astype("int64"),
                    threshold=nodes["num_threshold"].astype("float64"),
                    missing_left=nodes["missing_go_to_left"].astype(bool),
                    cover=nodes["count"].astype("float64"),
                    values=nodes["value"].astype("float64")[:, None],
                )
                yield FittedTree(arrays, target)
        return
    for tree in getattr(model, "estimators_", [model]):
        structure = tree.tree_
        arrays = _nodes(
            left=structure.children_left.astype("int64"),
            right=structure.children_right.astype("int64"),
            feature=structure.feature.astype("int64"),
            threshold=structure.threshold.astype("float64"),
            missing_left=_missing_left(structure).astype(bool),
            cover=structure.weighted_n_node_samples.astype("float64"),
            values=structure.value[:, 0, :].astype("float64"),
            float32_input=True,  # scikit-learn's trees read float32
        )
        yield FittedTree(arrays)


def _boosting_onnx(model: Any, width: int) -> bytes:
    """HistGradientBoosting: the baseline, then every iteration's trees, summed per target in double precision."""
    from onnx import TensorProto, helper, numpy_helper

    name = type(model).__name__
    link = type(model._loss.link).__name__
    classifier = name.endswith("Classifier")
    if not classifier and link != "IdentityLink":
        raise NotCompilable(f"{name} with loss {model.loss!r} ({link}) has no compiled form")
    baseline = np.asarray(model._baseline_prediction, dtype="float64").reshape(-1)
    targets = len(baseline)
    ensemble = _Ensemble()
    for target, value in enumerate(baseline.tolist()):
        ensemble.add_constant(value, target)  # raw = baseline, then += each tree: the sum starts where sklearn's does
    for tree in fitted_trees(model):
        ensemble.add_tree(tree.nodes, 0, tree.target or 0)
    graph = [ensemble.node("input", "raw", targets)]
    initializers: list[Any] = []
    if not classifier:
        graph.append(_flat("raw", "value", initializers))
        return single_input_model(graph, initializers, width, "value", TensorProto.DOUBLE)
    if targets == 1:  # binary: class 1 when the raw sum is above 0 (scikit-learn's "> 0")
        initializers.append(numpy_helper.from_array(np.array(0.0), name="zero"))
        graph += [
            _flat("raw", "raw_flat", initializers),
            helper.make_node("Greater", ["raw_flat", "zero"], ["above_zero"], name="above_zero"),
            helper.make_node("Cast", ["above_zero"], ["label"], to=TensorProto.INT64, name="as_position"),
        ]
    else:
        graph.append(helper.make_node("ArgMax", ["raw"], ["label"], axis=1, keepdims=0, name="first_largest"))
    return single_input_model(graph, initializers, width, "label", TensorProto.INT64)


def _flat(source: str, output: str, initializers: list[Any]) -> Any:
    """A node reshaping ``[rows, 1]`` to ``[rows]`` (its shape constant added to ``initializers``)."""
    from onnx import helper, numpy_helper

    if not any(init.name == "flat_shape" for init in initializers):
        initializers.append(numpy_helper.from_array(np.array([-1], dtype="int64"), name="flat_shape"))
    return helper.make_node("Reshape", [source, "flat_shape"], [output], name=f"flat_{output}")


def single_input_model(nodes: list[Any], initializers: list[Any], width: int, output: str, kind: int) -> bytes:
    """An ONNX model of ``nodes`` reading ``input`` (``[rows, width]`` doubles) and answering ``output`` per row."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "dropml_model",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, [None, width])],
        [helper.make_tensor_value_info(output, kind, [None])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    )
    onnx_model.ir_version = IR_VERSION
    return onnx_model.SerializeToString()
