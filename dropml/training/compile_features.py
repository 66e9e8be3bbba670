"""A fitted pipeline's ``preprocess`` and ``select`` steps as a feature program (:mod:`dropml.scoring.feature_program`).

Serving a compiled model must not need scikit-learn, so what the pipeline does
to a row before its model sees it is written down as numbers: the fitted
medians, means and scales, each category's one-hot position, the date parts,
the lags, the selected columns. :func:`feature_program` reads them off the
fitted steps; :mod:`dropml.training.compile` then checks, on the holdout, that
the program gives scikit-learn's matrix exactly.

Steps with a compiled form: training's own (:class:`~dropml.training.features.CoerceColumns`,
:class:`~dropml.training.features.LagFeatures`, :class:`~dropml.training.features.DatetimeParts`,
:class:`~dropml.training.features.FirstWord`, the ``ColumnTransformer`` of
:func:`~dropml.training.features.build_preprocess`), and, for registered
pipelines, ``SimpleImputer`` (numbers: mean, median, most frequent, constant;
text: most frequent, constant), ``StandardScaler``, ``MinMaxScaler``,
``MaxAbsScaler``, ``RobustScaler``, ``OneHotEncoder`` of text, any feature
selector (``get_support``), ``ColumnTransformer`` by column name, and nested
``Pipeline`` s. Any other step raises :class:`NotCompilable` naming it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.scoring.feature_program import FORMAT

if TYPE_CHECKING:
    from dropml.manifest import InputSchema

NUMERIC_KINDS = ("numeric", "boolean")
UNSEEN_TEXT = "\x00dropml: a text no encoder has seen"
# SimpleImputer and training's MedianImputer (the same fitted ``statistics_``, found faster)
IMPUTER_TYPES = ("SimpleImputer", "MedianImputer")


class NotCompilable(Exception):
    """Why a pipeline has no compiled form (recorded in the manifest; the model is served by scikit-learn)."""


@dataclass
class _Trace:
    """What the steps read so far: the raw columns and their kinds, lag columns, then the matrix's blocks and steps."""

    inputs: dict[str, str]
    lags: dict[str, Any] | None = None
    lag_names: list[str] = field(default_factory=list)
    blocks: list[dict[str, Any]] | None = None  # None: no matrix yet, the steps still see named columns
    steps: list[dict[str, Any]] = field(default_factory=list)
    width: int = 0

    def spec(self) -> dict[str, Any]:
        """The program's JSON (without its output)."""
        assert self.blocks is not None
        return {"format": FORMAT, "inputs": self.inputs, "lags": self.lags, "blocks": self.blocks, "steps": self.steps}


def feature_program(pipeline: Any, schema: InputSchema) -> tuple[dict[str, Any], int]:
    """The feature program of ``pipeline``'s steps before its final estimator, and the width of its matrix.

    ``pipeline`` is a fitted ``preprocess``/``select``/``model`` Pipeline; a
    ``model`` that is itself a Pipeline (a registered one) has its own steps
    before its estimator traced too.

    Raises:
        NotCompilable: a step has no compiled form (named).
    """
    trace = _Trace(inputs={column.name: column.kind for column in schema.columns})
    for step in _steps_before_estimator(pipeline):
        _trace_step(trace, step, schema)
    if trace.blocks is None:  # the estimator takes the named columns themselves
        _numbers_of_all(trace, list(trace.inputs))
    return trace.spec(), trace.width


def final_estimator(pipeline: Any) -> Any:
    """The estimator at the end of ``pipeline`` (inside a nested Pipeline, its last step)."""
    model = pipeline.steps[-1][1]
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def _steps_before_estimator(pipeline: Any) -> list[Any]:
    steps: list[Any] = []
    for _, step in pipeline.steps[:-1]:
        steps += _flattened(step)
    model = pipeline.steps[-1][1]
    if hasattr(model, "steps"):
        steps += _steps_before_estimator(model)
    return steps


def _flattened(step: Any) -> list[Any]:
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return []
    if hasattr(step, "steps"):
        return [inner for _, s in step.steps for inner in _flattened(s)]
    return [step]


def _trace_step(trace: _Trace, step: Any, schema: InputSchema) -> None:
    name = type(step).__name__
    if trace.blocks is None:
        if name == "CoerceColumns":
            trace.inputs = {column: kind for column, kind in (step.kinds or {}).items()}
            return
        if name == "LagFeatures":
            _trace_lags(trace, step)
            return
        if name == "ColumnTransformer":
            _trace_columns(trace, step)
            return
        if name == "FunctionTransformer" and getattr(step.func, "__name__", "") == "columns_as_array":
            _numbers_of_all(trace, list((step.kw_args or {}).get("columns") or schema.names))
            return
        _numbers_of_all(trace, list(trace.inputs))  # a step fitted on the frame itself: every column, in order
    steps = _matrix_steps(step)
    trace.steps += steps
    for added in steps:
        if added["op"] == "select":
            trace.width = len(added["values"])


def _numbers_of_all(trace: _Trace, columns: list[str]) -> None:
    not_numbers = [name for name in columns if trace.inputs.get(name) not in NUMERIC_KINDS]
    if not_numbers:
        raise NotCompilable(f"the model takes columns that are not numbers as they are: {', '.join(not_numbers)}")
    trace.blocks = [{"kind": "numbers", "columns": columns, "steps": []}]
    trace.width = len(columns)


def _trace_lags(trace: _Trace, step: Any) -> None:
    lag_columns, return_columns = list(step.lag_columns or []), list(step.return_columns or [])
    lags = [int(lag) for lag in step.lags or []]
    trace.lags = {
        "time_column": step.time_column,
        "group_column": step.group_column,
        "lag_columns": lag_columns,
        "return_columns": return_columns,
        "lags": lags,
    }
    trace.lag_names = [str(name) for name in step.get_feature_names_out([])]


def _trace_columns(trace: _Trace, transformer: Any) -> None:
    """The fitted ColumnTransformer's parts, in output order, as blocks."""
    blocks: list[dict[str, Any]] = []
    width = 0
    for part_name, part, columns in transformer.transformers_:
        if part == "drop" or (isinstance(columns, list | tuple | np.ndarray) and len(columns) == 0):
            continue
        if part_name == "remainder":
            raise NotCompilable("a ColumnTransformer that passes its other columns through")
        names = [str(column) for column in columns] if not isinstance(columns, str) else [columns]
        block = _part_block(trace, part, names)
        blocks.append(block)
        width += block.pop("width")
    trace.blocks = blocks
    trace.width = width


def _kind(trace: _Trace, name: str) -> str:
    if name in trace.lag_names:
        return "numeric"
    kind = trace.inputs.get(name)
    if kind is None:
        raise NotCompilable(f"a step reads column {name!r}, which is not an input")
    return kind


def _part_block(trace: _Trace, part: Any, columns: list[str]) -> dict[str, Any]:
    """One ColumnTransformer part (a transformer or a Pipeline of them) on ``columns`` as a block."""
    chain = _flattened(part)
    kinds = {_kind(trace, name) for name in columns}
    names = [type(step).__name__ for step in chain]
    if chain and names[0] == "DatetimeParts":
        if kinds != {"datetime"}:
            raise NotCompilable(f"date parts of columns that are not dates: {', '.join(columns)}")
        parts = [str(p) for p in chain[0]._parts()]
        steps = [s for step in chain[1:] for s in _matrix_steps(step)]
        width = _width(steps, len(parts) * len(columns))
        return {"kind": "dates", "columns": columns, "parts": parts, "steps": steps, "width": width}
    if "OneHotEncoder" in names:
        return _categories_block(chain, columns, kinds)
    if not kinds <= set(NUMERIC_KINDS):
        raise NotCompilable(
            f"columns {', '.join(columns)} reach the model without an encoder ({names or 'as they are'})"
        )
    steps = [s for step in chain for s in _matrix_steps(step)]
    return {"kind": "numbers", "columns": columns, "steps": steps, "width": _width(steps, len(columns))}


def _width(steps: list[dict[str, Any]], width: int) -> int:
    """The columns left after ``steps`` on ``width`` columns."""
    for step in steps:
        if step["op"] == "select":
            width = len(step["values"])
    return width


def _categories_block(chain: list[Any], columns: list[str], kinds: set[str]) -> dict[str, Any]:
    if kinds != {"categorical"}:
        raise NotCompilable(f"a one-hot encoder of columns that are not categories: {', '.join(columns)}")
    first_word = False
    fills: list[str | None] = [None] * len(columns)
    encoder = None
    for step in chain:
        name = type(step).__name__
        if name == "FirstWord" and encoder is None:
            first_word = True
        elif name in IMPUTER_TYPES and encoder is None:
            fills = _text_fills(step, len(columns))
        elif name == "OneHotEncoder" and encoder is None:
            encoder = step
        else:
            raise NotCompilable(f"{name} where category text is encoded has no compiled form")
    assert encoder is not None
    encodings = _encodings(encoder)
    return {
        "kind": "categories",
        "columns": columns,
        "first_word": first_word,
        "fills": fills,
        "encodings": encodings,
        "width": sum(encoding["width"] for encoding in encodings),
    }


def _text_fills(imputer: Any, count: int) -> list[str | None]:
    if imputer.add_indicator or imputer.strategy not in ("most_frequent", "constant"):
        raise NotCompilable(f"SimpleImputer(strategy={imputer.strategy!r}) of category text has no compiled form")
    fills = [value if isinstance(value, str) else None for value in imputer.statistics_.tolist()]
    if len(fills) != count or any(fill is None for fill in fills):
        raise NotCompilable("a text imputer without a text for every column")
    return fills


def _encodings(encoder: Any) -> list[dict[str, Any]]:
    """Each encoded column's positions: a known text's one-hot column, and where any other text goes."""
    if encoder.drop_idx_ is not None:
        raise NotCompilable("OneHotEncoder(drop=...) has no compiled form")
    if encoder.handle_unknown == "error":
        raise NotCompilable("OneHotEncoder(handle_unknown='error') has no compiled form")
    categories = encoder.categories_
    if any(not all(isinstance(c, str) for c in column.tolist()) for column in categories):
        raise NotCompilable("a one-hot encoder fitted on values that are not text")
    widths = [int(w) for w in encoder._n_features_outs]  # one count per input column
    starts = np.cumsum([0, *widths[:-1]])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories found": asked on purpose
        for j, known in enumerate(categories):
            rows = np.array([[c[0] for c in categories]] * (len(known) + 1), dtype=object)
            rows[:, j] = [*known.tolist(), UNSEEN_TEXT]
            coded = np.asarray(_dense(encoder.transform(rows)))[:, starts[j] : starts[j] + widths[j]]
            positions = {str(text): int(np.argmax(code)) for text, code in zip(known.tolist(), coded, strict=False)}
            unseen = coded[-1]
            out.append(
                {
                    "positions": positions,
                    "width": widths[j],
                    "unknown": int(np.argmax(unseen)) if unseen.any() else None,
                }
            )
    return out


def _dense(matrix: Any) -> Any:
    return matrix.toarray() if hasattr(matrix, "toarray") else matrix


def _matrix_steps(step: Any) -> list[dict[str, Any]]:
    """A fitted step on a float matrix as program steps.

    Raises:
        NotCompilable: no compiled form for this step.
    """
    name = type(step).__name__
    if hasattr(step, "get_support") and hasattr(step, "transform"):  # any feature selector
        return [{"op": "select", "values": np.flatnonzero(step.get_support()).tolist()}]
    if name in IMPUTER_TYPES:
        return _imputer_steps(step)
    if name == "StandardScaler":
        steps = [{"op": "subtract", "values": step.mean_.tolist()}] if step.with_mean else []
        return steps + ([{"op": "divide", "values": step.scale_.tolist()}] if step.with_std else [])
    if name == "RobustScaler":
        steps = [{"op": "subtract", "values": step.center_.tolist()}] if step.with_centering else []
        return steps + ([{"op": "divide", "values": step.scale_.tolist()}] if step.with_scaling else [])
    if name == "MinMaxScaler":
        steps = [{"op": "multiply", "values": step.scale_.tolist()}, {"op": "add", "values": step.min_.tolist()}]
        return steps + ([{"op": "clip", "values": list(step.feature_range)}] if step.clip else [])
    if name == "MaxAbsScaler":
        steps = [{"op": "divide", "values": step.scale_.tolist()}]
        return steps + ([{"op": "clip", "values": [-1.0, 1.0]}] if getattr(step, "clip", False) else [])
    raise NotCompilable(f"{name} has no compiled form")


def _imputer_steps(imputer: Any) -> list[dict[str, Any]]:
    missing = imputer.missing_values
    if imputer.add_indicator or not (isinstance(missing, float) and np.isnan(missing)):
        raise NotCompilable("SimpleImputer with a missing-value indicator or a marker other than NaN")
    statistics = np.asarray(imputer.statistics_, dtype="float64")
    gaps = np.isnan(statistics)
    if gaps.any() and getattr(imputer, "keep_empty_features", False):
        raise NotCompilable("SimpleImputer(keep_empty_features=True) with an empty column")
    steps: list[dict[str, Any]] = []
    if gaps.any():  # a column empty in training: scikit-learn drops it
        steps.append({"op": "select", "values": np.flatnonzero(~gaps).tolist()})
    return [*steps, {"op": "fill", "values": statistics[~gaps].tolist()}]
