"""What one app instance keeps between requests: settings, the live models per project, immutable manifests."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from flask import current_app, g, request

from dropml import registry
from dropml.errors import BadInput
from dropml.scoring.cache import ModelCaches
from dropml.storage import keys

if TYPE_CHECKING:
    from dropml.config import Settings
    from dropml.manifest import Manifest
    from dropml.scoring.cache import ModelCache

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROJECTS_TTL_SECONDS = 30.0
MODEL_CHOICES = ("all", "champion")
logger = logging.getLogger(__name__)


class WebState:
    """Per-app serving state (kept in ``app.extensions["dropml"]``)."""

    def __init__(self, conf: Settings, **cache_options: Any) -> None:
        self.settings = conf
        self.caches = ModelCaches(conf.serving.model_ttl_seconds, **cache_options)
        self._manifests: dict[tuple[str, int], Manifest] = {}
        self._projects: tuple[float, list[str]] = (float("-inf"), [])
        self._lock = threading.Lock()

    def cache(self, project: str) -> ModelCache:
        """The live-model cache of ``project``."""
        return self.caches.for_project(project)

    def manifest(self, project: str, version: int) -> Manifest:
        """A version's manifest, read from S3 once (versions are immutable).

        Raises:
            NotFound: no such version.
        """
        found = self._manifests.get((project, version))
        if found is None:
            found = registry.read_manifest(project, version)
            with self._lock:
                if len(self._manifests) > 64:
                    self._manifests.clear()
                self._manifests[(project, version)] = found
        return found

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


def state() -> WebState:
    """The serving state of the current app."""
    return current_app.extensions["dropml"]


def request_id() -> str:
    """This request's id: the caller's X-Request-ID when it is sane, else a new one (:func:`request_id_for`)."""
    found = getattr(g, "request_id", None)
    if found is None:
        found = g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
    return found


def request_id_for(given: str) -> str:
    """The id of a request whose X-Request-ID header is ``given``: that when it is sane, else 32 new hex digits.

    A new id is 128 random bits from the process's generator (seeded from the
    OS and reseeded in every forked worker), not ``uuid4``: its ``getrandom``
    call lets other threads take the interpreter mid-request, a visible cost
    when an answer takes a fraction of a millisecond. An id names a request;
    it is not a secret.
    """
    return given if _REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"


def flush_audit_if_asked(conf: Settings) -> None:
    """Write this invocation's audit records now when ``audit.flush_every_request`` (Lambda freezes after it)."""
    if not conf.audit.flush_every_request:
        return
    from dropml import audit

    try:
        audit.flush()
    except Exception:  # records stay queued for the next flush; never fail the answer
        logger.exception("audit flush at the end of the request failed")


def project_name(from_path: str | None = None) -> str:
    """The project a request is about: the path's (``/p/<project>/``), else ``?project=``, else the default.

    Raises:
        BadInput: not a valid project name.
    """
    name = from_path or request.args.get("project") or state().settings.serving.default_project
    return keys.validate_project(name)


def models_choice() -> str:
    """``?models=all`` (default) or ``?models=champion``.

    Raises:
        BadInput: anything else.
    """
    return checked_models_choice(request.args.get("models", "all"))


def checked_models_choice(choice: str) -> str:
    """``choice`` when it is ``all`` or ``champion``.

    Raises:
        BadInput: anything else.
    """
    if choice not in MODEL_CHOICES:
        raise BadInput("models", choice, f"models must be 'all' or 'champion' (got {choice!r})")
    return choice
