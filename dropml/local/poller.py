"""The local stand-in for Lambda's SQS event source mapping.

It long-polls each local queue and calls the SAME handler
(``functions/<name>/app.py: lambda_handler``) with the same SQS event shape
Lambda uses. Messages the handler does not report in ``batchItemFailures`` are
deleted; failed ones are left alone, so they come back after the visibility
timeout and, after ``maxReceiveCount`` receives, SQS moves them to the DLQ:
the redrive works locally exactly as in the cloud.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dropml import aws
from dropml.aws import Credentials
from dropml.config import settings
from dropml.events import failed_message_ids

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
_modules: dict[Path, ModuleType] = {}
_modules_lock = threading.Lock()


@dataclass
class LocalContext:
    """The parts of Lambda's context object handlers and powertools read."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    timeout_seconds: float = 60.0
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = (
            f"arn:aws:lambda:{settings().storage.region}:123456789012:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this (simulated) invocation would time out."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(code_uri: str, handler: str = "app.lambda_handler") -> Handler:
    """Import ``<code_uri>/<module>.py`` (relative to the repository) and return its handler function."""
    module_name, function_name = handler.rsplit(".", 1)
    path = (ROOT / code_uri / f"{module_name}.py").resolve()
    with _modules_lock:
        if path not in _modules:
            spec = importlib.util.spec_from_file_location(f"dropml_function_{path.parent.name}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load a handler from {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _modules[path] = module
    return getattr(_modules[path], function_name)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source would pass for ``messages`` (receive_message output)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": settings().storage.region,
            }
            for m in messages
        ]
    }


@dataclass
class Route:
    """One queue and the function that consumes it."""

    function_name: str
    queue_url: str
    queue_arn: str
    handler: Handler
    batch_size: int = 10
    credentials: Credentials | None = None  # the function's role (None: this process's own credentials)


def deliver(route: Route, wait_seconds: int = 1) -> tuple[int, int]:
    """Receive one batch from ``route``'s queue and hand it to its function; (handled, failed).

    All of it runs as the function's role, as on AWS, where the event source mapping polls with it too.
    """
    with aws.using_credentials(route.credentials):
        return _deliver(route, wait_seconds)


def _deliver(route: Route, wait_seconds: int) -> tuple[int, int]:
    sqs = aws.client("sqs")
    received = sqs.receive_message(
        QueueUrl=route.queue_url,
        MaxNumberOfMessages=min(route.batch_size, 10),
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not received:
        return 0, 0
    context = LocalContext(function_name=route.function_name, aws_request_id=str(uuid.uuid4()))
    try:
        response = route.handler(sqs_event(received, route.queue_arn), context)
        failed = failed_message_ids(response or {})
    except Exception:  # like Lambda: an invocation that raises fails the whole batch
        logger.exception("handler raised", extra={"function": route.function_name})
        failed = {m["MessageId"] for m in received}
    for message in received:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(received), len(failed)


class Poller:
    """Threads that deliver each queue's messages to its function until stopped."""

    def __init__(self, routes: list[Route], wait_seconds: int = 1) -> None:
        self.routes = routes
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.delivered = 0
        self.failed = 0

    def _run(self, route: Route) -> None:
        while not self._stop.is_set():
            try:
                handled, failed = deliver(route, self.wait_seconds)
                self.delivered += handled
                self.failed += failed
            except Exception:  # the stand-in restarting, a reset between tests: keep polling
                logger.exception("poll failed", extra={"function": route.function_name})
                self._stop.wait(0.5)

    def start(self) -> Poller:
        """Start one daemon thread per queue."""
        for route in self.routes:
            thread = threading.Thread(target=self._run, args=(route,), name=f"poll-{route.function_name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop polling and wait for the threads (at most one long poll)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.wait_seconds + 30)
        self._threads.clear()


def routes_for(world: Any, credentials: dict[str, Credentials] | None = None) -> list[Route]:
    """A route per function of a :class:`dropml.local.world.World`: its queue, its handler and its role's
    ``credentials`` (by the function's logical id; a function without any uses this process's)."""
    routes = []
    for spec in world.functions:
        queue = world.queues[spec.queue]
        routes.append(
            Route(
                function_name=spec.logical_id,
                queue_url=queue.url,
                queue_arn=queue.arn,
                handler=load_handler(spec.code_uri, spec.handler),
                batch_size=spec.batch_size,
                credentials=(credentials or {}).get(spec.logical_id),
            )
        )
    return routes
