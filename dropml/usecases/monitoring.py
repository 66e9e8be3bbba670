"""A project's monitoring at a glance: its drift reports and realized accuracy over time (the page and its JSON).

Reads what :mod:`dropml.usecases.drift` and :mod:`dropml.usecases.realized`
kept under ``reports/<p>/monitoring/``: the newest drift reports of the last
``days`` days (a summary of each, and the newest in full, column by column),
and per version each day's realized metrics beside its holdout's; with a
challenger, it against the champion on the rows both scored
(:func:`dropml.usecases.challenger.compare`, which reads the pairs).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dropml import registry, storage
from dropml.config import settings
from dropml.errors import BadInput
from dropml.storage import keys
from dropml.usecases import challenger
from dropml.usecases.realized import day_summaries

MAX_REPORTS = 60  # the newest drift reports a page reads (each a small object)
MAX_DAYS = 366
SUMMARY_FIELDS = (
    "version",
    "time",
    "created_at",
    "source",
    "note",
    "rows",
    "tested_columns",
    "drifted_columns",
    "drifted_share",
    "missing_share",
    "missing_share_increase",
    "unknown_category_share",
    "outside_range_share",
    "alerts",
)


@dataclass(frozen=True)
class MonitoringOverview:
    """Drift and realized accuracy of one project over the last ``days`` days."""

    project: str
    days: int
    live_version: int | None
    thresholds: dict[str, float]
    auto_rollback: bool
    realized_margin: float
    realized_window_rows: int
    drift: list[dict[str, Any]] = field(default_factory=list)  # report summaries, oldest first
    latest: dict[str, Any] | None = None  # the newest report in full
    realized: list[dict[str, Any]] = field(default_factory=list)  # per version: holdout and each day's metrics
    challenger_version: int | None = None
    challenger: dict[str, Any] | None = None  # champion against challenger (dropml.usecases.challenger.Comparison)

    def to_json(self) -> dict[str, Any]:
        """The answer of ``GET /api/v1/projects/<p>/monitoring``."""
        return {
            "project": self.project,
            "days": self.days,
            "live_version": self.live_version,
            "thresholds": self.thresholds,
            "auto_rollback": self.auto_rollback,
            "realized_margin": self.realized_margin,
            "realized_window_rows": self.realized_window_rows,
            "drift": self.drift,
            "latest": self.latest,
            "realized": self.realized,
            "challenger_version": self.challenger_version,
            "challenger": self.challenger,
        }


def _read_all(names: list[str]) -> list[Any]:
    """Read JSON objects concurrently (each in a copy of the caller's context: its credentials)."""
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(names)), thread_name_prefix="dropml-monitoring") as pool:
        futures = [pool.submit(contextvars.copy_context().run, storage.get_json, name) for name in names]
        return [future.result() for future in futures]


def _report_keys(project: str, since: str) -> list[str]:
    prefix = keys.drift_reports_prefix(project)
    days = sorted(day for day in storage.list_folders(prefix) if day >= since)
    found: list[str] = []
    for day in reversed(days):  # newest day first, until enough
        found[:0] = sorted(storage.list_keys(prefix + day + "/"))
        if len(found) >= MAX_REPORTS:
            break
    return found[-MAX_REPORTS:]


def _realized(project: str, since: str, live_version: int | None, challenger: int | None) -> list[dict[str, Any]]:
    versions = sorted(v for v in map(keys.parse_version_dir, storage.list_folders(keys.realized_prefix(project))) if v)
    found = []
    for version in versions:
        days = [s for s in day_summaries(project, version) if s["day"] >= since]
        if not days:
            continue
        metric = days[-1]["rank_metric"]
        found.append(
            {
                "version": version,
                "live": version == live_version,
                "challenger": version == challenger,
                "rank_metric": metric,
                "holdout": days[-1]["holdout"].get(metric),
                "rows": sum(d["rows"] for d in days),
                "days": [
                    {"day": d["day"], "rows": d["rows"], "value": d["metrics"].get(metric), "metrics": d["metrics"]}
                    for d in days
                ],
            }
        )
    return found


def overview(project: str, days: int = 30) -> MonitoringOverview:
    """The project's drift reports and realized accuracy of the last ``days`` days.

    Raises:
        BadInput: not a project name, or ``days`` outside 1..366.
    """
    keys.validate_project(project)
    if not 1 <= days <= MAX_DAYS:
        raise BadInput("days", days, f"days must be between 1 and {MAX_DAYS} (got {days})")
    conf = settings().monitoring.for_project(project)
    live = registry.live_version(project)
    shadow = registry.challenger_version(project)
    contest = challenger.compare(project) if live is not None and shadow is not None else None
    since = (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
    names = _report_keys(project, since)
    reports = [{**report, "key": name} for name, report in zip(names, _read_all(names), strict=True)]
    summaries = [{**{k: report.get(k) for k in SUMMARY_FIELDS}, "key": report["key"]} for report in reports]
    return MonitoringOverview(
        project=project,
        days=days,
        live_version=live.version if live else None,
        thresholds=conf.thresholds.model_dump(),
        auto_rollback=conf.auto_rollback,
        realized_margin=conf.realized.margin,
        realized_window_rows=conf.realized.window_rows,
        drift=summaries,
        latest=reports[-1] if reports else None,
        realized=_realized(project, since, live.version if live else None, shadow.version if shadow else None),
        challenger_version=shadow.version if shadow else None,
        challenger=contest.to_json() if contest is not None else None,
    )
