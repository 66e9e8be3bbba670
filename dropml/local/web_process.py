"""gunicorn hooks for the web app run beside the local world (``make demo``): its workers launch local jobs.

The web app is its own process, as in the cloud (``gunicorn web.app:app``); the
demo starts it with ``--config python:dropml.local.web_process``, so dropml
never imports ``web`` and the web app never imports the local world. Each
worker registers the ``local`` launcher (an admin retrain starts a local
process, as the poller's process does) and stops its jobs when it exits.
"""

from __future__ import annotations

from typing import Any

from dropml.local import jobs


def post_worker_init(worker: Any) -> None:
    """gunicorn hook, in each worker once the app is loaded: launch jobs as local processes."""
    jobs.register()


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in each worker as it exits: stop the jobs it started, as the world stops its own."""
    jobs.stop_local_jobs()
