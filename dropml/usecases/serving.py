"""What one serving process keeps between requests: its settings, each project's live models, immutable manifests.

The web app makes one :class:`Serving` per app; every view and the JSON lane
read the live version, the manifests, the project list and the reports
through it. Nothing here loads at construction: the first request for a
project loads its live version (:class:`~dropml.scoring.live_model.LiveModel`).
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dropml import registry, storage
from dropml.errors import NotFound
from dropml.scoring.live_model import LiveModels
from dropml.scoring.version_cache import cached_version

if TYPE_CHECKING:
    from dropml.config import Settings
    from dropml.manifest import Manifest
    from dropml.scoring.live_model import LiveModel
    from dropml.scoring.load import LoadedVersion

PROJECTS_TTL_SECONDS = 30.0
MANIFESTS_KEPT = 64
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """An EDA plot or the HTML report of a version: its bytes and media type."""

    body: bytes
    content_type: str


class Serving:
    """Per-app serving state (the web app keeps it in ``app.extensions["dropml"]``)."""

    def __init__(self, conf: Settings, **live_model_options: Any) -> None:
        self.settings = conf
        self.live_models = LiveModels(conf.serving.model_ttl_seconds, **live_model_options)
        self._manifests: dict[tuple[str, int], Manifest] = {}
        self._projects: tuple[float, list[str]] = (float("-inf"), [])
        self._challengers: dict[str, tuple[float, LoadedVersion | None]] = {}  # per project: when read, and what
        self._lock = threading.Lock()
        self._challenger_lock = threading.Lock()

    def live_model(self, project: str) -> LiveModel:
        """The live model of ``project``: its live version, hot-swapped."""
        return self.live_models.for_project(project)

    def challenger(self, project: str, live_version: int) -> LoadedVersion | None:
        """The project's challenger, loaded (None: none, or it is ``live_version``); SSM is read once per TTL.

        Called after an answer is built, never before: its read and its first load are off the answer path.

        Raises:
            NotFound, ChecksumMismatch: the challenger's version cannot be loaded (asked again after the TTL).
        """
        with self._challenger_lock:  # one reader per TTL; shadows that come meanwhile wait for what it finds
            checked_at, loaded = self._challengers.get(project, (float("-inf"), None))
            if time.monotonic() - checked_at >= self.settings.serving.model_ttl_seconds:
                self._challengers[project] = (time.monotonic(), loaded)  # a failure is asked again after the TTL
                found = registry.challenger_version(project)
                loaded = cached_version(project, found.version) if found is not None else None
                self._challengers[project] = (time.monotonic(), loaded)  # held here while it is the challenger
        return loaded if loaded is not None and loaded.version != live_version else None

    def manifest(self, project: str, version: int) -> Manifest:
        """A version's manifest, read from S3 once (versions are immutable).

        Raises:
            NotFound: no such version.
        """
        found = self._manifests.get((project, version))
        if found is None:
            found = registry.read_manifest(project, version)
            with self._lock:
                if len(self._manifests) > MANIFESTS_KEPT:
                    self._manifests.clear()
                self._manifests[(project, version)] = found
        return found

    def versions(self, project: str) -> list[int]:
        """The published versions of ``project``, oldest first."""
        return registry.list_versions(project)

    def projects(self) -> list[str]:
        """Projects with models, listed at most every 30 s (for the project switcher)."""
        listed_at, names = self._projects
        if time.monotonic() - listed_at > PROJECTS_TTL_SECONDS:
            try:
                names = registry.list_projects()
            except Exception:  # a listing problem must not break a page
                names = []
            self._projects = (time.monotonic(), names)
        default = self.settings.serving.default_project
        return names if default in names else [default, *names]

    def report(self, project: str, version: int, name: str) -> Report:
        """An EDA plot or the HTML report of a version (or a file the report links to), checksum-checked when listed.

        Raises:
            NotFound: no such version or report.
            ChecksumMismatch: a listed report differs from its manifest.
        """
        manifest = self.manifest(project, version)
        key = _report_key(manifest, name)
        artifact = next((a for a in manifest.artifacts.values() if a.key == key), None)
        body = registry.read_artifact(artifact) if artifact else storage.get_bytes(key).body
        content_type = (artifact.content_type if artifact else None) or mimetypes.guess_type(name)[0]
        if content_type in (None, "application/octet-stream"):
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Report(body, content_type)


def _report_key(manifest: Manifest, name: str) -> str:
    if name in manifest.reports:
        return manifest.reports[name]
    for key in manifest.reports.values():  # a relative link inside the HTML report
        if key.rsplit("/", 1)[-1] == name:
            return key
    raise NotFound(f"version {manifest.version} of {manifest.project!r} has no report {name!r}")
