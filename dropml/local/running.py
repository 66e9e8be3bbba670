"""Start and stop the local world: the one way ``make demo`` and ``dropml local up`` do it.

:func:`start` starts moto's server, builds the template's resources on it
(:func:`dropml.local.world.build`, which also points config at the topic),
makes local processes this process's launcher (:mod:`dropml.local.jobs`),
starts the poller and writes the state file other processes join it by
(:data:`dropml.connection.LOCAL_WORLD_STATE`: the ``dropml`` CLI applies its
environment). :meth:`RunningWorld.stop` undoes it in reverse order.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from dropml import connection
from dropml.errors import Conflict
from dropml.local import jobs, poller, world
from dropml.local.moto_server import MotoServer, local_environment, start_moto, use_endpoint
from dropml.ops import notify

LAUNCHER_KIND_ENV = "DROPML__LAUNCHER__KIND"


@dataclass
class RunningWorld:
    """A started local world: the moto server, what was built on it, the poller, and how to join it."""

    moto: MotoServer
    world: world.World
    poller: poller.Poller
    environment: dict[str, str]  # what a process applies to be part of this world
    state_file: Path | None

    def stop(self) -> None:
        """Stop polling, then the local jobs, then moto; remove the state file (idempotent)."""
        self.poller.stop()
        jobs.stop_local_jobs()
        jobs.unregister()
        self.moto.stop()
        if self.state_file is not None:
            found = connection.running_local_world(self.state_file)
            if found is None or found.pid == os.getpid():
                self.state_file.unlink(missing_ok=True)


def start(
    *,
    in_process: bool = False,
    port: int = 0,
    log_level: str | None = None,
    state_file: Path | None = connection.LOCAL_WORLD_STATE,
) -> RunningWorld:
    """Start moto (a child process unless ``in_process``), build the world, launch locally, poll; see the module.

    ``log_level`` is applied once the handlers are loaded (they configure JSON
    logging at INFO); ``state_file`` None writes none.

    Raises:
        Conflict: ``state_file`` belongs to a local world that still runs.
    """
    if state_file is not None and (other := connection.running_local_world(state_file)) is not None:
        raise Conflict(
            f"a local world is running already (pid {other.pid}, {other.endpoint}, described by {state_file}); "
            "stop it first: dropml local down"
        )
    moto = start_moto(in_process=in_process, port=port)
    running: RunningWorld | None = None
    try:
        use_endpoint(moto.endpoint)
        built = world.build()
        environment = {
            **local_environment(moto.endpoint),
            notify.TOPIC_ARN_ENV: built.topic_arn,
            LAUNCHER_KIND_ENV: jobs.KIND,  # the world's processes start jobs as local processes
        }
        connection.use_environment(environment)
        jobs.register()
        routes = poller.routes_for(built)  # imports the handlers
        if log_level:
            logging.getLogger().setLevel(log_level)
        running = RunningWorld(
            moto=moto, world=built, poller=poller.Poller(routes), environment=environment, state_file=state_file
        )
        running.poller.start()
        if state_file is not None:
            connection.save_local_world(
                connection.RunningLocalWorld(os.getpid(), moto.endpoint, built.bucket, environment), state_file
            )
    except BaseException:
        if running is not None:
            running.stop()
        else:
            jobs.unregister()
            moto.stop()
        raise
    return running
