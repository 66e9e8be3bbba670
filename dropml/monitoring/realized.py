"""Realized accuracy: labels that arrive later, joined with the predictions dropml made, scored like the holdout.

Labels arrive two ways:

- a labelled file (the target column present) scored under ``test/``: each
  row's label is beside its prediction (:func:`file_pairs`, keyed by request
  id and row);
- new rows of a time-ordered project: a row at time t of group g answers the
  prediction made for the row ``horizon`` known times earlier in g (the crypto
  case: each day's actual open answers yesterday's forecast). The audit trail
  keeps, per prediction request, its rows' (time, group), the target as sent
  and what the version predicted (:class:`KeyedPredictions`);
  :func:`join_time_ordered` joins them all, each (version, group, time) once.

Pairs are kept per version and per day the prediction was made; their metrics
are :func:`dropml.scoring.metrics.compute_metrics`, the holdout's own, and
:func:`below_holdout` says when the most recent ones fall short of the holdout
by a margin. Whatever version a record names gets its pairs, so a challenger's
shadow predictions accrue realized metrics the same way as the live version's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dropml.scoring.metrics import LOWER_IS_BETTER, compute_metrics

HOLDOUT_PREFIX = "holdout_"


def label_text(value: Any) -> str | None:
    """A class label as text, so a label read from a CSV ("1") meets the one a model predicted (1, 1.0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _labels(task: str, values: Any) -> list[Any]:
    convert = label_text if task == "classification" else _number
    return [convert(v) for v in np.asarray(values, dtype=object).tolist()]


@dataclass
class LabelledPairs:
    """Labelled predictions: a key per row (to count each once), the label, the prediction, when it was made."""

    keys: list[str] = field(default_factory=list)
    y_true: list[Any] = field(default_factory=list)
    y_pred: list[Any] = field(default_factory=list)
    made_at: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, label: Any, predicted: Any, made_at: str) -> None:
        """Append one labelled prediction."""
        self.keys.append(key)
        self.y_true.append(label)
        self.y_pred.append(predicted)
        self.made_at.append(made_at)

    def to_json(self) -> dict[str, Any]:
        """As stored under ``reports/<p>/monitoring/realized/``."""
        return {"keys": self.keys, "y_true": self.y_true, "y_pred": self.y_pred, "made_at": self.made_at}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> LabelledPairs:
        """Read pairs as :meth:`to_json` wrote them."""
        return cls(
            list(document["keys"]), list(document["y_true"]), list(document["y_pred"]), list(document["made_at"])
        )


def file_pairs(task: str, request_id: str, made_at: str, labels: Any, predicted: Any) -> LabelledPairs:
    """The rows of a labelled file that have a label, with the champion's prediction (key: request id and row)."""
    pairs = LabelledPairs()
    for row, (label, guess) in enumerate(zip(_labels(task, labels), _labels(task, predicted), strict=True), start=1):
        if label is not None and guess is not None:
            pairs.add(f"{request_id}:{row}", label, guess, made_at)
    return pairs


def combined(parts: list[LabelledPairs]) -> LabelledPairs:
    """Pairs of several batches, each key once (the earliest prediction of it), oldest first."""
    chosen: dict[str, tuple[str, Any, Any]] = {}
    for part in parts:
        for key, label, guess, made in zip(part.keys, part.y_true, part.y_pred, part.made_at, strict=True):
            if key not in chosen or made < chosen[key][0]:
                chosen[key] = (made, label, guess)
    out = LabelledPairs()
    for key, (made, label, guess) in sorted(chosen.items(), key=lambda item: (item[1][0], item[0])):
        out.add(key, label, guess, made)
    return out


@dataclass(frozen=True)
class KeyedPredictions:
    """One prediction request of a time-ordered project as the audit trail keeps it (``audit/keys/``)."""

    request_id: str
    version: int
    role: str
    made_at: str  # ISO time of the request
    times: list[str]  # each row's time, ISO
    groups: list[str] | None  # each row's group (None: the project has no group column)
    targets: list[Any]  # each row's target as sent (a time-ordered project's target is also an input)
    predicted: list[Any]  # the champion's prediction per row (for ``horizon`` rows later in its group)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> KeyedPredictions:
        """A line of ``audit/keys/`` as :func:`dropml.audit.keyed_predictions` wrote it."""
        keyed = document["keys"]
        return cls(
            request_id=str(document["request_id"]),
            version=int(document["model_version"]),
            role=str(document.get("role", "live")),
            made_at=str(document["time"]),
            times=[str(t) for t in keyed["time"]],
            groups=[str(g) for g in keyed["group"]] if keyed.get("group") is not None else None,
            targets=list(keyed["target"]),
            predicted=list(keyed["predicted"]),
        )


def _instant(text: str) -> np.datetime64:
    import pandas as pd

    stamp = pd.Timestamp(text)
    return np.datetime64((stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).to_datetime64(), "ns")


def join_time_ordered(
    task: str, requests: list[KeyedPredictions], horizon: int, version: int | None = None
) -> dict[tuple[int, str], LabelledPairs]:
    """Every prediction (of ``version``, or of any) whose answer has arrived, by (version, day it was made).

    The answer to a prediction for the row at time t of group g is the target
    of the row ``horizon`` known times later in g; the known rows are every
    row any request carried. Each (version, group, time) counts once: its
    earliest prediction (daily files that repeat past rows repeat nothing here).
    """
    known: dict[str, dict[np.datetime64, Any]] = defaultdict(dict)
    for request in sorted(requests, key=lambda r: r.made_at):
        groups = request.groups or [""] * len(request.times)
        for when, group, target in zip(request.times, groups, _labels(task, request.targets), strict=True):
            if target is not None:
                known[group][_instant(when)] = target  # the newest value sent for a row wins
    timelines = {group: np.sort(np.asarray(list(values), dtype="datetime64[ns]")) for group, values in known.items()}
    earliest: dict[tuple[int, str, str], tuple[str, Any, Any]] = {}
    for request in requests:
        if version is not None and request.version != version:
            continue
        groups = request.groups or [""] * len(request.times)
        for when, group, guess in zip(request.times, groups, _labels(task, request.predicted), strict=True):
            timeline = timelines.get(group)
            if timeline is None or guess is None:
                continue
            instant = _instant(when)
            position = int(np.searchsorted(timeline, instant, side="right")) + horizon - 1
            if position >= len(timeline):
                continue  # not answered yet
            key = (request.version, group, str(instant))
            if key not in earliest or request.made_at < earliest[key][0]:
                earliest[key] = (request.made_at, known[group][timeline[position]], guess)
    found: dict[tuple[int, str], LabelledPairs] = defaultdict(LabelledPairs)
    for (answered, group, when), (made, label, guess) in sorted(earliest.items(), key=lambda item: item[1][0]):
        found[(answered, made[:10])].add(f"{when}|{group}", label, guess, made)
    return dict(found)


def metrics_of(task: str, pairs: LabelledPairs) -> dict[str, float | None]:
    """Every holdout metric of the task over the pairs (None where undefined; no scores, so no ROC AUC)."""
    if not len(pairs):
        return {}
    return compute_metrics(task, np.asarray(pairs.y_true, dtype=object), np.asarray(pairs.y_pred, dtype=object))


def most_recent(pairs: LabelledPairs, rows: int) -> LabelledPairs:
    """The last ``rows`` pairs by when the prediction was made."""
    ordered = sorted(range(len(pairs)), key=lambda i: (pairs.made_at[i], pairs.keys[i]))[-rows:]
    out = LabelledPairs()
    for i in ordered:
        out.add(pairs.keys[i], pairs.y_true[i], pairs.y_pred[i], pairs.made_at[i])
    return out


@dataclass(frozen=True)
class Verdict:
    """Realized against holdout on one metric: the values, how much worse (relative), and whether it is too much."""

    metric: str
    realized: float | None
    holdout: float | None
    rows: int
    shortfall: float | None  # relative: 0.15 = 15 % worse than holdout
    below: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "metric": self.metric,
            "realized": self.realized,
            "holdout": self.holdout,
            "rows": self.rows,
            "shortfall": self.shortfall,
            "below": self.below,
        }


def below_holdout(metric: str, realized: float | None, holdout: float | None, rows: int, margin: float) -> Verdict:
    """Whether ``realized`` is worse than ``holdout`` by more than ``margin`` (relative) on ``metric``."""
    name = metric.removeprefix(HOLDOUT_PREFIX)
    if realized is None or holdout is None:
        return Verdict(name, realized, holdout, rows, None, False)
    if name in LOWER_IS_BETTER:
        shortfall = (realized - holdout) / abs(holdout) if holdout else (math.inf if realized > 0 else 0.0)
    else:
        shortfall = (holdout - realized) / abs(holdout) if holdout else (math.inf if realized < 0 else 0.0)
    shown = shortfall if math.isfinite(shortfall) else None
    return Verdict(name, realized, holdout, rows, shown, shortfall > margin)
