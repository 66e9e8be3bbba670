"""Start and stop the local world: the one way ``make demo``, ``dropml local up`` and the end-to-end tests do it.

:func:`start` starts moto's server (enforcing IAM unless told not to), makes the
deployer in its first calls, builds the template's resources on it
(:func:`dropml.local.world.build`, which also points config at the topic),
creates and assumes each component's role (:mod:`dropml.local.roles`), makes
local processes this process's launcher (:mod:`dropml.local.jobs`, jobs get the
task role), starts the poller (each function polls and runs as its own role)
and writes the state file other processes join it by
(:data:`dropml.connection.LOCAL_WORLD_STATE`: the ``dropml`` CLI applies its
environment and acts as the operator, whose role has only the template's
``OperatorPolicy``; the process that started the world acts as the deployer, who
may do anything). The web app gets its role
from :meth:`RunningWorld.component_environment`. :meth:`RunningWorld.stop`
undoes it in reverse order.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropml import aws, connection, notify
from dropml.config import settings
from dropml.errors import Conflict
from dropml.local import iam_check, jobs, poller, roles, world
from dropml.local.moto_server import MotoServer, local_environment, start_moto, use_endpoint

LAUNCHER_KIND_ENV = "DROPML__LAUNCHER__KIND"
SUBNETS_ENV = "DROPML__LAUNCHER__SUBNETS"
SECURITY_GROUPS_ENV = "DROPML__LAUNCHER__SECURITY_GROUPS"


@dataclass
class RunningWorld:
    """A started local world: the moto server, what was built on it, the poller, and how to join it."""

    moto: MotoServer
    world: world.World
    poller: poller.Poller
    environment: dict[str, str]  # what a process applies to join this world (as the operator, with IAM enforced)
    state_file: Path | None
    roles: dict[str, roles.ComponentRole] = field(default_factory=dict)  # by component; empty: IAM not enforced
    stack_names: dict[str, str] = field(default_factory=dict)  # what the roles' Refs resolved to
    transformed: dict[str, Any] = field(default_factory=dict)  # the SAM-transformed template the roles came from
    recording: Path | None = None  # every request the stand-in received (iam_check reads it)

    def check_iam(self) -> iam_check.CheckResult:
        """Check every call each component made so far against its exact policies (:mod:`dropml.local.iam_check`).

        Raises:
            ValueError: the world was started without ``enforce_iam`` or without ``record_calls``.
        """
        if not self.roles or self.recording is None:
            raise ValueError("the world records and checks calls only when started with enforce_iam and record_calls")
        return iam_check.check_recording(self.recording, self.roles, self.stack_names, self.transformed)

    def component_environment(self, component: str) -> dict[str, str]:
        """The environment of a process of ``component`` (e.g. ``WebApp``): the world's, with its role's keys.

        Raises:
            KeyError: the world enforces IAM and has no such component.
        """
        if not self.roles:
            return dict(self.environment)
        return {**self.environment, **self.roles[component].environment()}

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
    enforce_iam: bool = True,
    record_calls: Path | None = None,
) -> RunningWorld:
    """Start moto (a child process unless ``in_process``), build the world, launch locally, poll; see the module.

    ``log_level`` is applied once the handlers are loaded (they configure JSON
    logging at INFO); ``state_file`` None writes none; ``enforce_iam`` False
    (needed with ``in_process``) lets every call through with moto's test keys;
    ``record_calls`` has the stand-in record every request into that file, for :meth:`RunningWorld.check_iam`.

    Raises:
        Conflict: ``state_file`` belongs to a local world that still runs.
    """
    if state_file is not None and (other := connection.running_local_world(state_file)) is not None:
        raise Conflict(
            f"a local world is running already (pid {other.pid}, {other.endpoint}, described by {state_file}); "
            "stop it first: dropml local down"
        )
    recording = iam_check.recording_environment(record_calls) if record_calls else None
    moto = start_moto(in_process=in_process, port=port, enforce_iam=enforce_iam, environment=recording)
    running: RunningWorld | None = None
    try:
        region = settings().storage.region
        deployer = roles.create_deployer(moto.endpoint, region) if enforce_iam else None
        use_endpoint(moto.endpoint, deployer)
        built = world.build()
        component_roles: dict[str, roles.ComponentRole] = {}
        names: dict[str, str] = {}
        transformed: dict[str, Any] = {}
        if enforce_iam:
            transformed = roles.sam_transform(region=region)
            stack = settings().stack_name
            names = roles.stack_names(transformed, built, stack, region)
            component_roles = roles.create_component_roles(transformed, names, stack, aws.boto3_session())
        task = component_roles.get("TrainingTask")
        environment = {
            **local_environment(moto.endpoint, deployer),
            notify.TOPIC_ARN_ENV: built.topic_arn,
            LAUNCHER_KIND_ENV: jobs.KIND,  # the world's processes start jobs as local processes
            jobs.TASK_ENVIRONMENT_ENV: json.dumps(task.environment() if task else {}),
        }
        if task is not None:  # jobs are also run on the stand-in's ECS (jobs.start_process), in its default VPC
            environment[SUBNETS_ENV] = json.dumps(built.subnets)
            environment[SECURITY_GROUPS_ENV] = json.dumps(built.security_groups)
        connection.use_environment(environment)  # this process (the demo, the tests) acts as the deployer
        operator = component_roles.get(roles.OPERATOR)
        if operator is not None:  # the processes that join (dropml commands) act as the operator
            environment.update(operator.environment())
        jobs.register()
        credentials = {component: role.credentials for component, role in component_roles.items()}
        routes = poller.routes_for(built, credentials)  # imports the handlers
        if log_level:
            logging.getLogger().setLevel(log_level)
        running = RunningWorld(
            moto=moto,
            world=built,
            poller=poller.Poller(routes),
            environment=environment,
            state_file=state_file,
            roles=component_roles,
            stack_names=names,
            transformed=transformed,
            recording=record_calls,
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
