"""Forecast series of a time-ordered project: each group's actual and predicted values over time.

Read from a predictions CSV (a scored ``test/`` file or a web upload's
results), which keeps the time, group, target, prediction and model version
columns. A prediction made at a row is for ``horizon`` rows later in its group
(the project's setting), so it is plotted at that later row's time; the last
``horizon`` predictions of a group look past the file and keep their own
row's time with ``ahead`` set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dropml import storage
from dropml.config import settings
from dropml.errors import BadInput, NotFound
from dropml.storage import keys
from dropml.storage.csv_reader import read_csv_bytes

MAX_POINTS_PER_GROUP = 5000  # a chart of more points per line shows nothing more


@dataclass(frozen=True)
class ForecastSeries:
    """One group's points: ``{"time", "actual", "predicted"}`` (either value may be None)."""

    group: str
    points: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Forecast:
    """Every group's series of one predictions file, and what they were read from."""

    project: str
    source: str
    time_column: str
    group_column: str | None
    target: str
    horizon: int
    model_versions: list[int]
    series: list[ForecastSeries]

    def to_json(self) -> dict[str, Any]:
        """The JSON answer of ``/api/v1/forecast``."""
        return {
            "project": self.project,
            "source": self.source,
            "time_column": self.time_column,
            "group_column": self.group_column,
            "target": self.target,
            "horizon": self.horizon,
            "model_versions": self.model_versions,
            "series": [{"group": s.group, "points": s.points} for s in self.series],
        }


def predictions_source(project: str, file_name: str | None = None) -> str:
    """The predictions key to chart: ``file_name`` under the project's predictions, or the newest one.

    Raises:
        BadInput: ``file_name`` is not a plain CSV name.
        NotFound: the project has no such (or no) predictions.
    """
    if file_name is not None:
        if "/" in file_name or not file_name.endswith(".csv") or file_name.startswith("."):
            raise BadInput("file", file_name, f"file must be a CSV name under predictions/ (got {file_name!r})")
        key = keys.predictions_key(project, file_name)
        if not storage.exists(key):
            raise NotFound(f"project {project!r} has no predictions file {file_name!r}")
        return key
    prefix = keys.predictions_key(project, "")
    newest = storage.newest_key(prefix, ".csv")
    if newest is None or "/" in newest[len(prefix) :]:
        raise NotFound(f"project {project!r} has no predictions yet (score a file under test/ first)")
    return newest


def forecast(project: str, file_name: str | None = None) -> Forecast:
    """Each group's actual and predicted values over time, from a predictions file of ``project``.

    Raises:
        BadInput: the project is not time-ordered (no ``time_column``), or the file lacks a needed column.
        NotFound: no such predictions file.
    """
    import pandas as pd

    training = settings().training_for(project)
    if not training.time_column:
        raise BadInput(
            "project", project, f"project {project!r} is not time-ordered: set time_column in config projects"
        )
    source = predictions_source(project, file_name)
    frame = read_csv_bytes(storage.get_bytes(source).body, source)
    needed = [training.time_column, "prediction", "model_version", training.group_column]
    missing = [c for c in needed if c and c not in frame.columns]
    if missing:
        raise BadInput("file", source, f"{source} has no column {missing[0]!r}: it cannot be charted")
    frame["_time"] = pd.to_datetime(frame[training.time_column], errors="coerce", format="mixed")
    groups = frame[training.group_column].astype(str) if training.group_column else pd.Series("all", frame.index)
    series = [
        ForecastSeries(str(name), _points(rows, training.target, training.horizon))
        for name, rows in frame.assign(_group=groups).sort_values(["_group", "_time"], kind="stable").groupby("_group")
    ]
    return Forecast(
        project=project,
        source=source,
        time_column=training.time_column,
        group_column=training.group_column,
        target=training.target,
        horizon=training.horizon,
        model_versions=sorted({int(v) for v in frame["model_version"].dropna()}),
        series=series,
    )


def _number(value: Any) -> float | None:

    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _points(rows: Any, target: str, horizon: int) -> list[dict[str, Any]]:
    rows = rows.tail(MAX_POINTS_PER_GROUP)
    times = [t.isoformat() if hasattr(t, "isoformat") else None for t in rows["_time"]]
    actual = [_number(v) for v in rows[target]] if target in rows.columns else [None] * len(rows)
    predicted = [_number(v) for v in rows["prediction"]]
    points = [{"time": t, "actual": a, "predicted": None} for t, a in zip(times, actual, strict=True)]
    for i, value in enumerate(predicted):  # made at row i, for row i + horizon
        if i + horizon < len(points):
            points[i + horizon]["predicted"] = value
        else:
            points.append({"time": times[i], "actual": None, "predicted": value, "ahead": horizon})
    return [p for p in points if p["time"] is not None]
