"""Reasons with each prediction: the champion's contributions per input column, which add up to its output.

An :class:`Explainer` is written at training time beside the champion (one
``.npz`` file, checksummed in the manifest) and read by serving without
scikit-learn. It holds the champion's feature program (the same numpy code
its compiled form runs), which input column each encoded feature comes from
(:meth:`~dropml.scoring.feature_program.FeatureProgram.feature_sources`), and
the model itself as numbers:

- ``tree_shap``: a forest, decision tree or histogram boosting model as its
  trees' node arrays; contributions by path-dependent TreeSHAP
  (:mod:`dropml.scoring.tree_shap`);
- ``linear``: a linear model's coefficients and the mean encoded holdout row
  (the background); feature ``j`` contributes ``coef_j * (x_j - mean_j)``,
  exactly.

Contributions of the encoded features made from one input column (its
one-hot codes, date parts, first word, lags) are summed into that column's.
For every row, ``base + sum(contributions) == output``, where ``output`` is
the model's own number before any decision, on the scale it names:

- ``value``: a regression's prediction (a bounded linear model's before its
  clip to the training range: the answer then says so);
- ``probability``: a forest's probability of ``class``;
- ``log_odds``: a binary boosting or logistic model's margin for its second
  class (``class``), the decision at 0;
- ``raw_score``: a multiclass boosting or logistic model's score of the
  predicted ``class`` before the softmax.

A binary model is explained for its second class whatever it answered (the
sign says which way a column pushes); a multiclass model for the class it
answered.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from dropml.scoring.feature_program import FeatureProgram
from dropml.scoring.tree_shap import TreeArrays, TreeShap

if TYPE_CHECKING:
    from dropml.scoring.rows import CheckedRows

FORMAT = 1
Method = Literal["tree_shap", "linear"]
Scale = Literal["value", "probability", "log_odds", "raw_score"]
TREE_ARRAYS = ("starts", "left", "right", "feature", "threshold", "missing_left", "cover", "values")


class ExplainerError(ValueError):
    """An explainer file this code cannot read (another format, or arrays that do not fit)."""


@dataclass(frozen=True)
class Explanations:
    """Each row's contributions per input column to the explained output, with the base value they start from."""

    columns: tuple[str, ...]
    scale: Scale
    contributions: np.ndarray  # [rows, columns]
    base: np.ndarray  # [rows]
    classes: list[Any] | None = None  # the class each row's output is of (None: regression)
    bounds: tuple[float, float] | None = None  # a bounded linear regression clips its answer to these

    @property
    def outputs(self) -> np.ndarray:
        """The explained output of each row: its base plus every contribution."""
        return self.base + self.contributions.sum(axis=1)

    def row(self, at: int, top: int) -> dict[str, Any]:
        """Row ``at`` as JSON: its ``top`` largest contributions by size, the others' sum, base and output."""
        values = self.contributions[at]
        order = np.argsort(-np.abs(values), kind="stable")[:top]
        shown = [{"column": self.columns[j], "contribution": float(values[j])} for j in order]
        output = float(self.base[at] + values.sum())
        answer: dict[str, Any] = {
            "output": self.scale,
            "base": float(self.base[at]),
            "value": output,
            "top": shown,
            "others": float(values.sum() - values[order].sum()),
        }
        if self.classes is not None:
            answer["class"] = self.classes[at]
        if self.bounds is not None and not self.bounds[0] <= output <= self.bounds[1]:
            answer["answer_clipped_to"] = float(np.clip(output, *self.bounds))
        return answer

    def to_json(self, top: int) -> list[dict[str, Any]]:
        """Every row's explanation (:meth:`row`)."""
        return [self.row(at, top) for at in range(len(self.base))]

    def csv_columns(self, top: int) -> dict[str, list[Any]]:
        """Each row's explanation as results-file columns: what is explained, the base, the ``top`` largest
        contributions and the others' sum as text, and the output they add up to."""
        rows = self.to_json(top)
        return {
            "explained_output": [_scale_text(row) for row in rows],
            "explanation_base": [row["base"] for row in rows],
            "explanation": [_reasons_text(row) for row in rows],
            "explanation_value": [row["value"] for row in rows],
        }

    def importance(self) -> dict[str, float]:
        """Mean absolute contribution per input column over these rows, largest first (a global importance)."""
        means = np.abs(self.contributions).mean(axis=0) if len(self.base) else np.zeros(len(self.columns))
        order = np.argsort(-means, kind="stable")
        return {self.columns[j]: float(means[j]) for j in order}


def _reasons_text(row: dict[str, Any]) -> str:
    shown = [f"{c['column']} {c['contribution']:+.6g}" for c in row["top"]]
    return "; ".join([*shown, f"others {row['others']:+.6g}"])


def _scale_text(row: dict[str, Any]) -> str:
    return f"{row['output']} of {row['class']}" if "class" in row else row["output"]


@dataclass(frozen=True)
class Explainer:
    """A champion's explanation model (see the module docstring); built by ``dropml.training.explainers``."""

    program: FeatureProgram
    program_json: str
    columns: tuple[str, ...]  # the input columns explained
    sources: np.ndarray  # [features]: the position in ``columns`` of each encoded feature's input column
    method: Method
    scale: Scale
    classes: np.ndarray | None = None
    trees: TreeShap | None = None
    tree_scale: float = 1.0  # a forest averages its trees: 1 / trees
    offset: np.ndarray | None = None  # [outputs]: added to the trees' sum (histogram boosting's baseline)
    coef: np.ndarray | None = None  # [outputs, features]
    intercept: np.ndarray | None = None  # [outputs]
    background: np.ndarray | None = None  # [features]: the mean encoded holdout row
    bounds: tuple[float, float] | None = None

    @property
    def outputs(self) -> int:
        """How many outputs the model has (1, or one per class)."""
        if self.trees is not None:
            return self.trees.trees.outputs
        assert self.coef is not None
        return int(self.coef.shape[0])

    def explain(self, rows: CheckedRows, answers: np.ndarray | None = None) -> Explanations:
        """Contributions per input column for checked ``rows`` (``answers``: the model's classes for them).

        Raises:
            ValueError: a multiclass model without ``answers``, or an answer that is none of its classes.
        """
        matrix = self.program.matrix(rows)
        output, classes = self._explained_outputs(answers, len(matrix))
        if self.trees is not None:
            features, _ = self.trees.contributions(matrix, output)
            features *= self.tree_scale
            base = self.trees.expected[output] * self.tree_scale
            if self.offset is not None:
                base = base + self.offset[output]
        else:
            assert self.coef is not None
            assert self.intercept is not None
            assert self.background is not None
            weights = self.coef[output]
            features = weights * (matrix - self.background)
            base = self.intercept[output] + weights @ self.background
        by_column = np.zeros((len(matrix), len(self.columns)))
        for position in range(len(self.columns)):
            by_column[:, position] = features[:, self.sources == position].sum(axis=1)
        return Explanations(self.columns, self.scale, by_column, base, classes, self.bounds)

    def _explained_outputs(self, answers: np.ndarray | None, rows: int) -> tuple[np.ndarray, list[Any] | None]:
        if self.classes is None:
            return np.zeros(rows, dtype="int64"), None
        labels = self.classes.tolist()  # Python values, as the JSON answer gives them
        if len(labels) == 2:  # the second class: one margin, or a forest's probability of it
            return np.full(rows, self.outputs - 1, dtype="int64"), [labels[1]] * rows
        if answers is None:
            raise ValueError("a multiclass model is explained for the class it answered: pass its answers")
        where = {value: at for at, value in enumerate(labels)}
        try:
            output = np.array([where[value] for value in np.asarray(answers).tolist()], dtype="int64")
        except KeyError as err:
            raise ValueError(f"{err.args[0]!r} is none of the model's classes") from None
        return output, [labels[at] for at in output]

    # ── the file ──

    def to_bytes(self) -> bytes:
        """The explainer as one ``.npz`` file (arrays, and its description as JSON; nothing pickled)."""
        meta: dict[str, Any] = {
            "format": FORMAT,
            "method": self.method,
            "scale": self.scale,
            "columns": list(self.columns),
            "program": self.program_json,
            "tree_scale": self.tree_scale,
            "bounds": list(self.bounds) if self.bounds is not None else None,
        }
        arrays: dict[str, np.ndarray] = {"sources": self.sources}
        if self.classes is not None:
            meta["classes"], meta["classes_dtype"] = self.classes.tolist(), str(self.classes.dtype)
        if self.trees is not None:
            trees = self.trees.trees
            meta["float32_input"] = trees.float32_input
            arrays.update({name: getattr(trees, name) for name in TREE_ARRAYS})
            if self.offset is not None:
                arrays["offset"] = self.offset
        else:
            arrays.update(coef=self.coef, intercept=self.intercept, background=self.background)  # type: ignore[arg-type]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, body: bytes) -> Explainer:
        """The explainer written by :meth:`to_bytes` (its tree tables built now: once per version).

        Raises:
            ExplainerError: not an explainer file of a format this code reads.
        """
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (OSError, ValueError, KeyError) as err:
            raise ExplainerError(f"not an explainer file: {err}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ExplainerError(f"explainer format {meta.get('format') if isinstance(meta, dict) else None!r}")
        classes = None
        if meta.get("classes") is not None:
            classes = np.asarray(meta["classes"], dtype=meta.get("classes_dtype", "object"))
        common: dict[str, Any] = {
            "program": FeatureProgram.from_json(meta["program"]),
            "program_json": meta["program"],
            "columns": tuple(meta["columns"]),
            "sources": arrays["sources"].astype("int64"),
            "method": meta["method"],
            "scale": meta["scale"],
            "classes": classes,
            "tree_scale": float(meta.get("tree_scale", 1.0)),
            "bounds": tuple(meta["bounds"]) if meta.get("bounds") else None,
        }
        if meta["method"] == "tree_shap":
            trees = TreeArrays(
                **{name: arrays[name] for name in TREE_ARRAYS}, float32_input=bool(meta.get("float32_input"))
            )
            return cls(**common, trees=TreeShap(trees), offset=arrays.get("offset"))
        if meta["method"] == "linear":
            return cls(**common, coef=arrays["coef"], intercept=arrays["intercept"], background=arrays["background"])
        raise ExplainerError(f"unknown explanation method {meta['method']!r}")
