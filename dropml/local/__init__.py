"""The local world: moto's server standing in for AWS, resources made from template.yaml, a poller and local jobs.

Nothing that runs in the cloud imports this package (a test checks it).

- :mod:`~dropml.local.moto_server`: moto's server on 127.0.0.1 and pointing boto3 at it
- :mod:`~dropml.local.world`: the template's queues, bucket, topic, parameters and cluster, made on moto
- :mod:`~dropml.local.poller`: hands SQS messages to the same Lambda handlers, as the event source mapping does
- :mod:`~dropml.local.demo`: ``make demo``, the whole chain from an upload to live predictions
"""

from dropml.local.moto_server import (
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
