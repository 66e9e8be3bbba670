"""Where this process's AWS calls go: AWS itself, an endpoint, or a running local world.

A process is pointed somewhere by its environment (boto3's ``AWS_*`` variables
and dropml's ``DROPML__*`` overrides); :func:`use_environment` applies one and
forgets the cached settings and clients. A running local world (``make demo``,
``dropml local up``) writes :data:`LOCAL_WORLD_STATE` in its working directory:
its pid, endpoint and the environment a process applies to join it (endpoint,
region, credentials, the topic's ARN, the launcher kind). Reading that file
needs nothing from :mod:`dropml.local`, so the ``dropml`` CLI finds a running
world on an install without the local world's dev dependencies
(:func:`connect`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dropml import aws
from dropml.config import reset_settings_cache, settings
from dropml.jobs import launcher

LOCAL_WORLD_STATE = Path(".dropml") / "local.json"


@dataclass(frozen=True)
class RunningLocalWorld:
    """A local world some process runs: that process, its endpoint and the environment that joins it."""

    pid: int
    endpoint: str
    bucket: str
    environment: dict[str, str] = field(default_factory=dict)


def use_environment(environment: Mapping[str, str]) -> None:
    """Apply ``environment`` to this process (and the processes it starts) and reload settings and clients."""
    os.environ.update(environment)
    reset_settings_cache()
    aws.reset_clients()


def connect(endpoint_url: str | None) -> None:
    """Point this process at a running local world, else at ``endpoint_url``, else leave it on AWS.

    A local world running from this directory is joined when no endpoint is
    given or the given one is its own: its environment (endpoint, credentials,
    topic, launcher kind) is applied and its launcher registered, so a job this
    process starts (``dropml train --set``) starts as the world starts its own.
    """
    running = running_local_world()
    if running is not None and endpoint_url in (None, running.endpoint):
        use_environment(running.environment)
        launcher.register_installed(settings().launcher.kind)
    elif endpoint_url:
        use_environment({"AWS_ENDPOINT_URL": endpoint_url})


def running_local_world(state_file: Path = LOCAL_WORLD_STATE) -> RunningLocalWorld | None:
    """The local world ``state_file`` describes, if its process still runs (None otherwise)."""
    try:
        state = json.loads(state_file.read_text())
        world = RunningLocalWorld(
            pid=int(state["pid"]),
            endpoint=str(state["endpoint"]),
            bucket=str(state["bucket"]),
            environment={str(k): str(v) for k, v in state["environment"].items()},
        )
        os.kill(world.pid, 0)  # signal 0: is it alive (raises if not)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return world


def save_local_world(world: RunningLocalWorld, state_file: Path = LOCAL_WORLD_STATE) -> None:
    """Write ``world``'s state file, for the processes that join it."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(asdict(world), indent=2))
