"""Step 2: clean a training frame, deciding every column's kind and recording each action taken.

Every decision (a dropped row or column, a coerced value, a derived target)
becomes one entry of the data-quality record that the manifest and the HTML
report carry, so a user can see exactly what happened to their file. Rows are
never dropped for being equal to another: repeats are counted and kept. A row
leaves only for a recorded reason (no target, a record replaced by its later
version under a declared key, ...), each action stating how many ``rows``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from dropml.errors import BadInput
from dropml.manifest import FALSE_WORDS, TRUE_WORDS
from dropml.training.dedup import latest_by_keys

if TYPE_CHECKING:
    from dropml.config import TrainingSettings
    from dropml.manifest import ColumnKind

logger = logging.getLogger(__name__)

Task = Literal["classification", "regression"]

MISSING_MARKERS = frozenset({"", "?", "-", "--", "na", "n/a", "nan", "null", "none", "missing", "#n/a"})
NUMERIC_SHARE = 0.5  # a text column whose cells are mostly numbers is a numeric field
JUNK_TOLERANCE = 0.05  # up to this share of junk cells in a numeric field becomes missing
DATETIME_SHARE = 0.95  # a text column is a date column when this share of cells parse
MAX_MISSING_SHARE = 0.95  # columns emptier than this carry no signal
HIGH_CARDINALITY_SHARE = 0.5  # more distinct values than this share of rows: free text, dropped
MAX_CLASSIFICATION_LEVELS = 20  # a whole-number target with at most this many values is a class label
MIN_ROWS_PER_CLASS = 5  # ... when it has on average this many rows per value
MIN_ID_ROWS = 10
# A text column too varied to encode (a name per row) may still start with a word that repeats: the maker of
# "chevrolet chevelle malibu", a product's brand. It is kept and encoded by that first word when most values
# have more than one word and the first words are few (at most max_categories, at least this many rows each).
MIN_ROWS_PER_WORD = 5
ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|index|row|record)([_\W]|$)|^id|id$", re.IGNORECASE)
EXAMPLES_SHOWN = 5
THOUSANDS = r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?"


@dataclass
class CleanResult:
    """A cleaned frame: input columns with their kinds, the label column, and what was done."""

    frame: pd.DataFrame
    target: str  # column of ``frame`` holding the label (derived for time-ordered data)
    task: Task
    kinds: dict[str, ColumnKind]  # input column -> kind, in file order
    quality: dict[str, Any] = field(default_factory=dict)
    word_columns: list[str] = field(default_factory=list)  # categorical columns encoded by their first word
    groups: pd.Series | None = None  # with a row_key: one code per row, equal for rows of one key (split together)

    @property
    def features(self) -> pd.DataFrame:
        """The input columns only, as a pipeline receives them."""
        return self.frame[list(self.kinds)]

    @property
    def labels(self) -> pd.Series:
        """The label column."""
        return self.frame[self.target]


class _Quality:
    """Collects cleaning actions as readable entries."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.record: dict[str, Any] = {
            "rows_in": len(frame),
            "columns_in": len(frame.columns),
            "actions": [],
            "warnings": [],
        }

    def act(self, action: str, message: str, **details: Any) -> None:
        self.record["actions"].append({"action": action, **details, "message": message})

    def warn(self, message: str) -> None:
        self.record["warnings"].append(message)


def _examples(values: pd.Series) -> list[str]:
    return [str(v) for v in pd.unique(values.astype(str))[:EXAMPLES_SHOWN]]


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def normalise_missing(series: pd.Series) -> pd.Series:
    """Strip text cells and turn common missing markers ('', '?', 'n/a', 'null'...) into NaN."""
    if not _is_text(series):
        return series
    stripped = series.astype(object).str.strip()  # cells that are not text become NaN: CSV text is all str
    missing = stripped.str.lower().isin(MISSING_MARKERS)
    return stripped.mask(missing | stripped.isna(), np.nan).astype(object)


def coerce_numeric(series: pd.Series, name: str) -> tuple[pd.Series | None, list[str]]:
    """Parse a text column as numbers when most cells are numbers.

    Returns (numbers, junk examples), or (None, []) when the column is text.
    A small share of junk cells (at most ``JUNK_TOLERANCE``) becomes NaN.

    Raises:
        BadInput: a numeric field with too much junk (names column, share and examples).
    """
    present = series.dropna()
    if present.empty:
        return None, []
    text = present.astype(str)
    grouped = text.str.fullmatch(THOUSANDS)  # 1,234,567.5 -> 1234567.5; a decimal comma (1,5) stays junk
    numbers = pd.to_numeric(text.where(~grouped, text.str.replace(",", "", regex=False)), errors="coerce")
    parsed = numbers.notna()
    share = float(parsed.mean())
    if share < NUMERIC_SHARE:
        return None, []
    junk = present[~parsed]
    if len(junk) / len(present) > JUNK_TOLERANCE:
        raise BadInput(
            name,
            _examples(junk),
            f"column {name!r} looks numeric but {len(junk)} of {len(present)} values "
            f"({len(junk) / len(present):.0%}) are not numbers, e.g. {', '.join(map(repr, _examples(junk)))}; "
            f"fix the values or remove the column (up to {JUNK_TOLERANCE:.0%} would be treated as missing)",
        )
    full = pd.Series(np.nan, index=series.index, dtype=float)
    full.loc[numbers.index] = numbers.astype(float)
    return full, _examples(junk)


def coerce_boolean(series: pd.Series) -> pd.Series | None:
    """true/false, yes/no words as 1.0/0.0 (NaN stays missing); None when the column is not boolean."""
    if series.dtype == bool:
        return series.astype(float)
    if not _is_text(series):
        return None
    present = series.dropna().astype(str).str.lower()
    words = set(present.unique())
    if present.empty or not words <= (TRUE_WORDS | FALSE_WORDS) or len(words) > 2:
        return None
    if len(words & TRUE_WORDS) > 1 or len(words & FALSE_WORDS) > 1:
        return None  # e.g. 'f'/'n': two spellings of false is a category, not a flag
    return series.map(lambda v: np.nan if pd.isna(v) else float(str(v).lower() in TRUE_WORDS)).astype(float)


def parse_datetimes(series: pd.Series) -> pd.Series | None:
    """Parse a text column of dates (ISO 8601 or one consistent format) as naive UTC datetimes, else None."""
    present = series.dropna().astype(str)
    if present.empty:
        return None
    sample = present.iloc[:: max(1, len(present) // 500)]
    if pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt in ("ISO8601", _guess_format(sample.iloc[0])):
            if fmt is None:
                continue
            parsed = pd.to_datetime(sample, errors="coerce", format=fmt, utc=True)
            if parsed.notna().mean() >= DATETIME_SHARE:
                full = pd.to_datetime(series.astype(object), errors="coerce", format=fmt, utc=True)
                return full.dt.tz_localize(None)
    return None


def _guess_format(value: str) -> str | None:
    from pandas.tseries.api import guess_datetime_format

    try:
        return guess_datetime_format(value)
    except (TypeError, ValueError):
        return None


def infer_kind(series: pd.Series, name: str, quality: _Quality) -> tuple[pd.Series, ColumnKind]:
    """Decide one input column's kind and return it converted to that kind.

    Raises:
        BadInput: a numeric field polluted by too much junk.
    """
    as_bool = coerce_boolean(series)
    if as_bool is not None:
        return as_bool, "boolean"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype(float) if series.dtype.kind == "f" else series, "numeric"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series, "datetime"
    numbers, junk = coerce_numeric(series, name)
    if numbers is not None:
        if junk:
            count = int(series.notna().sum() - numbers.notna().sum())
            quality.act(
                "coerced_junk_to_missing",
                f"column {name!r}: {count} non-numeric value(s) treated as missing, e.g. {', '.join(junk)}",
                column=name,
                count=count,
                examples=junk,
            )
        return numbers, "numeric"
    dates = parse_datetimes(series)
    if dates is not None:
        quality.act("parsed_dates", f"column {name!r}: text parsed as dates", column=name)
        return dates, "datetime"
    return series.astype(object).where(series.notna(), np.nan), "categorical"


def _looks_like_id(series: pd.Series, name: str, kind: ColumnKind, distinct: int) -> bool:
    rows = len(series)
    if rows < MIN_ID_ROWS or distinct != rows or series.isna().any():
        return False
    if kind == "categorical":
        return True
    if kind == "numeric" and np.all(np.mod(series.to_numpy(dtype=float), 1) == 0):
        span = float(series.max() - series.min())
        return bool(ID_NAME.search(name)) or span < 3 * rows
    return False


COLUMNS_SHOWN = 30


def _column_list(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    shown = ", ".join(names[:COLUMNS_SHOWN])
    return shown + (f", … and {len(names) - COLUMNS_SHOWN} more" if len(names) > COLUMNS_SHOWN else "")


def check_columns(frame: pd.DataFrame, conf: TrainingSettings) -> None:
    """Make sure the configured target (and time/group columns) are in the file.

    Raises:
        BadInput: a configured column is missing (the message lists the columns found and, for the
            target, how to name another one).
    """
    found = _column_list(frame)
    for setting, column in (
        ("target", conf.target),
        ("time_column", conf.time_column),
        ("group_column", conf.group_column),
    ):
        if not column or column in frame.columns:
            continue
        if setting != "target":
            raise BadInput(
                setting, column, f"{setting.replace('_', ' ')} {column!r} is not a column of the file; found: {found}"
            )
        near = [str(c) for c in frame.columns if str(c).strip().casefold() == column.casefold()]
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise BadInput(
            "target",
            column,
            f"target {column!r} is not a column of the file; found: {found}. {hint}"
            "Name the column to predict in the project's training settings (target: projects.<project>.target "
            "in config.json, or the project's stored settings), or retrain on this file with "
            "`dropml train <project> --set target=<column>`",
        )
    absent = [column for column in conf.row_key if column not in frame.columns]
    if absent:
        raise BadInput(
            "row_key", absent, f"row_key column(s) {', '.join(map(repr, absent))} not in the file; found: {found}"
        )


def _all_boolean(values: pd.Series) -> bool:
    return values.dtype == bool or pd.api.types.infer_dtype(values, skipna=True) == "boolean"


def _per_distinct(values: pd.Series, convert: Any) -> pd.Series:
    """``convert`` (a function of a list of values) applied once per distinct value: labels repeat, often a lot."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return pd.Series(np.asarray(convert(list(distinct)), dtype=object)[codes], index=values.index)


def _numbers_of(present: pd.Series) -> pd.Series | None:
    """Present label values as floats when every one is a number (a numeric column or numeric text), else None."""
    if _all_boolean(present):
        return None
    if pd.api.types.is_numeric_dtype(present.dtype):
        return present.astype(float)
    codes, distinct = pd.factorize(present)
    numbers = pd.to_numeric(pd.Series(distinct.astype(str)).str.strip(), errors="coerce").to_numpy(dtype=float)
    if np.isnan(numbers).any():
        return None
    return pd.Series(numbers[codes], index=present.index)


def _auto_task(labels: pd.Series) -> tuple[Task, str]:
    present = labels.dropna()
    numbers = _numbers_of(present)
    if numbers is None:
        kind = "true/false" if _all_boolean(present) else "text"
        return "classification", f"{present.nunique()} distinct {kind} values"
    levels = int(numbers.nunique())
    whole = bool(np.all(np.mod(numbers.to_numpy(), 1) == 0))
    if not whole:
        return "regression", f"numbers with fractions ({levels} distinct values)"
    if levels > MAX_CLASSIFICATION_LEVELS:
        return "regression", f"{levels} distinct whole numbers, more than {MAX_CLASSIFICATION_LEVELS}"
    if levels > max(2, len(present) // MIN_ROWS_PER_CLASS):
        return "regression", (
            f"{levels} distinct whole numbers in {len(present)} rows, fewer than {MIN_ROWS_PER_CLASS} rows per value"
        )
    return "classification", f"{levels} distinct whole numbers"


def decide_task(labels: pd.Series, conf_task: str) -> Task:
    """The task: as configured, else inferred from the label values (``task: auto``).

    The rule for ``auto``, on the present values of the target:

    - true/false values, and text that is not all numbers: classification, a
      class per distinct value (yes/no, species names, "A"/"B");
    - numbers (a numeric column, or text in which every value is a number):
      classification when every value is a whole number (``0/1``, ``1..k``,
      ``1.0/2.0``), there are at most ``MAX_CLASSIFICATION_LEVELS`` (20) distinct
      values and on average at least ``MIN_ROWS_PER_CLASS`` (5) rows per value
      (two values always qualify): such a column codes classes. Otherwise
      regression: fractions (prices, 2.5 stars), or many whole numbers (ages,
      counts, a 0..100 score), which are quantities, not categories.

    The data-quality report records the choice and why; set ``task`` to overrule it.
    """
    if conf_task in ("classification", "regression"):
        return conf_task  # type: ignore[return-value]
    return _auto_task(labels)[0]


def _class_text(value: Any) -> str:
    return " ".join(str(value).split())  # surrounding and repeated inner whitespace is not part of a class name


def _merge_spellings(labels: pd.Series, name: str, quality: _Quality) -> pd.Series:
    """Text classes that differ only in case or spaces ("yes", "Yes ", "YES") become one: the most frequent spelling."""
    text = _per_distinct(labels, lambda values: [_class_text(v) for v in values])
    counts = text.value_counts()
    folded = counts.groupby(counts.index.str.casefold(), sort=False)
    merged: dict[str, str] = {}
    for _, group in folded:
        if len(group) > 1:
            keep = str(group.idxmax())
            merged.update({str(spelling): keep for spelling in group.index if spelling != keep})
    if merged:
        shown = ", ".join(f"{k!r} → {v!r}" for k, v in list(merged.items())[:EXAMPLES_SHOWN])
        quality.act(
            "merged_label_spellings",
            f"target {name!r}: classes that differ only in upper/lower case or spaces merged ({shown}); "
            "each keeps its most frequent spelling",
            column=name,
            merged=merged,
        )
        text = text.replace(merged)
    return text.astype(object)


def prepare_labels(
    labels: pd.Series, task: Task, name: str, quality: _Quality | None = None, had_blanks: bool = False
) -> pd.Series:
    """Labels (no missing values) typed so scikit-learn reads them right and predicts the user's own values back.

    Regression: floats. Classification: whole numbers as int64 (``0/1``, ``0..k``;
    also float columns of whole numbers that pandas read as floats only because
    of blank target cells), a file's ``1.0/2.0`` as float64, true/false as bool,
    other numbers with fractions and text as str (text merged across case and
    spacing variants). Never an object array of numbers: scikit-learn types
    that as 'unknown' and refuses it.

    Raises:
        BadInput: a regression target that is not numeric.
    """
    if task == "regression":
        return _quantities(labels, name)
    return _classes(labels, name, quality or _Quality(labels.to_frame()), had_blanks)


def _quantities(labels: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(labels.dtype):  # booleans too: 0.0/1.0
        return labels.astype(float)
    numbers, _ = coerce_numeric(labels, name)
    if numbers is None:
        raise BadInput(
            "target",
            name,
            f"target {name!r} must be numeric for regression, e.g. {', '.join(_examples(labels.dropna()))}",
        )
    return numbers


def _classes(labels: pd.Series, name: str, quality: _Quality, had_blanks: bool) -> pd.Series:
    if _all_boolean(labels):
        return labels.astype(bool)
    numbers = _numbers_of(labels)
    if numbers is None:
        return _merge_spellings(labels, name, quality)
    if np.all(np.mod(numbers.to_numpy(), 1) == 0):
        written_as_decimals = labels.dtype.kind == "f" and not had_blanks  # else floats only to hold the blanks
        return numbers if written_as_decimals else numbers.astype("int64")
    quality.act(
        "labels_as_text",
        f"target {name!r}: classes with fractions ({', '.join(_examples(labels))}) are predicted as text",
        column=name,
    )
    return numbers.map(lambda v: format(v, "g")).astype(object)


def _count_repeats(frame: pd.DataFrame, quality: _Quality) -> None:
    """Count the rows equal to an earlier row in every column, and say they are all kept.

    Equal rows are observations (a survey's common answers, a shop's best
    seller), not errors: dropping them would train on the distinct rows only
    and weigh a once-seen answer like one given a thousand times.
    """
    # one 64-bit hash per row, then repeats among the hashes: 0.4 s for 1M x 31 where frame.duplicated() takes 2.4 s
    # (two different rows share a hash with odds of about 1 in 10^7 at 1M rows, and would only miscount a repeat)
    repeated = int(pd.util.hash_pandas_object(frame, index=False).duplicated().sum())
    quality.record["repeated_rows"] = repeated
    if not repeated:
        return
    distinct = len(frame) - repeated
    quality.act(
        "kept_repeated_rows",
        f"{repeated:,} row(s) ({repeated / len(frame):.0%}) repeat an earlier row exactly ({distinct:,} distinct "
        "rows); all are kept: equal rows are observations. If some are copies of one record, set row_key to the "
        "columns that identify a record (repeated_row_keys: keep_latest keeps its last version)",
        count=repeated,
        distinct=distinct,
    )


def _has_key(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    return frame[keys].notna().all(axis=1)


def _keep_latest(frame: pd.DataFrame, keys: list[str], quality: _Quality, action: str) -> pd.DataFrame:
    """One row per value of ``keys``: the last in the file (rows with a missing key value are all kept)."""
    frame, count = latest_by_keys(frame, keys)
    if count:
        quality.act(
            action,
            f"{count:,} earlier version(s) of a record replaced by a later row with the same {'/'.join(keys)}",
            count=count,
            rows=count,
            keys=list(keys),
        )
    return frame


def _without_time(frame: pd.DataFrame, conf: TrainingSettings, quality: _Quality) -> pd.DataFrame:
    """Drop (and count) the rows a time-ordered project cannot place: no time, or no group."""
    for column, what in ((conf.time_column, "time"), (conf.group_column, "group")):
        if not column:
            continue
        missing = frame[column].isna()
        count = int(missing.sum())
        if count:
            quality.act(
                f"dropped_missing_{what}",
                f"{count:,} row(s) without a {what} value in {column!r} dropped: a time-ordered row needs one",
                column=column,
                count=count,
                rows=count,
            )
            frame = frame[~missing]
    return frame


def _derive_time_target(
    frame: pd.DataFrame, conf: TrainingSettings, label_name: str, quality: _Quality
) -> pd.DataFrame:
    time_col, group_col, horizon = conf.time_column, conf.group_column, conf.horizon
    keys = conf.record_key()
    frame = _keep_latest(_without_time(frame, conf, quality), keys, quality, "dropped_duplicate_time_keys")
    frame = frame.sort_values(keys, kind="mergesort")
    source = frame[conf.target]
    future = source.groupby(frame[group_col], sort=False).shift(-horizon) if group_col else source.shift(-horizon)
    frame = frame.assign(**{label_name: future})
    without = int(future.isna().sum())
    per = f" per {group_col}" if group_col else ""
    quality.act(
        "derived_time_target",
        f"target = {conf.target!r} {horizon} step(s) ahead{per}; {without} row(s) without a future value dropped",
        column=label_name,
        source=conf.target,
        horizon=horizon,
        count=without,
        rows=without,
    )
    frame = frame[future.notna()]
    return frame.sort_values([time_col, group_col] if group_col else [time_col], kind="mergesort")


def first_words(values: pd.Series) -> pd.Series:
    """Each text value's first word, lower case (missing stays missing)."""
    present = values.notna()
    words = values.astype(object).where(present, "").astype(str).str.strip().str.split(n=1).str[0].str.casefold()
    return words.where(present & words.notna() & (words != ""), np.nan)


def _first_word_count(column: pd.Series, max_categories: int) -> int:
    """How many distinct first words ``column`` has when they make a category worth encoding, else 0."""
    present = column.dropna().astype(str).str.strip()
    if present.empty or (present.str.split(n=1).str.len() > 1).mean() < 0.5:
        return 0  # mostly single words: the first word is the value itself
    distinct = int(first_words(present).nunique())
    return distinct if 2 <= distinct <= min(max_categories, len(present) // MIN_ROWS_PER_WORD) else 0


def _drop_useless_columns(
    frame: pd.DataFrame, kinds: dict[str, ColumnKind], protected: set[str], conf: TrainingSettings, quality: _Quality
) -> list[str]:
    """Drop the columns that cannot help a model; returns the text columns kept for their first word."""
    rows = len(frame)
    word_columns: list[str] = []
    for name in list(kinds):
        if name in protected:
            continue
        column = frame[name]
        distinct = column.nunique(dropna=True)
        reason = None
        if distinct <= 1:
            reason = ("constant", f"column {name!r} dropped: it has a single value ({_examples(column.dropna())})")
            if distinct == 0:
                reason = ("empty", f"column {name!r} dropped: it has no values")
        elif column.isna().mean() > MAX_MISSING_SHARE:
            reason = ("mostly_missing", f"column {name!r} dropped: {column.isna().mean():.0%} of values are missing")
        elif _looks_like_id(column, name, kinds[name], distinct):
            reason = ("id_like", f"column {name!r} dropped: a unique value per row, like an identifier")
        elif kinds[name] == "categorical" and distinct > conf.max_categories:
            if distinct > HIGH_CARDINALITY_SHARE * rows:
                reason = (
                    "high_cardinality",
                    f"column {name!r} dropped: {distinct} distinct values in {rows} rows, free text",
                )
            else:
                quality.act(
                    "capped_categories",
                    f"column {name!r}: {distinct} distinct values; the {conf.max_categories - 1} most frequent are "
                    "encoded, the rest grouped as 'infrequent'",
                    column=name,
                    count=int(distinct),
                )
        if reason and kinds[name] == "categorical" and reason[0] in ("id_like", "high_cardinality"):
            words = _first_word_count(column, conf.max_categories)
            if words:
                quality.act(
                    "encoded_first_word",
                    f"column {name!r}: {distinct} distinct values in {rows} rows, encoded by their first word "
                    f"({words} distinct, e.g. {', '.join(_examples(first_words(column).dropna()))})",
                    column=name,
                    count=words,
                )
                word_columns.append(name)
                reason = None
        if reason:
            quality.act("dropped_column", reason[1], column=name, reason=reason[0])
            del kinds[name]
    return word_columns


def clean_frame(frame: pd.DataFrame, conf: TrainingSettings) -> CleanResult:
    """Clean a raw training frame: count repeats, type every column, prepare the label, drop useless columns.

    Raises:
        BadInput: a configured column is missing, a numeric field is full of junk,
            the target is unusable (not numeric for regression, a single class),
            or the time column does not parse as dates.
    """
    frame = frame.rename(columns=lambda c: str(c).strip())
    check_columns(frame, conf)
    quality = _Quality(frame)
    frame = frame.apply(normalise_missing)
    _count_repeats(frame, quality)
    if conf.record_key() and not conf.time_column:
        frame = _keep_latest(frame, conf.record_key(), quality, "kept_latest_per_row_key")
    label_name = f"{conf.target}_ahead_{conf.horizon}" if conf.time_column else conf.target
    frame, kinds = _typed_columns(frame, conf, label_name, quality)
    frame, task = _labelled_rows(frame, conf, label_name, quality)
    protected = {c for c in (conf.time_column, conf.group_column, conf.target if conf.time_column else None) if c}
    word_columns = _drop_useless_columns(frame, kinds, protected, conf, quality)
    if not kinds:
        dropped = [
            a["message"].removeprefix("column ") for a in quality.record["actions"] if a["action"] == "dropped_column"
        ]
        why = f": {'; '.join(dropped[:EXAMPLES_SHOWN])}" if dropped else ""
        raise BadInput(
            "file",
            conf.target,
            f"no usable feature columns remain after cleaning{why}; add columns that describe each row",
        )
    frame = frame.reset_index(drop=True)
    groups = _row_key_groups(frame, conf.row_key, quality) if conf.row_key else None
    frame = frame[[*kinds, label_name]]
    _account_for_rows(quality, len(frame))
    missing = {name: int(count) for name, count in frame[list(kinds)].isna().sum().items() if count}
    quality.record.update(
        rows_out=len(frame),
        columns_out=len(kinds),
        missing_values=missing,
        kinds=dict(kinds),
        task=task,
        target=label_name,
    )
    return CleanResult(
        frame=frame,
        target=label_name,
        task=task,
        kinds=kinds,
        quality=quality.record,
        word_columns=word_columns,
        groups=groups,
    )


def _account_for_rows(quality: _Quality, rows_out: int) -> None:
    """Every row removed must have a recorded reason; a gap between rows in and out becomes a warning, never silence."""
    counted = sum(int(action.get("rows", 0)) for action in quality.record["actions"])
    unexplained = quality.record["rows_in"] - rows_out - counted
    quality.record["rows_removed"] = counted
    if unexplained:
        logger.error("rows removed without a recorded reason", extra={"rows": unexplained})
        quality.warn(f"{unexplained:,} row(s) were removed without a recorded reason; please report this")


def _row_key_groups(frame: pd.DataFrame, row_key: list[str], quality: _Quality) -> pd.Series:
    """One code per row, equal for the rows of one row key; a row missing a key value is a group of its own."""
    codes = frame.groupby(row_key, sort=False, dropna=False).ngroup().to_numpy(copy=True)
    keyless = ~_has_key(frame, row_key).to_numpy()
    if keyless.any():
        codes[keyless] = codes.max() + 1 + np.arange(int(keyless.sum()))
        quality.warn(
            f"{int(keyless.sum()):,} row(s) have no value in row_key {', '.join(row_key)}: each is split as a key "
            "of its own"
        )
    quality.record["row_keys"] = len(np.unique(codes))
    quality.act(
        "grouped_by_row_key",
        f"rows grouped by row_key {', '.join(row_key)} ({quality.record['row_keys']:,} keys): the holdout and "
        "every CV fold hold whole keys, and the key is not a feature",
        keys=list(row_key),
        count=quality.record["row_keys"],
    )
    return pd.Series(codes, index=frame.index, name="row_key")


def _typed_columns(
    frame: pd.DataFrame, conf: TrainingSettings, label_name: str, quality: _Quality
) -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    """Every feature column converted to its kind, plus the label column (derived ahead for time-ordered data).

    Raises:
        BadInput: the time column does not parse as dates, or a time-ordered target is not numeric.
    """
    time_col, group_col = conf.time_column, conf.group_column
    kinds: dict[str, ColumnKind] = {}
    converted: dict[str, pd.Series] = {}
    for name in frame.columns:
        if name in conf.row_key:
            converted[name] = frame[name]  # grouping the splits, not a feature
            continue
        if name == conf.target and not time_col:
            continue
        series, kind = infer_kind(frame[name], name, quality)
        if name == time_col and kind != "datetime":
            raise BadInput(
                "time_column",
                name,
                f"time column {name!r} does not parse as dates, e.g. {', '.join(_examples(frame[name].dropna()))}",
            )
        if name == group_col:
            series, kind = frame[name].astype(object).where(frame[name].notna(), np.nan), "categorical"
        converted[name], kinds[name] = series, kind
    if not time_col:
        return pd.DataFrame({**converted, label_name: frame[label_name]}, index=frame.index), kinds
    if kinds.get(conf.target) != "numeric":
        raise BadInput("target", conf.target, f"target {conf.target!r} must be numeric for time-ordered data")
    return _derive_time_target(pd.DataFrame(converted, index=frame.index), conf, label_name, quality), kinds


def _labelled_rows(
    frame: pd.DataFrame, conf: TrainingSettings, label_name: str, quality: _Quality
) -> tuple[pd.DataFrame, Task]:
    """The rows with a usable label, the task chosen, and the labels typed for scikit-learn.

    Raises:
        BadInput: the target has no values, or (classification) its classes cannot train a model.
    """
    missing_target = int(frame[label_name].isna().sum())
    if missing_target and not conf.time_column:
        frame = frame[frame[label_name].notna()]
        quality.act(
            "dropped_missing_target",
            f"{missing_target} row(s) without a target value dropped",
            count=missing_target,
            rows=missing_target,
        )
    if frame.empty:
        raise BadInput("target", conf.target, f"target {conf.target!r} has no values")
    task = _choose_task(frame[label_name], conf, quality)
    raw = frame[label_name]
    labels = prepare_labels(frame[label_name], task, conf.target, quality, had_blanks=missing_target > 0)
    frame = frame.assign(**{label_name: labels})
    unreadable = frame[label_name].isna()
    if unreadable.any():  # a few junk cells in a numeric target (more is refused by prepare_labels)
        count = int(unreadable.sum())
        quality.act(
            "dropped_unreadable_target",
            f"{count} row(s) whose target is not a number dropped, e.g. {', '.join(_examples(raw[unreadable]))}",
            count=count,
            rows=count,
        )
        frame = frame[~unreadable]
    if task == "classification":
        frame = _check_classes(frame, label_name, conf.target, quality)
    return frame, task


def _choose_task(labels: pd.Series, conf: TrainingSettings, quality: _Quality) -> Task:
    if conf.task in ("classification", "regression"):
        quality.record["task_reason"] = "set in the training settings"
        return conf.task  # type: ignore[return-value]
    task, why = _auto_task(labels)
    quality.record["task_reason"] = why
    quality.act(
        "chose_task",
        f"task: {task} (target {conf.target!r} has {why}); set task to classification or regression to overrule",
        task=task,
    )
    return task


def _check_classes(frame: pd.DataFrame, label_name: str, target: str, quality: _Quality) -> pd.DataFrame:
    counts = frame[label_name].value_counts()
    rare = counts[counts < 2]
    if rare.sum() > len(frame) / 2:
        raise BadInput(
            "target",
            target,
            f"target {target!r} has {len(counts)} distinct values in {len(frame)} rows, most of them seen once: "
            "it looks like an identifier or free text, not classes to predict; choose another target column "
            "(or set task to regression if it is a quantity)",
        )
    if len(rare) and len(counts) - len(rare) >= 2:
        frame = frame[~frame[label_name].isin(rare.index)]
        quality.act(
            "dropped_rare_classes",
            f"{len(rare)} class(es) with a single row dropped (a class needs a row to train on and one to test): "
            f"{', '.join(map(str, rare.index[:EXAMPLES_SHOWN]))}",
            count=len(rare),
            rows=int(rare.sum()),
        )
        counts = counts[counts >= 2]
    if len(counts) < 2:
        shown = ", ".join(f"{k!r} ({v} rows)" for k, v in counts.items())
        raise BadInput(
            "target",
            target,
            f"target {target!r} has a single class ({shown}); classification needs at least 2 classes",
        )
    if counts.min() / counts.sum() < 0.05:
        quality.warn(f"target {target!r} is imbalanced: the smallest class has {math.floor(counts.min())} rows")
    return frame
