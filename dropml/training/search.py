"""Step 6c: optional random hyper-parameter search inside a time budget.

The default parameters are always the first candidate (already evaluated, so
a budget of 0 costs nothing). Further random candidates from the model's
``search_space`` are cross-validated while the budget lasts; a candidate is
started only if the last one's duration still fits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dropml.training.evaluation import better
from dropml.training.models import search_candidates


@dataclass
class SearchOutcome:
    """The best parameters found, their CV metrics, and what the search cost."""

    params: dict[str, Any]
    metrics: dict[str, float | None]
    tried: int = 1
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def random_search(
    evaluate: Callable[[dict[str, Any]], dict[str, float | None]],
    space: dict[str, list[Any]],
    default_metrics: dict[str, float | None],
    rank_metric: str,
    budget_seconds: float,
    seed: int,
    default_seconds: float = 0.0,
) -> SearchOutcome:
    """Try random candidates from ``space`` with ``evaluate`` until ``budget_seconds`` is spent; keep the best.

    ``evaluate(params)`` returns CV metrics; ``default_metrics`` are those of
    the default parameters, evaluated before (taking ``default_seconds``).
    """
    best = SearchOutcome(params={}, metrics=default_metrics)
    if budget_seconds <= 0 or not space:
        return best
    started = time.perf_counter()
    last = default_seconds
    for candidate in search_candidates(space, seed):
        spent = time.perf_counter() - started
        if spent + last > budget_seconds:
            break
        began = time.perf_counter()
        found = evaluate(candidate)
        last = time.perf_counter() - began
        best.tried += 1
        best.history.append({"params": candidate, rank_metric: found.get(rank_metric), "seconds": round(last, 3)})
        if better(found.get(rank_metric), best.metrics.get(rank_metric), rank_metric):
            best.params, best.metrics = candidate, found
    best.seconds = round(time.perf_counter() - started, 3)
    return best
