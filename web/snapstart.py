"""What the web app does before Lambda takes its SnapStart snapshot: the imports its first requests would do.

With SnapStart on (``snap_start`` in zappa_settings.json), Lambda runs Init once, when a function version is
published, and snapshots the initialised environment's memory; every cold start then resumes from that
snapshot instead of running Init. Whatever Init has imported is free on every cold start, so under SnapStart
Init also imports what the first JSON record, CSV body and form page would: onnxruntime, numpy, pandas,
boto3/botocore and the AWS service models dropml reads, and the page templates (compiled by Jinja).

Lambda names the kind of Init in ``AWS_LAMBDA_INITIALIZATION_TYPE`` (``snap-start``); anywhere else
(gunicorn, an on-demand Lambda cold start, tests) nothing happens here, because there these imports would
only delay the first answer (a JSON record of numbers needs neither pandas nor Jinja).

Every environment restored from one snapshot starts with the same memory, so nothing unique may be made before
it (AWS: "Handling uniqueness with Lambda SnapStart"): no AWS client is made, no credential read and no
connection opened here (clients are still made on the first request), and ``random``, which makes request ids
(web/state.py), is reseeded from the OS after each restore through the runtime's hook
(``snapshot_restore_py.register_after_restore``), else every restored environment would hand out the same ids.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import time
from typing import TYPE_CHECKING

from dropml import aws

if TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger(__name__)

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"
# what a first JSON, CSV and form request import that the app's own import does not
FIRST_REQUEST_MODULES = ("numpy", "onnxruntime", "pandas", "dropml.scoring.csv_input", "dropml.storage.csv_format")
AWS_SERVICES = ("s3", "ssm", "sns")  # the live version (SSM), the version's files (S3), announcements (SNS)
TEMPLATES = ("predict.html", "upload.html", "results.html", "models.html", "error.html")


def is_snapshot_init() -> bool:
    """Whether this process is Lambda's SnapStart Init (run at publish time, then snapshotted)."""
    return os.environ.get(INITIALIZATION_TYPE) == SNAP_START


def prepare_snapshot(app: Flask) -> float:
    """Make the snapshot safe to share (reseed ``random`` after each restore) and fast (:func:`prime`).

    Call it under :func:`is_snapshot_init`; returns the seconds priming took.

    Raises:
        RuntimeError: the runtime's ``snapshot_restore_py`` is missing, so ids would repeat across restores.
    """
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        raise RuntimeError(
            "SnapStart Init without the Lambda runtime's snapshot_restore_py: request ids would repeat in every "
            "restored environment; turn snap_start off for this function"
        ) from None
    register_after_restore(random.seed)  # no argument: from os.urandom, different in each restored environment
    return prime(app)


def prime(app: Flask) -> float:
    """Do the first requests' imports now, so the snapshot holds them; returns the seconds it took.

    Only the work itself: call it under :func:`is_snapshot_init`.
    """
    started = time.perf_counter()
    for name in FIRST_REQUEST_MODULES:
        importlib.import_module(name)
    aws.load_service_models(AWS_SERVICES)
    for name in TEMPLATES:
        app.jinja_env.get_template(name)
    seconds = time.perf_counter() - started
    logger.info("primed for the SnapStart snapshot", extra={"seconds": round(seconds, 3)})
    return seconds
