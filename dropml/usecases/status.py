"""What is going on: each project's live and recent versions, the queues' depths, the last announcements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropml import notify, queues, registry
from dropml.config import settings

RECENT_VERSIONS = 5


@dataclass(frozen=True)
class ProjectStatus:
    """One project: its live version (None before the first publish) and its newest versions."""

    name: str
    live: int | None
    recent_versions: list[int]


@dataclass(frozen=True)
class Status:
    """Every project, every queue of the stack (dead-letter queues marked) and the newest announcements."""

    projects: list[ProjectStatus]
    queues: list[queues.QueueInfo]
    announcements: list[dict[str, Any]]


def status(announcements: int = 5) -> Status:
    """The projects with models or configuration, the stack's queues, and the last ``announcements`` messages."""
    found = []
    for name in sorted(set(registry.list_projects()) | set(settings().projects)):
        live = registry.live_version(name)
        versions = registry.list_versions(name)
        found.append(ProjectStatus(name, live.version if live else None, versions[-RECENT_VERSIONS:]))
    return Status(found, queues.stack_queues(), notify.recent(announcements))
