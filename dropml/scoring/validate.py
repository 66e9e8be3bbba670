"""Check request rows against a version's input schema and build the one frame the pipelines get.

Two entry points share one set of per-value rules (so a JSON record, a form
post and a CSV row are judged the same way):

- :func:`frame_from_records` for JSON records and form posts (a handful of
  rows: plain Python per value, then one ``DataFrame``; no pandas per column);
- :func:`validate_frame` for CSV uploads and big batches (columns that pandas
  already parsed as numbers are checked vectorised; other columns per value).

Every problem names its field, and its row when it is about one value; rows
are 1-based positions in the batch (a CSV's header is not a row). Problems are
collected, not raised one by one, so the caller can show all of them at once.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.errors import BadInput
from dropml.manifest import FALSE_TEXTS, TRUE_TEXTS
from dropml.scoring.rows import CheckedRows, ColumnKind, ColumnRows, NumberRows, as_frame

if TYPE_CHECKING:
    import pandas as pd

    from dropml.manifest import ColumnSchema, InputSchema
    from dropml.storage.csv_format import CsvFormat

MAX_PROBLEMS = 100
MAX_EXTRA_COLUMNS = 100  # a CSV may carry this many columns the models do not use (ids, notes)
CSV_DELIMITERS = (b",", b";", b"\t", b"|")
MAX_MAGNITUDE = float(np.finfo(np.float32).max)  # tree models compute in float32: beyond this is inf
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MISSING = object()
# the dates numpy reads as they are (no zone, at most microseconds), in the years datetime64[ns] holds
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")
NANOSECOND_YEARS = (1678, 2261)


class _Problems:
    """Collects problems up to :data:`MAX_PROBLEMS`, counting the rest."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.dropped = 0

    def add(self, field: str, message: str, row: int | None = None, value: Any = _MISSING) -> None:
        if len(self.items) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        problem: dict[str, Any] = {"field": field, "message": message}
        if row is not None:
            problem["row"] = row
        if value is not _MISSING:
            problem["value"] = _shown(value)
        self.items.append(problem)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = list(self.items)
        if self.dropped:
            items.append({"field": "*", "message": f"… and {self.dropped} more problems"})
        first = items[0]
        where = f" (row {first['row']})" if "row" in first else ""
        total = len(self.items) + self.dropped
        summary = f"{first['field']}{where}: {first['message']}"
        if total > 1:
            summary += f" (and {total - 1} more problem{'s' if total > 2 else ''})"
        raise BadInput(first["field"], first.get("value"), summary, problems=items, http_status=422)


def _shown(value: Any) -> Any:
    """A JSON-safe, short rendering of a bad value for error messages."""
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "…"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return _shown(str(value))


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


# ── per-value rules: value → (converted, None) or (None, why it is wrong) ─────


def _number_of(value: Any) -> float:
    """``value`` as a float; raises TypeError (not a number), ValueError (not numeric text) or OverflowError."""
    if isinstance(value, bool | np.bool_):
        raise TypeError("a boolean")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise TypeError(type(value).__name__)


def _to_number(value: Any) -> tuple[Any, str | None]:
    try:
        number = _number_of(value)
    except TypeError as err:
        return None, f"expected a number, got {err}"
    except OverflowError:  # an int too big for a float
        return None, "expected a finite number"
    except ValueError:
        return None, f"expected a number, got {_shown(value)!r}"
    if not math.isfinite(number):
        return None, "expected a finite number"
    if abs(number) > MAX_MAGNITUDE:
        return None, f"expected a number between -{MAX_MAGNITUDE:.3g} and {MAX_MAGNITUDE:.3g}"
    return number, None


def _category_text(value: Any) -> str | None:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, str | int | float | np.integer | np.floating):
        return str(value)
    return None


def _to_boolean(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool | np.bool_):
        return bool(value), None
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return bool(value), None  # 1.0 is what a reader makes of "1" in a column that also holds 2.5
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_TEXTS:
            return True, None
        if text in FALSE_TEXTS:
            return False, None
    return None, f"expected true or false, got {_shown(value)!r}"


def _plain_iso(text: str) -> np.datetime64 | None:
    """A plain ISO 8601 date or time (no zone) as datetime64[ns] without pandas; None for any other text."""
    if not _PLAIN_ISO.fullmatch(text):
        return None
    try:
        stamp = np.datetime64(text, "us")
    except ValueError:  # a day or month out of range: pandas' reading explains it
        return None
    year = stamp.astype("datetime64[Y]").astype("int64") + 1970
    return stamp.astype("datetime64[ns]") if NANOSECOND_YEARS[0] <= year <= NANOSECOND_YEARS[1] else None


def _to_datetime(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str):
        stamp = _plain_iso(value.strip())
        if stamp is not None:
            return stamp, None
    import pandas as pd

    if not isinstance(value, str | pd.Timestamp | np.datetime64):
        return None, f"expected a date or time, got {type(value).__name__}"
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None, f"expected a date or time (ISO 8601), got {_shown(value)!r}"
    if stamp is pd.NaT:
        return None, f"expected a date or time (ISO 8601), got {_shown(value)!r}"
    return stamp, None


def _is_numeric_dtype_name(dtype: str) -> bool:
    return dtype.lower().startswith(("int", "uint", "float"))


def scored_as_number(column: ColumnSchema) -> bool:
    """Whether the pipelines get this column as float64: numbers, and categories that were numbers in training."""
    return column.kind == "numeric" or (column.kind == "categorical" and _is_numeric_dtype_name(column.dtype))


def _category_rule(column: ColumnSchema) -> Callable[[Any], tuple[Any, str | None]]:
    allowed = frozenset(column.categories) if column.categories is not None else None
    numeric = _is_numeric_dtype_name(column.dtype)

    def rule(value: Any) -> tuple[Any, str | None]:
        text = _category_text(value)
        if text is None:
            return None, f"expected a category, got {type(value).__name__}"
        if allowed is not None and text not in allowed:
            shown = ", ".join(sorted(allowed)[:20]) + (", …" if len(allowed) > 20 else "")
            return None, f"unseen category {text!r}; expected one of: {shown}"
        return (float(text) if numeric else text), None

    return rule


def rule_for(column: ColumnSchema) -> Callable[[Any], tuple[Any, str | None]]:
    """The per-value rule of one column: converts a non-blank value or says why it is wrong."""
    if column.kind == "numeric":
        return _to_number
    if column.kind == "boolean":
        return _to_boolean
    if column.kind == "datetime":
        return _to_datetime
    return _category_rule(column)


# ── columns ──────────────────────────────────────────────────────────────────


def _typed(column: ColumnSchema, values: list[Any]) -> Any:
    """The converted values of one column as the dtype the pipelines were trained on."""
    import pandas as pd

    if scored_as_number(column):
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if column.kind == "categorical":
        return pd.array([np.nan if v is None else v for v in values], dtype="str")
    if column.kind == "boolean":
        if any(v is None for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=object)
        return np.array(values, dtype=bool)
    if column.dtype.startswith("datetime"):  # a zoned time as naive UTC (training's coerce step reads it so)
        stamps = [pd.NaT if v is None else v if isinstance(v, np.datetime64) else _naive_utc(v) for v in values]
        return pd.to_datetime(pd.Series(stamps, dtype=object))
    return pd.array([np.nan if v is None else str(v) for v in values], dtype="str")


def _converted(column: ColumnSchema, values: Sequence[Any], problems: _Problems, first_row: int) -> list[Any]:
    """Each value converted by the column's rule (None for a gap or a bad value, whose problem is added)."""
    rule = rule_for(column)
    converted: list[Any] = []
    for position, value in enumerate(values):
        if value is _MISSING:  # already reported as a missing field
            converted.append(None)
            continue
        if _is_blank(value):
            if not column.nullable:
                problems.add(column.name, "a value is required", row=first_row + position)
            converted.append(None)
            continue
        result, why = rule(value)
        if why is not None:
            problems.add(column.name, why, row=first_row + position, value=value)
        converted.append(result)
    return converted


def _convert_values(column: ColumnSchema, values: Sequence[Any], problems: _Problems, first_row: int) -> Any:
    return _typed(column, _converted(column, values, problems, first_row))


def _lean(column: ColumnSchema, values: list[Any]) -> tuple[np.ndarray, ColumnKind] | None:
    """A column's converted values as :class:`ColumnRows` holds them (numpy only); None when only pandas can."""
    if scored_as_number(column):
        return np.array([np.nan if v is None else v for v in values], dtype="float64"), "number"
    if column.kind == "boolean":
        return np.array([np.nan if v is None else float(v) for v in values], dtype="float64"), "boolean"
    if column.kind == "categorical":
        return np.array(values, dtype=object), "text"
    if column.kind == "datetime" and column.dtype.startswith("datetime"):
        stamps = [v if v is None or isinstance(v, np.datetime64) else _naive_utc(v) for v in values]
        return np.array([np.datetime64("NaT") if v is None else v for v in stamps], dtype="datetime64[ns]"), "datetime"
    return None


def _naive_utc(stamp: Any) -> np.datetime64:
    """A pandas Timestamp as datetime64[ns], converted to UTC when it has a zone (as training's coerce step does)."""
    return (stamp.tz_convert(None) if stamp.tzinfo is not None else stamp).to_datetime64().astype("datetime64[ns]")


def _convert_series(column: ColumnSchema, series: pd.Series, problems: _Problems, first_row: int) -> Any:
    """One column of a parsed frame; numbers pandas already parsed are checked without a Python loop."""
    import pandas as pd

    is_number_column = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    if column.kind == "numeric" and is_number_column:
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            out_of_range = np.abs(values) > MAX_MAGNITUDE
        for position in np.flatnonzero(out_of_range)[: MAX_PROBLEMS + 1]:
            _, why = _to_number(values[position])
            problems.add(column.name, why or "out of range", row=first_row + int(position), value=values[position])
        if not column.nullable:
            for position in np.flatnonzero(np.isnan(values))[: MAX_PROBLEMS + 1]:
                problems.add(column.name, "a value is required", row=first_row + int(position))
        return values
    return _convert_values(column, series.tolist(), problems, first_row)


def _check_columns(schema: InputSchema, present: Sequence[str], problems: _Problems) -> None:
    given = set(present)
    for name in schema.names:
        if name not in given:
            problems.add(name, "missing column")


def ignored_columns(schema: InputSchema, present: Iterable[Any]) -> list[str]:
    """The columns (or fields) given that the models do not use, once each, in the order first seen.

    Every channel accepts them (an id, the target itself, a note: what the
    training file had), as MLflow's scoring server does; answers list them so a
    misspelt column name is still visible.
    """
    known = set(schema.names)
    seen: dict[str, None] = {}
    for name in present:
        text = str(name)
        if text not in known:
            seen.setdefault(text, None)
    return list(seen)


@dataclass(frozen=True)
class ScoringInput:
    """A request's rows checked against a schema: the rows the models get, what was ignored, and what was sent.

    ``rows`` holds exactly the schema's columns, typed as in training: a frame,
    or :class:`~dropml.scoring.rows.NumberRows` for all-number JSON records
    (scoring takes either; :attr:`frame` is always a DataFrame).
    ``ignored`` names the columns the models do not use. :meth:`as_sent` gives
    the rows as the user sent them (every column, values untyped: an integer
    stays an integer), which CSV answers echo.
    """

    rows: CheckedRows
    ignored: list[str]
    sent: pd.DataFrame | Sequence[dict[str, Any]] | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The checked rows as a DataFrame (made from :class:`NumberRows` on first use)."""
        return as_frame(self.rows)

    def as_sent(self) -> pd.DataFrame:
        """The rows as sent: a parsed CSV or JSON frame as is, JSON records as a frame (fields in first-seen order)."""
        import pandas as pd

        if self.sent is None:
            return self.frame
        if isinstance(self.sent, pd.DataFrame):
            return self.sent
        names: dict[str, None] = {}
        for record in self.sent:
            names.update(dict.fromkeys(record))
        return pd.DataFrame.from_records(list(self.sent), columns=list(names))


def validate_frame(schema: InputSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Check a parsed frame against ``schema``; returns a new frame of exactly the schema's columns, typed.

    Other columns (an id, the target) may be present; they are not passed to
    the models (:func:`ignored_columns` names them).

    Raises:
        BadInput: (422) every missing column and every bad value, by row and column;
            (400) an empty frame.
    """

    if frame.shape[0] == 0:
        raise BadInput("body", None, "no rows to score", http_status=400)
    problems = _Problems()
    _check_columns(schema, [str(c) for c in frame.columns], problems)
    if not problems.items:
        block = _numeric_block(schema, frame)
        if block is not None:
            return NumberRows(block, schema.names).frame
    data = {}
    for column in schema.columns:
        if column.name in frame.columns:
            data[column.name] = _convert_series(column, frame[column.name], problems, first_row=1)
    problems.raise_if_any()
    return _frame_of(schema.names, data)


def _numeric_block(schema: InputSchema, frame: pd.DataFrame) -> np.ndarray | None:
    """All of a frame's schema columns as one float64 matrix, when all are numbers and all are fine; else None.

    The common case of a big batch (every column numeric, parsed as numbers by
    the CSV reader, none out of range or missing where required) is checked in
    a few whole-matrix operations. Anything else (or any problem, to be named
    row by row) returns None and goes column by column.
    """
    import pandas as pd

    names = schema.names
    if not names or any(column.kind != "numeric" for column in schema.columns):
        return None
    dtypes = frame.dtypes  # one Series, not a column Series per name
    for name in names:
        dtype = dtypes[name]
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return None
    if list(frame.columns) == names and all(dtype == np.float64 for dtype in dtypes):
        block = frame.to_numpy(dtype="float64")  # one float block already (a fast CSV read): a view, no copy
    else:
        block = np.empty((frame.shape[0], len(names)), dtype="float64", order="F")
        for position, name in enumerate(names):
            block[:, position] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    return block if _block_is_clean(schema, block) else None


def _block_is_clean(schema: InputSchema, block: np.ndarray) -> bool:
    """Whether every value of a numeric block is in range and no required column has a gap (else: name them)."""
    largest, smallest = np.fmax.reduce(block, axis=None), np.fmin.reduce(block, axis=None)  # NaN ignored
    if largest > MAX_MAGNITUDE or smallest < -MAX_MAGNITUDE:
        return False
    required = [position for position, column in enumerate(schema.columns) if not column.nullable]
    return not (required and bool(np.isnan(block[:, required]).any()))


def _numeric_records(schema: InputSchema, names: list[str], records: Sequence[Any]) -> np.ndarray | None:
    """JSON records as one float64 matrix, when every column is numeric and every value a JSON number; else None.

    The usual request (a record or a few, numbers as numbers) skips the
    per-value rules; anything else (a string, a bool, a missing field, a value
    out of range) returns None and goes value by value, which names the problem.
    """
    if not all(column.kind == "numeric" for column in schema.columns):
        return None
    rows = []
    for record in records:
        if type(record) is not dict:
            return None
        try:
            row = [record[name] for name in names]
        except KeyError:
            return None
        for value in row:
            kind = type(value)
            if kind is not float and kind is not int:  # not isinstance: bool is an int
                return None
        rows.append(row)
    try:
        block = np.array(rows, dtype="float64")
    except OverflowError:  # an int beyond float range: the rule names it
        return None
    return block if block.size and _block_is_clean(schema, block) else None


def _frame_of(names: list[str], data: dict[str, Any]) -> pd.DataFrame:
    """The checked columns as one frame; all-float64 columns become one 2-D block (no per-column consolidation)."""
    import pandas as pd

    arrays = [data[name] for name in names]
    if arrays and all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in arrays):
        return NumberRows(np.column_stack(arrays), names).frame
    return pd.DataFrame(data, columns=names)


def frame_from_records(schema: InputSchema, records: Sequence[Any]) -> pd.DataFrame:
    """Check JSON records (or a form) against ``schema`` and build the one frame the pipelines get.

    Raises:
        BadInput: as :func:`rows_from_records`.
    """
    return as_frame(rows_from_records(schema, records))


def rows_from_records(schema: InputSchema, records: Sequence[Any]) -> CheckedRows:
    """Check JSON records (or a form) against ``schema``: :class:`NumberRows` or :class:`ColumnRows` (numpy).

    A request never builds a DataFrame here (except for a datetime column of a
    registered schema that declares no datetime dtype);
    :func:`~dropml.scoring.rows.as_frame` makes one when something needs it.

    Raises:
        BadInput: (422) per record: not an object, missing fields, bad values (other fields are ignored);
            (400) no records.
    """
    if not records:
        raise BadInput("body", None, "no records to score", http_status=400)
    known = schema.names  # built once per request: the schema makes a new list on every access
    block = _numeric_records(schema, known, records)
    if block is not None:
        return NumberRows(block, known)
    problems = _Problems()
    columns: dict[str, list[Any]] = {name: [] for name in known}
    for position, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            problems.add("body", f"a record must be a JSON object, got {type(record).__name__}", row=position)
            continue
        for name in known:
            if name in record:
                columns[name].append(record[name])
            else:
                problems.add(name, "missing field", row=position)
                columns[name].append(_MISSING)
    converted = {column.name: _converted(column, columns[column.name], problems, 1) for column in schema.columns}
    problems.raise_if_any()
    lean = [found for column in schema.columns if (found := _lean(column, converted[column.name])) is not None]
    if len(lean) == len(known):  # no DataFrame until something asks for one
        return ColumnRows(
            {name: values for name, (values, _) in zip(known, lean, strict=True)},
            {name: kind for name, (_, kind) in zip(known, lean, strict=True)},
        )
    return _frame_of(known, {column.name: _typed(column, converted[column.name]) for column in schema.columns})


def records_from_split(document: Any) -> pd.DataFrame:
    """MLflow's ``dataframe_split`` ({"columns": [...], "data": [[...]]}) as a raw frame, unchecked.

    Raises:
        BadInput: (400) not that shape, or rows of the wrong length.
    """
    import pandas as pd

    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise BadInput("dataframe_split", None, "dataframe_split needs 'columns' and 'data' (a list of rows)")
    columns = document.get("columns")
    data = document["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadInput("dataframe_split.columns", columns, "dataframe_split.columns must be a list of column names")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise BadInput(
            "dataframe_split.columns", repeated, f"dataframe_split.columns names {', '.join(repeated)} more than once"
        )
    for position, row in enumerate(data, start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise BadInput(
                "dataframe_split.data",
                None,
                f"row {position} must be a list of {len(columns)} values (one per column)",
                problems=[{"field": "dataframe_split.data", "row": position, "message": "wrong number of values"}],
            )
    return pd.DataFrame(data, columns=columns, dtype=object)


def check_csv_width(body: bytes, schema: InputSchema, source: str) -> None:
    """Refuse, before parsing, a CSV whose header has far more columns than the models use.

    Raises:
        BadInput: (422) more than ``len(schema) + MAX_EXTRA_COLUMNS`` columns.
    """
    end = body.find(b"\n")
    header = body if end < 0 else body[:end]
    limit = len(schema.names) + MAX_EXTRA_COLUMNS
    widest = max(CSV_DELIMITERS, key=header.count)  # any delimiter a file may use (dropml.storage.csv_format)
    if header.count(widest) + 1 <= limit:
        return
    text = header.decode("utf-8", "replace").replace("\x00", "")  # UTF-16 text: drop the zero bytes
    count = len(next(csv.reader([text], delimiter=widest.decode()), []))
    if count > limit:
        message = f"{source} has {count:,} columns; the models use {len(schema.names)} (at most {limit} accepted)"
        raise BadInput("columns", count, message, http_status=422)


def check_csv_rows(
    body: bytes, frame: pd.DataFrame, source: str, header_lines: int = 1, csv_format: CsvFormat | None = None
) -> None:
    """Refuse rows with fewer (or more) values than the header, which pandas would pad with blanks (or shift).

    Only scans the text when the parsed frame shows a sign of it (a blank in the
    last column, or pandas using a column as the index), so clean CSVs cost nothing.
    ``csv_format`` is how the body is written (plain UTF-8 with commas when None).

    Raises:
        BadInput: (422) each ragged row, by 1-based row number (the header is not a row).
    """
    import pandas as pd

    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.equals(pd.RangeIndex(len(frame)))
    suspicious = not default_index
    if not suspicious and frame.shape[1]:
        suspicious = bool(frame.iloc[:, -1].isna().any())
    if not suspicious:
        return
    width = frame.shape[1] + (0 if default_index else frame.index.nlevels)
    encoding = "utf-8-sig" if csv_format is None or csv_format.encoding == "utf-8" else csv_format.encoding
    text = body.decode(encoding, "replace")
    reader = csv.reader(io.StringIO(text), delimiter=csv_format.delimiter if csv_format else ",")
    header_width = None
    problems = _Problems()
    row = 0
    for line_number, fields in enumerate(reader, start=1):
        if line_number <= header_lines:
            header_width = len(fields)
            continue
        if not fields:  # a blank line: pandas skips it
            continue
        row += 1
        expected = header_width if header_width is not None else width
        if len(fields) != expected:
            problems.add("row", f"row {row} has {len(fields)} values; the header has {expected}", row=row)
    if problems.items:
        first = problems.items[0]["message"]
        total = len(problems.items) + problems.dropped
        more = f" (and {total - 1} more)" if total > 1 else ""
        raise BadInput("row", None, f"{source}: {first}{more}", problems=problems.items, http_status=422)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where every text cell that a spreadsheet would run as a formula gets a leading ``'``.

    Cells starting with = + - @ (or a tab/CR) in text columns are prefixed; real
    numbers are left alone so a negative number stays a number.
    """
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        series = out[name]
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            continue
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            continue
        out[name] = series.map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v)
    renamed = {c: "'" + c for c in out.columns if isinstance(c, str) and c.startswith(FORMULA_PREFIXES)}
    return out.rename(columns=renamed) if renamed else out
