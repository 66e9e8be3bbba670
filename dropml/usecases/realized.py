"""Realized accuracy: labels joined with the predictions dropml made, kept per version and day, held to the holdout.

Labels come with a labelled file scored under ``test/`` (:func:`record_file_labels`,
called by :mod:`dropml.usecases.score_file`) and, for a time-ordered project,
with any later batch that carries the rows its earlier predictions were about
(:func:`join_time_ordered_predictions`, after each such file and in the daily
monitoring job, reading ``audit/keys/``). Pairs are kept under
``reports/<p>/monitoring/realized/v<N>/pairs/<day>/``; each (version, day)'s
metrics, the holdout's own (:func:`dropml.scoring.metrics.compute_metrics`),
under ``.../summary/<day>.json``.

:func:`check_live` then compares the live version's last
``monitoring.realized.window_rows`` labelled rows with its holdout on the rank
metric. Worse by more than ``monitoring.realized.margin`` (relative) is
announced (step ``realized``, outcome ``alert``), and with
``monitoring.auto_rollback`` the project rolls back to its previous live
version through :func:`dropml.usecases.live.rollback`, recorded and announced
like any rollback. :func:`realized_summary` gives one version's realized rows,
metrics and days: what comparing a challenger with the champion reads.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dropml import notify, registry, storage
from dropml.config import settings
from dropml.errors import NotFound
from dropml.monitoring.realized import (
    HOLDOUT_PREFIX,
    KeyedPredictions,
    LabelledPairs,
    Verdict,
    below_holdout,
    combined,
    file_pairs,
    join_time_ordered,
    metrics_of,
    most_recent,
)
from dropml.storage import keys
from dropml.usecases import live

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dropml.manifest import Manifest

logger = logging.getLogger(__name__)

TIME_ORDERED_BATCH = "time-ordered"  # the pairs object a time-ordered join (re)writes per version and day
ROLLED_BACK_BY = "monitoring"


def _holdout(manifest: Manifest) -> dict[str, float | None]:
    champion = manifest.model(manifest.champion)
    return {
        name.removeprefix(HOLDOUT_PREFIX): value
        for name, value in champion.metrics.items()
        if name.startswith(HOLDOUT_PREFIX) and name != "holdout_rows"
    }


def _write_pairs(manifest: Manifest, day: str, batch_id: str, pairs: LabelledPairs, source: str) -> str:
    key = keys.realized_pairs_key(manifest.project, manifest.version, day, batch_id)
    storage.put_json(
        key, {"project": manifest.project, "version": manifest.version, "source": source, **pairs.to_json()}
    )
    return key


def _pairs_of_day(project: str, version: int, day: str) -> list[LabelledPairs]:
    prefix = keys.realized_prefix(project, version) + f"pairs/{day}/"
    return [LabelledPairs.from_json(storage.get_json(key)) for key in storage.list_keys(prefix)]


def update_summary(manifest: Manifest, day: str) -> dict[str, Any]:
    """Recompute and keep one (version, day)'s realized metrics over every labelled row of that day (each once).

    Pairs are written once per batch and never changed, so two jobs updating one day at once at worst leave a
    summary that misses the other's batch until the next update of that day recomputes it.
    """
    pairs = combined(_pairs_of_day(manifest.project, manifest.version, day))
    summary = {
        "project": manifest.project,
        "version": manifest.version,
        "day": day,
        "rows": len(pairs),
        "task": manifest.task,
        "rank_metric": manifest.rank_metric.removeprefix(HOLDOUT_PREFIX),
        "metrics": metrics_of(manifest.task, pairs),
        "holdout": _holdout(manifest),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.put_json(keys.realized_summary_key(manifest.project, manifest.version, day), summary)
    return summary


def record_file_labels(manifest: Manifest, request_id: str, made_at: str, labels: Any, predicted: Any) -> int:
    """Keep a labelled file's rows (label beside prediction) as realized pairs of its version; returns how many.

    Rows without a label are left out. The day's summary is recomputed.
    """
    pairs = file_pairs(manifest.task, request_id, made_at, labels, predicted)
    if not len(pairs):
        return 0
    day = made_at[:10]
    _write_pairs(manifest, day, request_id, pairs, "labelled file")
    update_summary(manifest, day)
    return len(pairs)


def _days(until: date, lookback_days: int) -> list[str]:
    return [(until - timedelta(days=back)).isoformat() for back in range(lookback_days, -1, -1)]


def keyed_predictions(project: str, until: date, lookback_days: int) -> Iterator[KeyedPredictions]:
    """Every time-ordered request of ``project`` the audit trail kept in the ``lookback_days`` days up to ``until``."""
    for day in _days(until, lookback_days):
        for key in storage.list_keys(keys.audit_project_prefix("keys", day, project)):
            for line in storage.get_bytes(key).body.splitlines():
                if line.strip():
                    yield KeyedPredictions.from_json(json.loads(line))


def join_time_ordered_predictions(project: str, until: date | None = None) -> dict[tuple[int, str], int]:
    """Join a time-ordered project's predictions with the rows that answer them; returns rows per (version, day).

    Reads ``audit/keys/`` of the last ``monitoring.realized.lookback_days`` days
    and (re)writes each (version, day)'s time-ordered pairs and summary, so a
    rerun gives the same result and a later batch only adds answers.
    """
    conf = settings().monitoring.for_project(project)
    until = until or datetime.now(UTC).date()
    requests = list(keyed_predictions(project, until, conf.realized.lookback_days))
    written: dict[tuple[int, str], int] = {}
    for version in sorted({r.version for r in requests}):
        try:
            manifest = registry.read_manifest(project, version)
        except NotFound:
            logger.warning("predictions of a version that is gone", extra={"project": project, "version": version})
            continue
        horizon = int(manifest.config.get("horizon", 1))
        for (_, day), pairs in join_time_ordered(manifest.task, requests, horizon, version).items():
            _write_pairs(manifest, day, TIME_ORDERED_BATCH, pairs, "time-ordered rows")
            update_summary(manifest, day)
            written[(version, day)] = len(pairs)
    return written


def recent_pairs(project: str, version: int, days: int) -> LabelledPairs:
    """Every labelled row of ``version``'s predictions of the last ``days`` days, each once, oldest first."""
    today = datetime.now(UTC).date()
    parts: list[LabelledPairs] = []
    for day in _days(today, days):
        parts.extend(_pairs_of_day(project, version, day))
    return combined(parts)


def check_live(project: str) -> Verdict | None:
    """Hold the live version's last labelled rows to its holdout; announce, and roll back if configured.

    Returns the verdict (None when nothing is live, the version has no holdout
    score on its rank metric, or fewer labelled rows than ``window_rows``).
    """
    conf = settings().monitoring.for_project(project)
    current = registry.live_version(project)
    if current is None:
        return None
    manifest = registry.read_manifest(project, current.version)
    metric = manifest.rank_metric.removeprefix(HOLDOUT_PREFIX)
    holdout = _holdout(manifest).get(metric)
    recent = most_recent(
        recent_pairs(project, manifest.version, conf.realized.lookback_days), conf.realized.window_rows
    )
    if holdout is None or len(recent) < conf.realized.window_rows:
        return None
    verdict = below_holdout(
        metric, metrics_of(manifest.task, recent).get(metric), holdout, len(recent), conf.realized.margin
    )
    if verdict.below:
        _announce_below(manifest, verdict, conf.auto_rollback)
        if conf.auto_rollback:
            _roll_back(manifest)
    return verdict


def _roll_back(manifest: Manifest) -> None:
    """Roll the project back (the rollback announces itself); when it cannot be (nothing earlier, refused), say so."""
    try:
        live.rollback(manifest.project, by=ROLLED_BACK_BY)
    except Exception as err:  # a failed rollback is announced, never lost in a log
        logger.exception("automatic rollback failed", extra={"project": manifest.project})
        notify.announce(
            "rollback",
            "failed",
            f"{manifest.project}: automatic rollback from v{manifest.version} failed",
            manifest.project,
            manifest.version,
            by=ROLLED_BACK_BY,
            error=str(err),
        )


def _announce_below(manifest: Manifest, verdict: Verdict, rolling_back: bool) -> None:
    shortfall = f"{verdict.shortfall:.0%} " if verdict.shortfall is not None else ""
    then = "; rolling back" if rolling_back else ""
    notify.announce(
        "realized",
        "alert",
        f"{manifest.project} v{manifest.version}: realized {verdict.metric} {verdict.realized:.4g} is {shortfall}"
        f"worse than holdout {verdict.holdout:.4g} over the last {verdict.rows} labelled rows{then}",
        manifest.project,
        manifest.version,
        **verdict.to_json(),
        auto_rollback=rolling_back,
    )


@dataclass(frozen=True)
class RealizedSummary:
    """One version's realized accuracy: labelled rows, metrics over all of them, and each day's."""

    project: str
    version: int
    rows: int
    metrics: dict[str, float | None]
    holdout: dict[str, float | None]
    by_day: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "project": self.project,
            "version": self.version,
            "rows": self.rows,
            "metrics": self.metrics,
            "holdout": self.holdout,
            "by_day": self.by_day,
        }


def day_summaries(project: str, version: int) -> list[dict[str, Any]]:
    """Every kept (version, day) summary of ``version``, oldest day first (no metric is recomputed)."""
    prefix = keys.realized_prefix(project, version) + "summary/"
    return [storage.get_json(key) for key in sorted(storage.list_keys(prefix))]


def realized_summary(project: str, version: int, days: int | None = None) -> RealizedSummary:
    """A version's realized rows and metrics over the last ``days`` days (default: the lookback), and by day.

    For comparing versions (a challenger's shadow predictions accrue pairs like the live version's).

    Raises:
        NotFound: no such version.
    """
    manifest = registry.read_manifest(project, version)
    window = days if days is not None else settings().monitoring.for_project(project).realized.lookback_days
    pairs = recent_pairs(project, version, window)
    first = (datetime.now(UTC).date() - timedelta(days=window)).isoformat()
    return RealizedSummary(
        project=project,
        version=version,
        rows=len(pairs),
        metrics=metrics_of(manifest.task, pairs),
        holdout=_holdout(manifest),
        by_day=[s for s in day_summaries(project, version) if s["day"] >= first],
    )
