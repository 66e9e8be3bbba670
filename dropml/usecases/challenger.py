"""Champion against challenger: their realized accuracy side by side, and promotion when the challenger wins.

The challenger's shadow scores (:mod:`dropml.usecases.shadow`, and file scoring)
accrue realized pairs under its own version exactly as the live version's do
(:mod:`dropml.usecases.realized`). :func:`compare` puts both versions' realized
and holdout metrics side by side with their head-to-head on the rows both
predicted (``dropml compare``, the Monitoring page). :func:`check` runs after
each batch of labels: when the challenger beats the champion by more than
``monitoring.challenger.margin`` over ``window_rows`` shared labelled rows it is
announced, and with ``monitoring.auto_promote`` made live through
:func:`dropml.usecases.live.promote`, recorded and announced like any promotion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dropml import notify, registry
from dropml.config import settings
from dropml.errors import NotFound
from dropml.monitoring.challenger import HeadToHead, head_to_head
from dropml.monitoring.realized import HOLDOUT_PREFIX
from dropml.storage import keys
from dropml.usecases import live, realized

logger = logging.getLogger(__name__)

PROMOTED_BY = "monitoring"


@dataclass(frozen=True)
class Comparison:
    """A project's champion and challenger: each one's realized accuracy and holdout, and their head-to-head."""

    project: str
    champion: realized.RealizedSummary
    challenger: realized.RealizedSummary
    head_to_head: HeadToHead
    margin: float
    window_rows: int
    auto_promote: bool

    @property
    def beats(self) -> bool:
        """Whether the challenger beats the champion by more than the margin over enough shared rows."""
        return self.head_to_head.beats(self.margin, self.window_rows)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (the Monitoring page's and ``GET .../monitoring``'s ``challenger``)."""
        return {
            "project": self.project,
            "champion": self.champion.to_json(),
            "challenger": self.challenger.to_json(),
            "head_to_head": self.head_to_head.to_json(),
            "margin": self.margin,
            "window_rows": self.window_rows,
            "auto_promote": self.auto_promote,
            "beats": self.beats,
        }


def compare(project: str) -> Comparison:
    """The live version against the challenger over ``monitoring.realized.lookback_days``.

    Raises:
        NotFound: nothing live, or no challenger.
    """
    current = registry.live_version(keys.validate_project(project))
    if current is None:
        raise NotFound(f"project {project!r} has no live version")
    challenger = registry.challenger_version(project)
    if challenger is None:
        raise NotFound(
            f"project {project!r} has no challenger; make one with `dropml promote {project} <version> --shadow`"
        )
    return _compare(project, current.version, challenger.version)


def _compare(project: str, champion_version: int, challenger_version: int) -> Comparison:
    conf = settings().monitoring.for_project(project)
    days = conf.realized.lookback_days
    champion = realized.realized_summary(project, champion_version, days)
    challenger = realized.realized_summary(project, challenger_version, days)
    manifest = registry.read_manifest(project, champion_version)
    head = head_to_head(
        manifest.task,
        manifest.rank_metric.removeprefix(HOLDOUT_PREFIX),
        realized.recent_pairs(project, champion_version, days),
        realized.recent_pairs(project, challenger_version, days),
        conf.challenger.window_rows,
    )
    return Comparison(
        project, champion, challenger, head, conf.challenger.margin, conf.challenger.window_rows, conf.auto_promote
    )


def check(project: str) -> Comparison | None:
    """Hold the challenger to the champion on their shared labelled rows; announce a win, promote it if configured.

    Returns the comparison (None when there is no live version or no challenger). Never raises for a failed
    promotion: it is announced.
    """
    current = registry.live_version(project)
    challenger = registry.challenger_version(project)
    if current is None or challenger is None or challenger.version == current.version:
        return None
    comparison = _compare(project, current.version, challenger.version)
    if comparison.beats:
        _announce_win(comparison, current.version, challenger.version)
        if comparison.auto_promote:
            _promote(project, challenger.version)
    return comparison


def _announce_win(comparison: Comparison, champion: int, challenger: int) -> None:
    head = comparison.head_to_head
    then = "; promoting it" if comparison.auto_promote else ""
    notify.announce(
        "challenger",
        "alert",
        f"{comparison.project}: challenger v{challenger} beats champion v{champion} by {head.gain:.1%} on "
        f"{head.metric} over the last {head.rows} labelled rows{then}",
        comparison.project,
        challenger,
        champion=champion,
        metric=head.metric,
        rows=head.rows,
        gain=head.to_json()["gain"],
        head_to_head=head.to_json(),
        margin=comparison.margin,
        auto_promote=comparison.auto_promote,
    )


def _promote(project: str, version: int) -> None:
    """Make the challenger live (recorded and announced as any promotion); a failure is announced, never lost."""
    try:
        live.promote(project, version, by=PROMOTED_BY)
    except Exception as err:
        logger.exception("automatic promotion failed", extra={"project": project, "version": version})
        notify.announce(
            "promote",
            "failed",
            f"{project}: automatic promotion of challenger v{version} failed",
            project,
            version,
            by=PROMOTED_BY,
            error=str(err),
        )
