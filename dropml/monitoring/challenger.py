"""Champion against challenger on the same labelled rows: which is better on the rank metric, and by how much.

A challenger scores every request and file in the shadow of the live version,
under the same request ids, so a labelled row that answers one answers both
(:mod:`dropml.monitoring.realized` keys each pair by request and row, or by
time and group). :func:`head_to_head` takes the most recent rows both versions
predicted and scores each on them; comparing each version's own rows instead
would let a lucky week or an easy file decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dropml.monitoring.realized import HOLDOUT_PREFIX, LabelledPairs, metrics_of, most_recent
from dropml.scoring.metrics import LOWER_IS_BETTER


@dataclass(frozen=True)
class HeadToHead:
    """Two versions scored on the same labelled rows: every metric of each, and the relative gain on one."""

    metric: str
    rows: int  # labelled rows both versions predicted (the most recent ``window`` of them)
    champion: dict[str, float | None]
    challenger: dict[str, float | None]
    gain: float | None  # relative, on ``metric``: 0.05 = the challenger is 5 % better; negative: worse (±inf: the
    # champion scored 0)

    def beats(self, margin: float, window_rows: int) -> bool:
        """Whether the challenger is better by more than ``margin`` over at least ``window_rows`` rows."""
        return self.rows >= window_rows and self.gain is not None and self.gain > margin

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "metric": self.metric,
            "rows": self.rows,
            "champion": self.champion,
            "challenger": self.challenger,
            "gain": self.gain if self.gain is None or math.isfinite(self.gain) else None,
        }


def shared(champion: LabelledPairs, challenger: LabelledPairs) -> tuple[LabelledPairs, LabelledPairs]:
    """The pairs of each version on the rows both predicted, in the same order (by key)."""
    theirs = dict(zip(challenger.keys, range(len(challenger)), strict=True))
    ours, other = LabelledPairs(), LabelledPairs()
    for i, key in enumerate(champion.keys):
        j = theirs.get(key)
        if j is None:
            continue
        ours.add(key, champion.y_true[i], champion.y_pred[i], champion.made_at[i])
        other.add(key, challenger.y_true[j], challenger.y_pred[j], champion.made_at[i])
    return ours, other


def relative_gain(metric: str, champion: float | None, challenger: float | None) -> float | None:
    """How much better ``challenger`` is than ``champion`` on ``metric``, relative to the champion's value."""
    if champion is None or challenger is None:
        return None
    name = metric.removeprefix(HOLDOUT_PREFIX)
    better = champion - challenger if name in LOWER_IS_BETTER else challenger - champion
    if champion == 0:
        return 0.0 if better == 0 else math.copysign(math.inf, better)
    return better / abs(champion)


def head_to_head(
    task: str, metric: str, champion: LabelledPairs, challenger: LabelledPairs, window_rows: int
) -> HeadToHead:
    """Both versions on the most recent ``window_rows`` labelled rows they both predicted."""
    name = metric.removeprefix(HOLDOUT_PREFIX)
    ours, other = shared(champion, challenger)
    recent = most_recent(ours, window_rows)
    keep = set(recent.keys)
    theirs = LabelledPairs()
    for i, key in enumerate(other.keys):
        if key in keep:
            theirs.add(key, other.y_true[i], other.y_pred[i], other.made_at[i])
    champion_metrics, challenger_metrics = metrics_of(task, recent), metrics_of(task, theirs)
    gain = relative_gain(name, champion_metrics.get(name), challenger_metrics.get(name))
    return HeadToHead(name, len(recent), champion_metrics, challenger_metrics, gain)
