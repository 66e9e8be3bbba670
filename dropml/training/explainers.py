"""The champion's explainer (:mod:`dropml.scoring.explain`), built from its fitted pipeline and checked on the holdout.

Built at publish time, like the compiled form: the feature program is read
off the pipeline (:func:`~dropml.training.compile_features.feature_program`),
the model's numbers off its final estimator (a tree model's node arrays,
:func:`~dropml.training.compile_trees.fitted_trees`; a linear model's
coefficients), and the explanation of every holdout row is checked against
the model's own output from scikit-learn (``predict``, ``predict_proba`` or
``decision_function``): base plus contributions must give it to
``ADD_UP_TOLERANCE``. The mean absolute contribution per input column over
those rows is the version's global importance, kept in the manifest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.scoring.explain import Explainer, Explanations
from dropml.scoring.feature_program import FeatureProgram
from dropml.scoring.tree_shap import TreeArrays, TreeShap
from dropml.training.compile_features import NotCompilable, feature_program, final_estimator
from dropml.training.compile_trees import BOOSTING_TYPES, FOREST_TYPES, FittedTree, fitted_trees

if TYPE_CHECKING:
    import pandas as pd

    from dropml.manifest import InputSchema

LINEAR_TYPES = (
    "LogisticRegression",
    "LinearRegression",
    "Ridge",
    "RidgeCV",
    "BoundedRidgeCV",
    "Lasso",
    "LassoCV",
    "ElasticNet",
    "ElasticNetCV",
    "SGDRegressor",
    "SGDClassifier",
    "RidgeClassifier",
)
ADD_UP_TOLERANCE = 1e-6  # relative to the largest output explained
# Global importance is measured on at most this many holdout rows, and fewer for big forests: path-dependent
# TreeSHAP costs rows x leaves x depth^2 / 2 (a 100-tree forest of 120,000 leaves: ~0.2 s a row here)
IMPORTANCE_ROWS = 500
IMPORTANCE_LEAF_ROWS = 5_000_000  # rows x leaves per importance measurement


class NotExplainable(Exception):
    """Why a model gets no explainer (recorded in the manifest, said in every answer that asks for one)."""


@dataclass(frozen=True)
class BuiltExplainer:
    """An explainer file, how it explains, and the global importance it measured on the holdout."""

    body: bytes
    method: str
    scale: str
    importance: dict[str, float]
    importance_rows: int
    seconds: float


def build_explainer(pipeline: Any, schema: InputSchema, holdout: pd.DataFrame, task: str) -> BuiltExplainer:
    """The explainer of a fitted pipeline, checked to add up to its output on ``holdout`` (checked rows).

    Raises:
        NotExplainable: no feature program, a model with no exact explanation, or contributions that do
            not add up to the model's output (each names why).
    """
    started = time.perf_counter()
    if holdout.empty:
        raise NotExplainable("no holdout rows to check an explanation against")
    try:
        spec, _ = feature_program(pipeline, schema)
    except NotCompilable as err:
        raise NotExplainable(f"its features have no numpy form: {err}") from None
    program_json = json.dumps(spec, separators=(",", ":"))
    program = FeatureProgram.from_json(program_json)
    model = final_estimator(pipeline)
    columns = tuple(program.inputs)
    where = {name: at for at, name in enumerate(columns)}
    common: dict[str, Any] = {
        "program": program,
        "program_json": program_json,
        "columns": columns,
        "sources": np.array([where[name] for name in program.feature_sources()], dtype="int64"),
    }
    name = type(model).__name__
    classes = np.asarray(model.classes_) if task == "classification" and hasattr(model, "classes_") else None
    if name in FOREST_TYPES + BOOSTING_TYPES:
        explainer = _tree_explainer(model, common, classes)
    elif name in LINEAR_TYPES:
        explainer = _linear_explainer(model, common, classes, program.matrix(holdout))
    else:
        raise NotExplainable(
            f"{name} has no exact explanation (TreeSHAP explains tree models, coefficients linear ones)"
        )
    rows = _importance_rows(explainer, len(holdout))
    if rows >= len(holdout):
        sample = holdout
    elif program.lags is not None:  # lags read the rows before: a run of consecutive rows keeps them
        sample = holdout.iloc[-rows:]
    else:
        sample = holdout.iloc[np.linspace(0, len(holdout) - 1, rows).round().astype(int)]
    answers = pipeline.predict(sample)
    explained = explainer.explain(sample, answers)
    _check_adds_up(explained, _model_outputs(model, program.matrix(sample), explained, classes))
    return BuiltExplainer(
        body=explainer.to_bytes(),
        method=explainer.method,
        scale=explainer.scale,
        importance=explained.importance(),
        importance_rows=len(sample),
        seconds=time.perf_counter() - started,
    )


def _tree_explainer(model: Any, common: dict[str, Any], classes: np.ndarray | None) -> Explainer:
    name = type(model).__name__
    try:
        trees = list(fitted_trees(model))
    except NotCompilable as err:
        raise NotExplainable(str(err)) from None
    if getattr(model, "n_outputs_", 1) != 1:
        raise NotExplainable(f"{name} with several outputs has no explanation")
    boosting = name in BOOSTING_TYPES
    offset = None
    if boosting:
        link = type(model._loss.link).__name__
        if classes is None and link != "IdentityLink":
            raise NotExplainable(f"{name} with loss {model.loss!r} ({link}) has no explanation on its answer's scale")
        offset = np.asarray(model._baseline_prediction, dtype="float64").reshape(-1)
        outputs = len(offset)
    else:
        outputs = trees[0].nodes.outputs
    if classes is None:
        scale = "value"
    elif not boosting:
        scale = "probability"
    else:
        scale = "log_odds" if outputs == 1 else "raw_score"
    return Explainer(
        **common,
        method="tree_shap",
        scale=scale,  # type: ignore[arg-type]
        classes=classes,
        trees=TreeShap(_concatenated(trees, outputs)),
        tree_scale=1.0 if boosting else 1.0 / len(trees),
        offset=offset,
    )


def _concatenated(trees: list[FittedTree], outputs: int) -> TreeArrays:
    """The trees' node arrays end to end, each tree's values spread over the outputs it adds to."""
    values = []
    for tree in trees:
        if tree.target is None:
            values.append(tree.nodes.values)
        else:
            spread = np.zeros((len(tree.nodes.left), outputs))
            spread[:, tree.target] = tree.nodes.values[:, 0]
            values.append(spread)
    sizes = [len(tree.nodes.left) for tree in trees]

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(tree.nodes, name) for tree in trees])

    return TreeArrays(
        starts=np.cumsum([0, *sizes[:-1]]).astype("int64"),
        left=joined("left"),
        right=joined("right"),
        feature=joined("feature"),
        threshold=joined("threshold"),
        missing_left=joined("missing_left"),
        cover=joined("cover"),
        values=np.vstack(values),
        float32_input=trees[0].nodes.float32_input,
    )


def _linear_explainer(
    model: Any, common: dict[str, Any], classes: np.ndarray | None, holdout_matrix: np.ndarray
) -> Explainer:
    coef = np.atleast_2d(np.asarray(model.coef_, dtype="float64"))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype="float64")) * np.ones(coef.shape[0])
    if classes is None and coef.shape[0] != 1:
        raise NotExplainable(f"{type(model).__name__} with several outputs has no explanation")
    bounds = None
    if getattr(model, "bounded", False) and hasattr(model, "target_min_"):
        bounds = (float(model.target_min_), float(model.target_max_))
    scale = "value" if classes is None else ("log_odds" if coef.shape[0] == 1 else "raw_score")
    return Explainer(
        **common,
        method="linear",
        scale=scale,  # type: ignore[arg-type]
        classes=classes,
        coef=coef,
        intercept=intercept,
        background=holdout_matrix.mean(axis=0),
        bounds=bounds,
    )


def _importance_rows(explainer: Explainer, holdout_rows: int) -> int:
    leaves = int((explainer.trees.trees.left == -1).sum()) if explainer.trees is not None else 1
    return max(1, min(holdout_rows, IMPORTANCE_ROWS, IMPORTANCE_LEAF_ROWS // max(1, leaves)))


def _model_outputs(model: Any, matrix: np.ndarray, explained: Explanations, classes: np.ndarray | None) -> np.ndarray:
    """What the model itself gives on the explained scale for ``matrix``: scikit-learn's own numbers."""
    if explained.scale == "value":
        if explained.bounds is not None:  # a bounded ridge: its line, before the clip
            return np.asarray(model._decision_function(matrix), dtype="float64").reshape(-1)
        return np.asarray(model.predict(matrix), dtype="float64").reshape(-1)
    assert classes is not None
    assert explained.classes is not None
    where = {value: at for at, value in enumerate(classes.tolist())}
    column = np.array([where[value] for value in explained.classes])
    if explained.scale == "probability":
        return model.predict_proba(matrix)[np.arange(len(matrix)), column]
    scores = np.asarray(model.decision_function(matrix), dtype="float64")
    return scores if scores.ndim == 1 else scores[np.arange(len(matrix)), column]


def _check_adds_up(explained: Explanations, outputs: np.ndarray) -> None:
    difference = float(np.abs(explained.outputs - outputs).max(initial=0.0))
    scale = max(1.0, float(np.abs(outputs).max(initial=0.0)))
    if difference > ADD_UP_TOLERANCE * scale:
        raise NotExplainable(
            f"its contributions do not add up to its output on the holdout (off by up to {difference:.3g})"
        )
