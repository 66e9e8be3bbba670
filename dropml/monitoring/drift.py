"""A batch compared with its version's training profile: per column a test and a distance, then the whole batch.

Per tested column (numbers, categories, booleans):

- numbers: the two-sample Kolmogorov-Smirnov test against the profile's
  quantile points, the Wasserstein distance divided by the training standard
  deviation, and PSI over the training deciles;
- categories and booleans: the chi-square test of the two count vectors, the
  Jensen-Shannon distance, and PSI over the categories.

A column has drifted when its test rejects (p below ``drift.p_value``) while it
has at most ``drift.test_max_rows`` values in the batch, and when its distance
is over the limit (``drift.wasserstein``, ``drift.jensen_shannon``) above that:
with thousands of rows a test finds any difference, however small (the rule
Evidently uses). Then the batch: the share of drifted columns, of missing
values (and each column's rise over training), of categorical values training
never saw, and of rows with a number past the training range. Each share over
its ``monitoring.thresholds`` entry is an alert, which the use case announces.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.monitoring import statistics
from dropml.monitoring.columns import TESTED_KINDS

if TYPE_CHECKING:
    from dropml.config import DriftSettings, MonitoringThresholds
    from dropml.monitoring.batch import BatchObservation, ColumnObservation
    from dropml.monitoring.profile import ColumnProfile, Profile

MIN_VALUES = 5  # fewer values in the batch than this: the column is counted, not tested
OTHER = "(other)"  # the values of a free-text column beyond the profile's most frequent ones


@dataclass(frozen=True)
class ColumnDrift:
    """One column of a drift report."""

    column: str
    kind: str
    values: float  # present in the batch (weighted)
    missing_share: float
    reference_missing_share: float
    tested: bool = False
    test: str | None = None  # "ks" or "chi_square"
    statistic: float | None = None
    p_value: float | None = None
    distance_name: str | None = None  # "wasserstein_normed" or "jensen_shannon"
    distance: float | None = None
    psi: float | None = None
    drifted: bool = False
    decided_by: str | None = None  # "p_value" or "distance"
    unknown_share: float | None = None  # categories: share of values training never saw
    outside_share: float | None = None  # numbers: share past the training range
    note: str | None = None


@dataclass(frozen=True)
class DriftReport:
    """A batch against the training profile: every column, the shares over the batch, and the alerts."""

    rows: float
    sampled_rows: int
    columns: list[ColumnDrift]
    tested_columns: int
    drifted_columns: int
    drifted_share: float
    missing_share: float
    missing_share_increase: float
    missing_share_increase_column: str | None
    unknown_category_share: float
    outside_range_share: float
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (what is stored, served and announced)."""
        return _clean(asdict(self))


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _numeric_drift(
    name: str, reference: ColumnProfile, found: ColumnObservation, base: dict[str, Any], conf: DriftSettings
) -> ColumnDrift:
    base["outside_share"] = _share(found.outside, found.present)
    if len(found.values) < MIN_VALUES or not reference.points:
        return ColumnDrift(name, "numeric", **base, note="too few values to test")
    points = statistics.Sample.of(np.asarray(reference.points))
    current = statistics.Sample.of(found.values, found.weights)  # sorted once for the test and the distance
    test = statistics.ks_two_sample(points, current)
    distance = statistics.wasserstein(points, current)
    normed = distance / reference.std if reference.std else None
    deciles = np.unique(np.quantile(points.values, np.linspace(0.1, 0.9, 9)))
    psi = statistics.population_stability_index(points.bin_weights(deciles), current.bin_weights(deciles))
    by_test = current.effective <= conf.test_max_rows or normed is None
    drifted = test.p_value < conf.p_value if by_test else bool(normed > conf.wasserstein)
    return ColumnDrift(
        name,
        "numeric",
        **base,
        tested=True,
        test="ks",
        statistic=test.statistic,
        p_value=test.p_value,
        distance_name="wasserstein_normed",
        distance=normed,
        psi=psi,
        drifted=drifted,
        decided_by="p_value" if by_test else "distance",
    )


def _category_drift(
    name: str, reference: ColumnProfile, found: ColumnObservation, base: dict[str, Any], conf: DriftSettings
) -> ColumnDrift:
    known = set(reference.counts)
    unseen = {value: n for value, n in found.counts.items() if value not in known}
    current = {value: n for value, n in found.counts.items() if value in known}
    expected = dict(reference.counts)
    if reference.other:  # a free-text column: an unseen value may be one of training's rarer ones
        expected[OTHER] = reference.other
        current[OTHER] = sum(unseen.values())
    else:
        base["unknown_share"] = _share(sum(unseen.values()), found.present)
        current.update(unseen)
    categories = sorted(set(expected) | set(current))
    ref_counts = np.asarray([expected.get(c, 0) for c in categories], dtype=float)
    cur_counts = np.asarray([current.get(c, 0.0) for c in categories], dtype=float)
    if found.present < MIN_VALUES or ref_counts.sum() <= 0:
        return ColumnDrift(name, found.kind, **base, note="too few values to test")
    # weighted counts are tested as the effective number of rows they stand for (Kish), as numbers are
    effective = found.present**2 / found.present_squares if found.present_squares > 0 else found.present
    test = statistics.chi_square_two_sample(ref_counts, cur_counts * _share(effective, cur_counts.sum()))
    distance = statistics.jensen_shannon(ref_counts, cur_counts)
    psi = statistics.population_stability_index(ref_counts, cur_counts)
    by_test = effective <= conf.test_max_rows
    drifted = test.p_value < conf.p_value if by_test else distance > conf.jensen_shannon
    return ColumnDrift(
        name,
        found.kind,
        **base,
        tested=True,
        test="chi_square",
        statistic=test.statistic,
        p_value=test.p_value,
        distance_name="jensen_shannon",
        distance=distance,
        psi=psi,
        drifted=drifted,
        decided_by="p_value" if by_test else "distance",
    )


def compare(
    profile: Profile, observed: BatchObservation, conf: DriftSettings, thresholds: MonitoringThresholds
) -> DriftReport:
    """The drift report of ``observed`` against ``profile`` (see the module for what is tested and how)."""
    columns: list[ColumnDrift] = []
    for name, reference in profile.columns.items():
        found = observed.columns.get(name)
        if found is None:
            continue
        base: dict[str, Any] = {
            "values": found.present,
            "missing_share": _share(found.missing, found.present + found.missing),
            "reference_missing_share": reference.missing_share,
        }
        if reference.kind not in TESTED_KINDS or name == profile.time_column:
            columns.append(ColumnDrift(name, reference.kind, **base, note="dates are counted, not compared"))
        elif reference.kind == "numeric":
            columns.append(_numeric_drift(name, reference, found, base, conf))
        else:
            columns.append(_category_drift(name, reference, found, base, conf))
    return _summarise(observed, columns, thresholds)


def uncompared(observed: BatchObservation, thresholds: MonitoringThresholds) -> DriftReport:
    """The report of a batch of a version without a profile: counted (missing, past the range), nothing tested."""
    columns = [
        ColumnDrift(
            name,
            found.kind,
            values=found.present,
            missing_share=_share(found.missing, found.present + found.missing),
            reference_missing_share=0.0,
            outside_share=_share(found.outside, found.present) if found.kind == "numeric" else None,
            note="no training profile to compare with",
        )
        for name, found in observed.columns.items()
    ]
    report = _summarise(observed, columns, thresholds)
    kept = [a for a in report.alerts if a["threshold"] == "outside_range_share"]  # the schema's range is known
    return DriftReport(
        **{**report.__dict__, "missing_share_increase": 0.0, "missing_share_increase_column": None, "alerts": kept}
    )


def _summarise(observed: BatchObservation, columns: list[ColumnDrift], thresholds: MonitoringThresholds) -> DriftReport:
    tested = [c for c in columns if c.tested]
    drifted = [c for c in tested if c.drifted]
    cells = sum(c.values for c in columns) + sum(observed.columns[c.column].missing for c in columns)
    missing = sum(observed.columns[c.column].missing for c in columns)
    rises = [(c.missing_share - c.reference_missing_share, c.column) for c in columns]
    rise, rise_column = max(rises, default=(0.0, None))
    categorical = [c for c in columns if c.unknown_share is not None]
    unknown = sum(c.unknown_share * c.values for c in categorical)  # type: ignore[operator]
    report = DriftReport(
        rows=observed.rows,
        sampled_rows=observed.sampled_rows,
        columns=columns,
        tested_columns=len(tested),
        drifted_columns=len(drifted),
        drifted_share=_share(len(drifted), len(tested)),
        missing_share=_share(missing, cells),
        missing_share_increase=max(rise, 0.0),
        missing_share_increase_column=rise_column if rise > 0 else None,
        unknown_category_share=_share(unknown, sum(c.values for c in categorical)),
        outside_range_share=_share(observed.rows_outside, observed.rows),
    )
    limits = {
        "drifted_share": (report.drifted_share, thresholds.drifted_share),
        "outside_range_share": (report.outside_range_share, thresholds.outside_range_share),
        "unknown_category_share": (report.unknown_category_share, thresholds.unknown_category_share),
        "missing_share_increase": (report.missing_share_increase, thresholds.missing_share_increase),
    }
    report.alerts.extend(
        {"threshold": name, "value": round(value, 6), "limit": limit}
        for name, (value, limit) in limits.items()
        if value >= limit and value > 0
    )
    return report
