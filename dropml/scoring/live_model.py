"""The live models of a process: one version per project, hot-swapped atomically.

:class:`LiveModel` asks SSM for the live version at most once per
``serving.model_ttl_seconds``. When it changes, the whole new version is
loaded in a background thread while the old one keeps answering, then ONE
reference is swapped: each request takes that reference once, so it is
answered wholly by one version and can name it. A version that fails to load
(checksum, missing artifact, unpicklable) leaves the old one serving, is
logged and announced, and shows as ``degraded`` with its reason on /health.

It works the same in a long-running server and in a Lambda container (the
background thread simply runs while the container is thawed).

Versions are loaded through the process's one cache
(:func:`dropml.scoring.version_cache.cached_version`), so a version that file
scoring or an evaluation already loaded is swapped in without unpickling it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dropml import notify, registry
from dropml.errors import NoLiveModel
from dropml.scoring.version_cache import cached_version
from dropml.storage import keys

if TYPE_CHECKING:
    from dropml.registry import LiveVersion
    from dropml.scoring.load import LoadedVersion

logger = logging.getLogger(__name__)

RETRY_FAILED_SECONDS = 60.0


class LiveModel:
    """One project's live version, refreshed from SSM at most once per TTL, swapped in one assignment."""

    def __init__(
        self,
        project: str,
        ttl_seconds: float,
        loader: Callable[[str, int], LoadedVersion] = cached_version,
        live_lookup: Callable[[str], LiveVersion | None] = registry.live_version,
        clock: Callable[[], float] = time.monotonic,
        retry_failed_seconds: float = RETRY_FAILED_SECONDS,
        announce: Callable[..., Any] = notify.announce,
    ) -> None:
        self.project = project
        self.ttl_seconds = ttl_seconds
        self._loader = loader
        self._live_lookup = live_lookup
        self._clock = clock
        self._retry_failed_seconds = retry_failed_seconds
        self._announce = announce
        self._current: LoadedVersion | None = None
        self._checked_at = float("-inf")
        self._live: int | None = None
        self._failure: dict[str, Any] | None = None
        self._lookup_error: str | None = None
        self._refreshing = False
        self._lock = threading.Lock()
        self._first_load = threading.Lock()
        self.lookups = 0  # SSM reads so far (tests and /health)

    # ── the request path ──
    def get(self) -> LoadedVersion:
        """The version to answer this request with; at most one SSM read per TTL, never a load when warm.

        Raises:
            NoLiveModel: nothing is published yet, or the live version cannot be loaded and none was.
        """
        if self._current is None:
            with self._first_load:  # cold: everyone waits for the one load in progress
                if self._current is None and self._due():
                    self._refresh()
        elif self._due():
            self._refresh_in_background()
        current = self._current
        if current is None:
            raise NoLiveModel(self._why_nothing())
        return current

    def _due(self) -> bool:
        return self._clock() - self._checked_at >= self.ttl_seconds

    def _why_nothing(self) -> str:
        if self._failure is not None:
            return (
                f"project {self.project!r}: live version v{self._failure['version']} could not be loaded "
                f"({self._failure['reason']})"
            )
        if self._lookup_error is not None:
            return f"project {self.project!r}: the live model version cannot be read right now"
        return (
            f"project {self.project!r} has no published model yet; put a training CSV under "
            f"{keys.data_prefix('train', self.project)} to train one"
        )

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing or not self._due():
                return
            self._refreshing = True
            self._checked_at = self._clock()  # claim this TTL window: one SSM read
        thread = threading.Thread(target=self._background, name=f"model-refresh-{self.project}", daemon=True)
        thread.start()

    def _background(self) -> None:
        try:
            self._refresh()
        finally:
            with self._lock:
                self._refreshing = False

    # ── the refresh itself ──
    def _refresh(self) -> None:
        self._checked_at = self._clock()
        self.lookups += 1
        try:
            live = self._live_lookup(self.project)
        except Exception as err:
            self._lookup_error = f"{type(err).__name__}: {err}"
            logger.exception("live version lookup failed", extra={"project": self.project})
            return
        self._lookup_error = None
        self._live = live.version if live else None
        if live is None:
            return  # nothing published (or the parameter was reset): keep whatever answers now
        current = self._current
        if current is not None and current.version == live.version:
            self._failure = None
            return
        failure = self._failure
        if (
            failure is not None
            and failure["version"] == live.version
            and self._clock() - failure["at"] < self._retry_failed_seconds
        ):
            return
        self._load(live.version)

    def _load(self, version: int) -> None:
        started = self._clock()
        try:
            loaded = self._loader(self.project, version)
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"
            self._failure = {"version": version, "reason": reason, "at": self._clock()}
            logger.exception("model version load failed", extra={"project": self.project, "model_version": version})
            serving = self._current.version if self._current else None
            self._announce(
                "serving",
                "failed",
                f"{self.project} v{version} could not be loaded",
                project=self.project,
                version=version,
                reason=reason[:1000],
                still_serving=serving,
            )
            return
        previous = self._current.version if self._current else None
        self._current = loaded  # the one swap: requests see the old or the new version, never a mix
        self._failure = None
        logger.info(
            "model version swapped",
            extra={
                "project": self.project,
                "model_version": version,
                "previous": previous,
                "seconds": round(self._clock() - started, 3),
            },
        )

    # ── observability ──
    def status(self) -> dict[str, Any]:
        """What /health reports: ok, degraded (serving, but something is wrong) or no_model, with reasons."""
        current = self._current
        reasons = []
        if self._failure is not None:
            reasons.append(f"live version v{self._failure['version']} could not be loaded: {self._failure['reason']}")
        if self._lookup_error is not None:
            reasons.append(f"cannot read the live version: {self._lookup_error}")
        if current is None:
            state = "no_model"
        elif reasons:
            state = "degraded"
        elif self._live is not None and self._live != current.version:
            state = "updating"
        else:
            state = "ok"
        checked = self._clock() - self._checked_at
        return {
            "project": self.project,
            "status": state,
            "model_version": current.version if current else None,
            "live_version": self._live,
            "champion": current.champion if current else None,
            "loaded_at": current.loaded_at if current else None,
            "load_seconds": round(current.load_seconds, 3) if current else None,
            "checked_seconds_ago": round(checked, 3) if checked != float("inf") else None,
            "reason": "; ".join(reasons) or None,
        }


class LiveModels:
    """A :class:`LiveModel` per project, created on first request for it (bounded)."""

    MAX_PROJECTS = 64

    def __init__(self, ttl_seconds: float, **live_model_options: Any) -> None:
        self.ttl_seconds = ttl_seconds
        self._options = live_model_options
        self._models: dict[str, LiveModel] = {}
        self._lock = threading.Lock()

    def for_project(self, project: str) -> LiveModel:
        """The live model of ``project`` (a valid project name), made on first use."""
        found = self._models.get(project)
        if found is not None:
            return found
        with self._lock:
            if project not in self._models:
                if len(self._models) >= self.MAX_PROJECTS:  # drop a project that never had a model
                    idle = next((p for p, c in self._models.items() if c._current is None), None)
                    self._models.pop(idle or next(iter(self._models)))
                self._models[project] = LiveModel(project, self.ttl_seconds, **self._options)
            return self._models[project]

    def statuses(self) -> list[dict[str, Any]]:
        """The status of every project asked for so far."""
        return [model.status() for model in list(self._models.values())]
