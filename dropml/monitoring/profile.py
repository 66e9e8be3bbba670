"""A version's training profile: per input column, what the data it was trained on looked like.

Written with the manifest (artifact ``profile``, ``models/<p>/v<N>/profile.json``,
covered by its sha256), it is the reference every drift report compares a batch
against. Per column: how many values and how many missing; for a numeric column
its range, mean, standard deviation and its values at ``points`` evenly spaced
quantiles (the reference sample the tests and distances use: an empirical
distribution as exact as a random sample of that size, and smaller); for a
categorical or boolean column the count of each value. A datetime column is
counted, not compared: its values move on by nature.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropml.errors import BadInput
from dropml.monitoring.columns import category_counts, is_numeric, missing_mask, numbers

if TYPE_CHECKING:
    from dropml.manifest import InputSchema
    from dropml.scoring.rows import CheckedRows

PROFILE_FORMAT = 1
MAX_CATEGORIES = 1000  # a free-text column keeps its most frequent values; the rest count as ``other``


class ColumnProfile(BaseModel):
    """One input column of the training data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["numeric", "categorical", "boolean", "datetime"]
    rows: int = Field(ge=0)  # values present
    missing: int = Field(ge=0)
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    points: list[float] = Field(default_factory=list)  # numeric: the values at evenly spaced quantiles, ascending
    counts: dict[str, int] = Field(default_factory=dict)  # categorical, boolean: rows per value
    other: int = Field(0, ge=0)  # values beyond the MAX_CATEGORIES most frequent

    @property
    def missing_share(self) -> float:
        """The share of rows without a value."""
        total = self.rows + self.missing
        return self.missing / total if total else 0.0


class Profile(BaseModel):
    """Every input column of a version's training data, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = PROFILE_FORMAT
    rows: int = Field(ge=0)
    columns: dict[str, ColumnProfile]
    time_column: str | None = None
    group_column: str | None = None

    def to_bytes(self) -> bytes:
        """The profile as the JSON the version stores."""
        return self.model_dump_json().encode()


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _numeric_profile(values: np.ndarray, points: int) -> ColumnProfile:
    present = values[~np.isnan(values)]
    missing = len(values) - len(present)
    if not len(present):
        return ColumnProfile(kind="numeric", rows=0, missing=missing)
    count = min(points, len(present))
    # the values themselves (inverted CDF), not interpolations: an integer column keeps its ties
    quantiles = np.quantile(present, (np.arange(count) + 0.5) / count, method="inverted_cdf")
    return ColumnProfile(
        kind="numeric",
        rows=len(present),
        missing=missing,
        minimum=_finite(present.min()),
        maximum=_finite(present.max()),
        mean=_finite(present.mean()),
        std=_finite(present.std()),
        points=[float(v) for v in quantiles],
    )


def _category_profile(kind: Literal["categorical", "boolean"], counts: dict[str, float], missing: int) -> ColumnProfile:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    other = int(sum(n for _, n in ranked[MAX_CATEGORIES:]))
    return ColumnProfile(
        kind=kind,
        rows=int(sum(counts.values())),
        missing=missing,
        counts={k: int(n) for k, n in kept.items()},
        other=other,
    )


def build_profile(schema: InputSchema, rows: CheckedRows, points: int = 500) -> Profile:
    """The profile of checked rows (validated against ``schema``): what a version was trained on."""
    columns: dict[str, ColumnProfile] = {}
    for column in schema.columns:
        if is_numeric(column):
            columns[column.name] = _numeric_profile(numbers(rows, column), points)
        elif column.kind in ("categorical", "boolean"):
            counts, missing = category_counts(rows, column)
            columns[column.name] = _category_profile(column.kind, counts, int(missing.sum()))
        else:
            missing = int(missing_mask(rows, column).sum())
            columns[column.name] = ColumnProfile(kind=column.kind, rows=len(rows) - missing, missing=missing)
    return Profile(rows=len(rows), columns=columns, time_column=schema.time_column, group_column=schema.group_column)


def parse_profile(body: bytes, source: str) -> Profile:
    """A stored profile, validated.

    Raises:
        BadInput: not a profile document (names the field).
    """
    try:
        return Profile.model_validate(json.loads(body))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadInput("profile", source, f"{source} is not valid JSON: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput("profile", source, f"{source}: {field}: {first['msg']}") from None
