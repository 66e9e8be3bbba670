"""Which prediction engines this process has, and what a version needs of them.

A model is predicted by its compiled form (onnxruntime) or by its pickled scikit-learn pipeline. The web
app's lean Lambda package (stage ``dev`` of zappa_settings.json) ships onnxruntime and leaves scikit-learn,
scipy and joblib out, so there a version whose every model is compiled is served, and any other is refused
with :class:`~dropml.errors.NeedsScikitLearn` naming its uncompiled models and the stage that serves them
(``full``: the same app with scikit-learn, as a second function). The model cache reports that refusal on
``/api/v1/health``, announces it, and keeps serving the version it had.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING

from dropml.errors import NeedsScikitLearn

if TYPE_CHECKING:
    from dropml.manifest import Manifest

FULL_STAGE = "full"  # zappa_settings.json: the slim package with scikit-learn (web/README.md)


@functools.cache
def scikit_learn_available() -> bool:
    """Whether scikit-learn and joblib (which unpickles its pipelines) can be imported here, without importing them."""
    return all(importlib.util.find_spec(name) is not None for name in ("sklearn", "joblib"))


def require_scikit_learn(manifest: Manifest, uncompiled: list[str]) -> None:
    """Refuse a version whose ``uncompiled`` models this process cannot predict with: it has no scikit-learn.

    Raises:
        NeedsScikitLearn: ``uncompiled`` is not empty and scikit-learn or joblib is not installed.
    """
    if not uncompiled or scikit_learn_available():
        return
    names = ", ".join(repr(name) for name in uncompiled)
    raise NeedsScikitLearn(
        f"{manifest.project} v{manifest.version}: model(s) {names} have no compiled form and this package has no "
        f"scikit-learn (the lean Lambda package serves compiled models only). Serve this project from the "
        f"'{FULL_STAGE}' stage (zappa deploy {FULL_STAGE}: scikit-learn included, a slower cold start) or from "
        "web/Dockerfile, or publish a version whose models all compile"
    )
