"""A day of API traffic, monitored without a server: its drift report per project and version, and realized accuracy.

Run by the monitoring job (``training_job.main monitor``), which the daily
schedule starts for the day before (template.yaml: the batch_predict
function's ``DailyMonitoring`` schedule) and an operator starts on demand
(``POST /api/v1/admin/projects/<p>/monitor``); ``dropml monitor`` runs it in
the operator's own process. For each project it reads the day's kept input
sample (``audit/samples/``, weighted by what each window saw: see
:class:`dropml.audit.InputSample`), makes one drift report per version that
served that day, and for a time-ordered project joins the predictions of the
last days with the rows that answer them, then holds the live version to its
holdout (:mod:`dropml.usecases.realized`). Rerunning a day rewrites the same
reports.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from dropml import registry, storage
from dropml.errors import BadInput, NotFound
from dropml.monitoring.batch import BatchObservation, merge, observe
from dropml.scoring.validate import validate_frame
from dropml.storage import keys
from dropml.usecases import challenger, realized
from dropml.usecases.drift import DriftSource, record_drift_safely

logger = logging.getLogger(__name__)

TRAFFIC = "traffic"


def parse_day(day: str) -> date:
    """``YYYY-MM-DD`` as a date.

    Raises:
        BadInput: not a date.
    """
    try:
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except (TypeError, ValueError):
        raise BadInput("day", day, f"day must be YYYY-MM-DD (got {day!r})") from None


def _sample_lines(project: str, day: str) -> list[dict[str, Any]]:
    lines = []
    for key in storage.list_keys(keys.audit_project_prefix("samples", day, project)):
        lines.extend(json.loads(line) for line in storage.get_bytes(key).body.splitlines() if line.strip())
    return lines


@dataclass
class TrafficSample:
    """One version's sample of a day: the windows' observations and what they counted."""

    observations: list[BatchObservation] = field(default_factory=list)
    rows_seen: int = 0
    rows_kept: int = 0
    windows: int = 0
    windows_over_budget: int = 0


def traffic_samples(project: str, day: str) -> dict[int, TrafficSample]:
    """The day's kept input rows of ``project`` by version, each window's rows weighted by what it saw."""
    import pandas as pd

    by_version: dict[int, TrafficSample] = {}
    schemas: dict[int, Any] = {}
    for line in _sample_lines(project, day):
        version = int(line["model_version"])
        sample = by_version.setdefault(version, TrafficSample())
        sample.windows += 1
        sample.rows_seen += int(line["rows_seen"])
        sample.windows_over_budget += int(line.get("skipped") == "max_bytes_per_day")
        rows = line.get("rows") or []
        if not rows:
            continue
        if version not in schemas:
            schemas[version] = registry.read_manifest(project, version).input_schema
        try:
            checked = validate_frame(schemas[version], pd.DataFrame.from_records(rows))
        except BadInput as err:
            logger.warning("sample rows do not fit their version", extra={"project": project, "error": str(err)})
            continue
        weights = np.full(len(rows), int(line["rows_seen"]) / len(rows))
        sample.observations.append(observe(schemas[version], checked, row_weights=weights))
        sample.rows_kept += len(rows)
    return by_version


def traffic_drift(project: str, day: str) -> list[dict[str, Any]]:
    """One drift report per version that answered API traffic of ``project`` on ``day``."""
    reports = []
    for version, sample in sorted(traffic_samples(project, day).items()):
        if not sample.observations:
            continue
        manifest = registry.read_manifest(project, version)
        counted = {
            "rows_seen": sample.rows_seen,
            "rows_kept": sample.rows_kept,
            "windows": sample.windows,
            "windows_over_budget": sample.windows_over_budget,
        }
        source = DriftSource(TRAFFIC, day, f"{TRAFFIC}-{day}-v{version}", counted)
        report = record_drift_safely(manifest, source, merge(sample.observations), _end_of(day))
        if report is not None:
            reports.append(report)
    return reports


def _end_of(day: str) -> datetime:
    """A day's traffic report is filed at the day's last moment: a rerun replaces it."""
    return datetime.combine(parse_day(day), datetime.max.time(), tzinfo=UTC)


def projects_of_day(day: str) -> list[str]:
    """The projects with API traffic or time-ordered keys kept on ``day``."""
    found = set()
    for kind in ("samples", "keys"):
        found.update(storage.list_folders(keys.audit_prefix(kind, day)))  # type: ignore[arg-type]
    return sorted(p for p in found if keys.PROJECT_NAME_PATTERN.match(p))


def monitor_day(day: str, project: str | None = None) -> dict[str, Any]:
    """Monitor ``day`` for ``project`` (default: every project with traffic or keys that day); what was done.

    Raises:
        BadInput: ``day`` is not a date, or ``project`` not a project name.
    """
    when = parse_day(day)
    projects = [keys.validate_project(project)] if project else projects_of_day(day)
    done: dict[str, Any] = {}
    for name in projects:
        result: dict[str, Any] = {"drift_reports": [r["key"] for r in traffic_drift(name, day)]}
        try:
            joined = realized.join_time_ordered_predictions(name, when)
            result["labelled_rows"] = sum(joined.values())
            contest = challenger.check(name)  # every day: labelled files of the day count too
            result["head_to_head"] = contest.head_to_head.to_json() if contest is not None else None
            verdict = realized.check_live(name) if joined else None
            result["realized"] = verdict.to_json() if verdict is not None else None
        except NotFound as err:
            result["realized_error"] = str(err)
        done[name] = result
    logger.info("day monitored", extra={"day": day, "projects": list(done)})
    return {"day": day, "projects": done}
