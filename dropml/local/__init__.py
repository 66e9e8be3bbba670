"""The local world: moto's server standing in for AWS, resources made from template.yaml, a poller and local jobs.

Nothing that runs in the cloud imports this package (tests/integration/test_cloud_install.py checks a
plain install); it needs the dev install (moto, PyYAML), which importing it checks first.

- :mod:`~dropml.local.moto_server`: moto's server on 127.0.0.1 and pointing boto3 at it
- :mod:`~dropml.local.world`: the template's queues, bucket, topic, parameters and cluster, made on moto
- :mod:`~dropml.local.roles`: each component's role from the SAM-transformed template, created and assumed
- :mod:`~dropml.local.iam_check`: every recorded call checked against its component's exact policies, offline
- :mod:`~dropml.local.poller`: hands SQS messages to the same Lambda handlers, as the event source mapping does
- :mod:`~dropml.local.jobs`: jobs as local processes, the ``local`` launcher
- :mod:`~dropml.local.running`: start and stop all of it (``make demo``, ``dropml local up``)
- :mod:`~dropml.local.cli`: ``dropml local up|down`` (attached to the ``dropml`` CLI as a plugin)
- :mod:`~dropml.local.web_process`: gunicorn hooks for the web app run beside the world
- :mod:`~dropml.local.demo`: ``make demo``, the whole chain from an upload to live predictions
- :mod:`~dropml.local.rehearsal`: ``make deploy``'s path rehearsed on the stand-in as a fresh account, with
  :mod:`~dropml.local.standin_stack` (the template through moto's CloudFormation, and what it leaves out),
  :mod:`~dropml.local.service_access` (what AWS's own services need, simulated) and
  :mod:`~dropml.local.fresh_account` (a new account's limits)
"""

from importlib.util import find_spec

_DEV_DEPENDENCIES = {
    "moto": "moto[server]",
    "yaml": "PyYAML",
    "samtranslator": "aws-sam-translator",
}  # module → the package that provides it
_MISSING = [module for module in _DEV_DEPENDENCIES if find_spec(module) is None]
if _MISSING:
    raise ModuleNotFoundError(
        "the local world (dropml.local) needs the dev install: pip install 'dropml[dev]', or make install in a "
        f"checkout (missing: {', '.join(_DEV_DEPENDENCIES[m] for m in _MISSING)})",
        name=_MISSING[0],
    )

from dropml.local.moto_server import (  # noqa: E402 - after the check: a missing dependency is named, not hit
    LOCAL_ENV,
    MotoServer,
    ensure_bucket,
    free_port,
    local_environment,
    start_moto,
    use_endpoint,
    wait_until_up,
)

__all__ = [
    "LOCAL_ENV",
    "MotoServer",
    "ensure_bucket",
    "free_port",
    "local_environment",
    "start_moto",
    "use_endpoint",
    "wait_until_up",
]
