"""A compiled model's feature program: checked rows → the matrix its ONNX model takes, in numpy, no scikit-learn.

Training writes one per compiled model (:mod:`dropml.training.compile_features`
reads it off the fitted ``preprocess`` and ``select`` steps) into the model's
ONNX file, and checks that it gives exactly scikit-learn's matrix on the
holdout rows before the model is published. It is JSON:

- ``inputs``: the raw columns read, with their schema kinds;
- ``lags``: per-group lags and returns of a time-ordered project (or null);
- ``blocks``: the column groups, in the order the pipeline stacks them:
  ``numbers`` (numeric, boolean and lag columns), ``categories`` (one-hot
  codes of category text, or of its first word), ``dates`` (date parts); each
  with its own ``steps``;
- ``steps``: what follows on the stacked matrix (the selected columns; a
  registered pipeline's scalers);
- ``output``: what the ONNX model's first output means: the value itself, or
  the position of a class in ``classes``;
- ``refuse_missing``: the model takes no gaps (a registered pipeline without
  an imputer): a row with one is refused, as scikit-learn refuses it.

A step is ``{"op": ..., "values": [...]}``, one value per column (``select``:
the column positions kept): ``fill`` (a gap takes the value), ``subtract``,
``divide``, ``multiply``, ``add``, ``clip`` (``values`` is ``[low, high]``).
Each runs as the scikit-learn step it stands for does (``X -= mean_``, then
``X /= scale_``), so the numbers are the same to the last bit.

Rows come as :mod:`dropml.scoring.rows` gives them: :class:`NumberRows`,
:class:`ColumnRows` (no pandas), or a checked DataFrame (CSV input).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.scoring.feature_values import (
    boolean_number,
    category_text,
    date_parts,
    first_word,
    lag_feature_names,
    lag_features,
    to_datetimes,
)
from dropml.scoring.rows import ColumnRows, NumberRows

if TYPE_CHECKING:
    from dropml.scoring.rows import CheckedRows

FORMAT = 1
METADATA_KEY = "dropml.feature_program"  # where a compiled model's ONNX file keeps its program
OPS = ("fill", "subtract", "divide", "multiply", "add", "clip", "select")


class ProgramError(ValueError):
    """A feature program this code cannot run (an unknown format, block or step)."""


@dataclass(frozen=True)
class Step:
    """One operation on a float matrix, column by column."""

    op: str
    values: np.ndarray

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        """``matrix`` after this step (a new array, or ``matrix`` changed in place)."""
        if self.op == "select":
            return matrix[:, self.values]
        if self.op == "fill":
            return np.where(np.isnan(matrix), self.values, matrix)
        if self.op == "subtract":
            matrix -= self.values
        elif self.op == "divide":
            matrix /= self.values
        elif self.op == "multiply":
            matrix *= self.values
        elif self.op == "add":
            matrix += self.values
        elif self.op == "clip":
            np.clip(matrix, self.values[0], self.values[1], out=matrix)
        return matrix


def _steps(specs: list[dict[str, Any]]) -> tuple[Step, ...]:
    steps = []
    for spec in specs:
        op = spec.get("op")
        if op not in OPS:
            raise ProgramError(f"unknown step {op!r}")
        dtype = "int64" if op == "select" else "float64"
        steps.append(Step(op, np.asarray(spec["values"], dtype=dtype)))
    return tuple(steps)


def _selected(steps: tuple[Step, ...], names: list[str]) -> list[str]:
    """``names`` of a matrix's columns, as the ``select`` steps among ``steps`` keep them."""
    for step in steps:
        if step.op == "select":
            names = [names[at] for at in step.values.tolist()]
    return names


def _run_steps(steps: tuple[Step, ...], matrix: np.ndarray) -> np.ndarray:
    for step in steps:
        matrix = step.apply(matrix)
    return matrix


# ── reading one column of checked rows ───────────────────────────────────────


def _frame_column(rows: Any, name: str) -> np.ndarray:
    return rows[name].to_numpy()


def numbers(rows: CheckedRows, name: str, kind: str) -> np.ndarray:
    """Column ``name`` as float64: a number, a boolean as 1.0/0.0, NaN for a gap (training's coerce step)."""
    if isinstance(rows, NumberRows | ColumnRows):
        return np.asarray(rows.column(name), dtype="float64")
    if kind == "boolean":
        return np.fromiter((boolean_number(v) for v in _frame_column(rows, name).tolist()), "float64", len(rows))
    return rows[name].to_numpy(dtype="float64", na_value=np.nan)


def texts(rows: CheckedRows, name: str) -> list[str | None]:
    """Column ``name`` as category text (None for a gap), as training's coerce step makes it."""
    values = rows.column(name) if isinstance(rows, NumberRows | ColumnRows) else _frame_column(rows, name)
    return [category_text(value) for value in values.tolist()]


def stamps(rows: CheckedRows, name: str) -> np.ndarray:
    """Column ``name`` as datetime64[ns], naive UTC (NaT for a gap)."""
    if isinstance(rows, ColumnRows):
        return np.asarray(rows.column(name), dtype="datetime64[ns]")
    return to_datetimes(rows[name]).to_numpy(dtype="datetime64[ns]")  # a DataFrame: pandas is loaded already


def _float_block(frame: Any, columns: tuple[str, ...]) -> np.ndarray | None:
    """``columns`` of an all-float64 frame (a CSV of numbers) as a new matrix in one copy; None for any other frame."""
    dtypes = frame.dtypes
    if not all(dtype == np.float64 for dtype in dtypes):
        return None
    present = list(frame.columns)
    matrix = frame.to_numpy(dtype="float64")  # one float block: a view
    if present == list(columns):
        return matrix.copy()
    where = {name: at for at, name in enumerate(present)}
    return matrix[:, [where[name] for name in columns]]


# ── blocks ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Encoding:
    """One category column's one-hot codes: each known text's position, the position of any other text (or none)."""

    positions: dict[str, int]
    width: int
    unknown: int | None

    def fill(self, words: list[str | None], out: np.ndarray) -> None:
        """Write the one-hot codes of ``words`` into ``out`` (rows x ``width``, zeros); None is an unknown text."""
        missing = -1 if self.unknown is None else self.unknown
        for row, word in enumerate(words):
            position = self.positions.get(word, missing) if word is not None else missing
            if position >= 0:
                out[row, position] = 1.0


@dataclass(frozen=True)
class Block:
    """One column group of the matrix: how it reads its columns and the steps that follow."""

    kind: str  # numbers | categories | dates
    columns: tuple[str, ...]
    steps: tuple[Step, ...]
    width: int
    parts: tuple[str, ...] = ()  # dates
    first_word: bool = False  # categories
    fills: tuple[str | None, ...] = ()  # categories: the text a gap takes, per column
    encodings: tuple[Encoding, ...] = ()  # categories

    def matrix(self, program: FeatureProgram, rows: CheckedRows, extra: dict[str, np.ndarray]) -> np.ndarray:
        """This block's columns for ``rows`` (``extra``: lag columns, by name)."""
        if self.kind == "numbers":
            return _run_steps(self.steps, program.number_matrix(rows, self.columns, extra))
        if self.kind == "dates":
            parts = [date_parts(stamps(rows, name), self.parts) for name in self.columns]
            return _run_steps(self.steps, np.column_stack(parts) if parts else np.empty((len(rows), 0)))
        out = np.zeros((len(rows), self.width))
        start = 0
        for name, fill, encoding in zip(self.columns, self.fills, self.encodings, strict=True):
            words = texts(rows, name)
            if self.first_word:
                words = [first_word(word) for word in words]
            if fill is not None:
                words = [fill if word is None else word for word in words]
            encoding.fill(words, out[:, start : start + encoding.width])
            start += encoding.width
        return out


def _block(spec: dict[str, Any]) -> Block:
    kind = spec.get("kind")
    columns = tuple(spec["columns"])
    steps = _steps(spec.get("steps", []))
    if kind == "numbers":
        return Block(kind, columns, steps, width=_width_after(len(columns), steps))
    if kind == "dates":
        parts = tuple(spec["parts"])
        return Block(kind, columns, steps, width=_width_after(len(columns) * len(parts), steps), parts=parts)
    if kind == "categories":
        encodings = tuple(Encoding(dict(e["positions"]), int(e["width"]), e.get("unknown")) for e in spec["encodings"])
        return Block(
            kind,
            columns,
            (),
            width=sum(e.width for e in encodings),
            first_word=bool(spec.get("first_word", False)),
            fills=tuple(spec.get("fills") or [None] * len(columns)),
            encodings=encodings,
        )
    raise ProgramError(f"unknown block kind {kind!r}")


def _width_after(width: int, steps: tuple[Step, ...]) -> int:
    for step in steps:
        if step.op == "select":
            width = len(step.values)
    return width


@dataclass(frozen=True)
class Lags:
    """Per-group lags and returns of a time-ordered project (:func:`~dropml.scoring.feature_values.lag_features`)."""

    time_column: str
    group_column: str | None
    lag_columns: tuple[str, ...]
    return_columns: tuple[str, ...]
    lags: tuple[int, ...]


@dataclass(frozen=True)
class Output:
    """What the ONNX model's first output means: the answer itself, or positions in ``classes``."""

    kind: str  # value | class_index
    classes: np.ndarray | None = None

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """The answers: values as float64 (one per row), or each row's class."""
        flat = raw.reshape(-1) if raw.ndim > 1 else raw
        if self.kind == "class_index" and self.classes is not None:
            return self.classes[flat.astype("int64")]
        return flat.astype("float64", copy=False)


@dataclass(frozen=True)
class FeatureProgram:
    """A compiled model's feature program, ready to run (see the module docstring for its JSON)."""

    inputs: dict[str, str]
    blocks: tuple[Block, ...]
    steps: tuple[Step, ...]
    output: Output
    lags: Lags | None = None
    refuse_missing: bool = False  # its model takes no gaps (a registered one without an imputer)
    key: str = field(default="", compare=False)  # its features' JSON: programs with one key make one matrix

    @classmethod
    def from_json(cls, text: str) -> FeatureProgram:
        """The program written as ``text``.

        Raises:
            ProgramError: not a program of a format this code runs.
        """
        spec = json.loads(text)
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise ProgramError(f"feature program format {spec.get('format') if isinstance(spec, dict) else None!r}")
        lags = spec.get("lags")
        output = spec.get("output") or {"kind": "value"}
        classes = None
        if output.get("kind") == "class_index":
            classes = np.asarray(output["classes"], dtype=output.get("dtype", "object"))
        features = {key: spec.get(key) for key in ("inputs", "lags", "blocks", "steps")}
        return cls(
            inputs=dict(spec["inputs"]),
            blocks=tuple(_block(block) for block in spec["blocks"]),
            steps=_steps(spec.get("steps", [])),
            output=Output(output.get("kind", "value"), classes),
            lags=Lags(
                lags["time_column"],
                lags.get("group_column"),
                tuple(lags["lag_columns"]),
                tuple(lags["return_columns"]),
                tuple(lags["lags"]),
            )
            if lags
            else None,
            refuse_missing=bool(spec.get("refuse_missing", False)),
            key=json.dumps(features, sort_keys=True),
        )

    def matrix(self, rows: CheckedRows) -> np.ndarray:
        """The float64 matrix the compiled model takes for ``rows``: the pipeline's ``preprocess`` and ``select``.

        Raises:
            ValueError: a gap, where the model takes none (scikit-learn's own refusal: a 422).
        """
        extra = self._lag_columns(rows) if self.lags is not None else {}
        parts = [block.matrix(self, rows, extra) for block in self.blocks]
        stacked = parts[0] if len(parts) == 1 else np.hstack(parts)  # a program has at least one block
        matrix = np.ascontiguousarray(_run_steps(self.steps, stacked), dtype="float64")
        if self.refuse_missing and np.isnan(matrix).any():
            raise ValueError("the model takes no missing values (its pipeline has no imputer): fill every field")
        return matrix

    def feature_sources(self) -> list[str]:
        """The input column each column of :meth:`matrix` is made from, in order.

        A one-hot code, a date part or a first word's code comes from its
        column; a lag or return from the column it lags. Explanations sum the
        contributions of every matrix column made from one input column.
        """
        lagged: dict[str, str] = {}
        if self.lags is not None:
            lags, returns = list(self.lags.lag_columns), list(self.lags.return_columns)
            sources = [*(c for c in lags for _ in self.lags.lags), *(c for c in lags for _ in self.lags.lags)]
            sources += [c for c in returns if c not in lags]
            lagged = dict(zip(lag_feature_names(lags, returns, list(self.lags.lags)), sources, strict=True))
        names: list[str] = []
        for block in self.blocks:
            if block.kind == "numbers":
                made = [lagged.get(name, name) for name in block.columns]
            elif block.kind == "dates":
                made = [name for name in block.columns for _ in block.parts]
            else:
                made = [name for name, e in zip(block.columns, block.encodings, strict=True) for _ in range(e.width)]
            names += _selected(block.steps, made)
        return _selected(self.steps, names)

    def number_matrix(self, rows: CheckedRows, columns: tuple[str, ...], extra: dict[str, np.ndarray]) -> np.ndarray:
        """``columns`` of ``rows`` (or of ``extra``) as one new float64 matrix, in order."""
        if isinstance(rows, NumberRows) and not extra:
            if tuple(rows.columns) == columns:
                return rows.matrix.copy()
            where = {name: at for at, name in enumerate(rows.columns)}
            return rows.matrix[:, [where[name] for name in columns]]
        if not isinstance(rows, NumberRows | ColumnRows) and not extra:
            block = _float_block(rows, columns)
            if block is not None:
                return block
        out = np.empty((len(rows), len(columns)))
        for position, name in enumerate(columns):
            out[:, position] = extra[name] if name in extra else numbers(rows, name, self.inputs.get(name, "numeric"))
        return out

    def _lag_columns(self, rows: CheckedRows) -> dict[str, np.ndarray]:
        lags = self.lags
        assert lags is not None
        groups = self._sort_key(rows, lags.group_column) if lags.group_column else None
        values = {name: numbers(rows, name, "numeric") for name in {*lags.lag_columns, *lags.return_columns}}
        return lag_features(
            self._sort_key(rows, lags.time_column),
            groups,
            values,
            list(lags.lag_columns),
            list(lags.return_columns),
            list(lags.lags),
        )

    def _sort_key(self, rows: CheckedRows, name: str) -> np.ndarray:
        """A time or group column as training's lag step sorts it: datetimes, numbers, or category text."""
        kind = self.inputs.get(name, "numeric")
        if kind == "datetime":
            return stamps(rows, name)
        if kind == "categorical":
            return np.asarray(texts(rows, name), dtype=object)
        return numbers(rows, name, kind)
