"""Operator actions shared by the `dropml` CLI and the admin API: promote, roll back, retrain.

Each does the registry change and announces it, so both entry points stay a
parse-call-shape shell and say the same thing on SNS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dropml import registry
from dropml.errors import BadInput, ConfigError
from dropml.ops import notify
from dropml.storage import keys

if TYPE_CHECKING:
    from dropml.manifest import Manifest


@dataclass(frozen=True)
class LiveChange:
    """A change of a project's live version: what it is now and what it was."""

    project: str
    version: int
    was: int | None
    champion: str


def promote(project: str, version: int, by: str = "cli") -> LiveChange:
    """Make a published version live (the same checks as publishing) and announce it.

    Raises:
        NotFound: no such version.
        Conflict: the version is archived.
        ChecksumMismatch: its artifacts differ from its manifest.
    """
    return _change_live(
        "promote",
        project,
        lambda: registry.promote(project, version),
        lambda manifest, was: f"{project} v{manifest.version} promoted (was {f'v{was}' if was else 'nothing'})",
        by,
    )


def rollback(project: str, by: str = "cli") -> LiveChange:
    """Make the newest earlier version that was once live, live again, and announce it.

    Raises:
        NotFound: nothing live, or nothing earlier to roll back to.
    """
    return _change_live(
        "rollback",
        project,
        lambda: registry.rollback(project),
        lambda manifest, _was: f"{project} rolled back to v{manifest.version}",
        by,
    )


def _change_live(
    action: str,
    project: str,
    change: Callable[[], Manifest],
    summary: Callable[[Manifest, int | None], str],
    by: str,
) -> LiveChange:
    """Run a registry change of the live version and announce it with what was live before."""
    before = registry.live_version(keys.validate_project(project))
    manifest = change()
    was = before.version if before else None
    notify.announce(action, "succeeded", summary(manifest, was), project, manifest.version, by=by, was=was)
    return LiveChange(project, manifest.version, was, manifest.champion)


def checked_overrides(project: str, overrides: Any) -> dict[str, Any]:
    """Training setting overrides for ``project``, validated against the project's settings ({} for None).

    Raises:
        BadInput: not an object (400), or settings that do not validate (422, naming key and value).
    """
    from dropml.config import settings

    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise BadInput("overrides", overrides, f"overrides must be an object of training settings (got {overrides!r})")
    try:
        settings().training_for(project, overrides)
    except ConfigError as err:
        raise BadInput(
            "overrides", overrides, f"overrides are not valid training settings: {err}", http_status=422
        ) from None
    return overrides


def retrain(project: str, key: str | None = None, overrides: Any = None, by: str = "cli") -> tuple[str, str]:
    """Start a training run of ``project`` now, on ``key`` or its newest training file; returns (key, task).

    Raises:
        BadInput: bad overrides, or a key that is not training data of the project.
        NotFound: no such key, or the project has no training file.
        LaunchFailed: the job did not start.
    """
    from dropml import storage
    from dropml.pipeline import launcher, triggers
    from dropml.registry import project_settings

    checked = checked_overrides(keys.validate_project(project), overrides)
    found = storage.head(key) if key else triggers.newest_data_file("train", project)
    if keys.parse_data_key(found.key, kind="train").project != project:
        raise BadInput("key", found.key, f"{found.key} is not training data of project {project!r}")
    task = launcher.launch("train", found.key, project_settings.run_overrides(project, checked) or None)
    notify.announce("train", "succeeded", f"retrain of {project} started", project, key=found.key, task=task, by=by)
    return found.key, task
