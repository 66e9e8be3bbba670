"""The process's one cache of loaded versions: each version is unpickled once, whichever path asks for it.

The web app's live models (:class:`~dropml.scoring.live_model.LiveModel` loads
through it), file scoring, the Dask path and a labelled file's evaluation all call
:func:`cached_version`. A version never changes once published, so a loaded
one is reused for as long as it is in memory. The key is the manifest's
``(project, version, run_id, created_at)``: a stand-in that was reset (tests)
never serves the pipelines of another "v1".

Memory stays bounded: the ``KEEP`` most recently asked versions are held
here; an older one stays reachable (never loaded twice) only while someone
else still holds it (e.g. a project's live model in the web app), and is freed
with its last holder. Copies of a version on Dask workers are tied to the
loaded object (:mod:`dropml.scoring.dask_executor`), so they go when it goes.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

from dropml import registry
from dropml.scoring.load import LoadedVersion, load_version

if TYPE_CHECKING:
    from dropml.manifest import Manifest

logger = logging.getLogger(__name__)

KEEP = 2  # the live version and the one before it: a swap or a rollback reloads nothing
VersionKey = tuple[str, int, str, str]


def version_key(manifest: Manifest) -> VersionKey:
    """What identifies a loaded version: its project, number, training run and creation time."""
    return (manifest.project, manifest.version, manifest.run_id, manifest.created_at)


class VersionCache:
    """Loaded versions by :func:`version_key`: the ``keep`` most recently asked held, any other while alive."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._recent: OrderedDict[VersionKey, LoadedVersion] = OrderedDict()  # held here, most recent last
        self._alive: weakref.WeakValueDictionary[VersionKey, LoadedVersion] = weakref.WeakValueDictionary()
        self._loading: dict[VersionKey, threading.Lock] = {}  # one load per version at a time; others wait

    def get(self, project: str, version: int) -> LoadedVersion:
        """A version ready to predict, unpickled at most once while it is in memory.

        Reads the manifest (one small S3 read) to know which version this is;
        loads the pipelines only when no copy of that exact version is in memory.

        Raises:
            NotFound: no such version, or an artifact is missing.
            ChecksumMismatch: an artifact differs from the manifest (nothing is cached then).
            BadInput: the manifest is malformed.
        """
        manifest = registry.read_manifest(project, version)
        key = version_key(manifest)
        found = self._remembered(key)
        if found is not None:
            return found
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        try:
            with loading:
                found = self._remembered(key)  # another thread may have loaded it while this one waited
                if found is None:
                    found = load_version(project, version, manifest)
                    self._remember(key, found)
        finally:
            with self._lock:
                self._loading.pop(key, None)
        return found

    def _remembered(self, key: VersionKey) -> LoadedVersion | None:
        with self._lock:
            found = self._alive.get(key)
            if found is not None:
                self._recent[key] = found  # asked again: among the most recent now
                self._recent.move_to_end(key)
                self._trim_locked()
            return found

    def _remember(self, key: VersionKey, loaded: LoadedVersion) -> None:
        with self._lock:
            self._alive[key] = loaded
            self._recent[key] = loaded
            self._trim_locked()

    def _trim_locked(self) -> None:
        while len(self._recent) > self.keep:
            self._recent.popitem(last=False)  # still served while someone else holds it (see _alive)


_cache = VersionCache()


def cached_version(project: str, version: int) -> LoadedVersion:
    """A version ready to predict, from the process's one cache (see :meth:`VersionCache.get`).

    Raises:
        NotFound: no such version, or an artifact is missing.
        ChecksumMismatch: an artifact differs from the manifest.
        BadInput: the manifest is malformed.
    """
    return _cache.get(project, version)
