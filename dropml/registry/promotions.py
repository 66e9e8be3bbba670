"""Every change of a project's live version, kept for good: one object per change under ``audit/promotions/``.

SSM keeps only a parameter's last 100 versions, so its history alone would let older promotions and rollbacks
drop out of the audit trail. Each change made through :mod:`dropml.registry.live` (publish, promote, rollback,
and the challenger's: challenge, clear) is also written here, once, with a conditional put (nothing overwrites a
record), and ``dropml history`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from dropml import storage
from dropml.storage import keys

Action = Literal["publish", "promote", "rollback", "challenge", "clear"]  # the last two: the challenger's


@dataclass(frozen=True)
class Promotion:
    """One change of a live (or challenger) version: which version, how, when, and SSM's version."""

    project: str
    model_version: int | None  # None: the challenger was cleared
    action: str
    changed_at: str
    parameter_version: int
    pointer: str = "live"  # or "challenger": the version scored in the shadow of the live one


def record(
    project: str, model_version: int | None, action: Action, parameter_version: int, pointer: str = "live"
) -> Promotion:
    """Append one change of ``project``'s live (or challenger) version to its record (the SSM write has happened)."""
    now = datetime.now(UTC)
    change = Promotion(project, model_version, action, now.isoformat(), parameter_version, pointer)
    key = keys.promotion_key(project, now, parameter_version, pointer)
    storage.put_json(key, change.__dict__, if_absent=True)
    return change


def read(project: str) -> list[Promotion]:
    """Every recorded change of ``project``'s live version, oldest first."""
    found = []
    for key in storage.list_keys(keys.promotion_prefix(project)):
        document = storage.get_json(key)
        found.append(
            Promotion(
                project=str(document["project"]),
                model_version=int(document["model_version"]) if document["model_version"] is not None else None,
                action=str(document["action"]),
                changed_at=str(document["changed_at"]),
                parameter_version=int(document["parameter_version"]),
                pointer=str(document.get("pointer", "live")),
            )
        )
    return found
