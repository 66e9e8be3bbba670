"""Failpoints: kill this process at a named step, to prove that a crash there loses and publishes nothing.

``DROPML_FAILPOINT=<name>`` makes :func:`failpoint` ``<name>`` SIGKILL its own
process, exactly as the OOM killer or a stopped Fargate task would: no
``finally`` runs, nothing is flushed. Unset (always, in production), a
failpoint is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAILPOINT_ENV = "DROPML_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here, without cleanup, if ``DROPML_FAILPOINT`` names this point."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
