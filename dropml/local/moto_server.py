"""The local AWS stand-in: moto's server on 127.0.0.1, and pointing dropml at it.

Locally, S3, SQS, SSM, SNS and ECS are one moto server process on a free port.
Everything else is unchanged: boto3 honours ``AWS_ENDPOINT_URL``, so the same
code talks to AWS when that variable is not set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from dropml import aws, connection
from dropml.aws import Credentials
from dropml.config import settings

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# With IAM enforced, only the first SETUP_CALLS requests go unchecked: create_user, put_user_policy and
# create_access_key of the deployer (dropml.local.roles.create_deployer); AWS's managed policies exist, as on AWS.
SETUP_CALLS = 3
ENFORCE_ENV = {"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS), "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(
    endpoint: str,
    timeout: float = 20.0,
    path: str = "/moto-api/",
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until ``endpoint + path`` answers (moto's server by default; the demo's web app too).

    Raises:
        TimeoutError: it did not answer within ``timeout`` seconds.
        ChildProcessError: ``process``, the server, exited before answering.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}{path}", timeout=1):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise ChildProcessError(f"the server for {endpoint} exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{endpoint} did not answer in {timeout:.0f}s") from None
            time.sleep(0.1)


@dataclass
class MotoServer:
    """A moto server: in this process (a thread, for tests) or a child process (for ``make demo``)."""

    endpoint: str
    _thread_server: Any = None
    _process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def reset(self) -> None:
        """Forget every resource the server holds (between tests)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)


def start_moto(
    in_process: bool = True, port: int = 0, enforce_iam: bool = False, environment: dict[str, str] | None = None
) -> MotoServer:
    """Start moto's server on 127.0.0.1 (a free port unless ``port``) and wait until it answers.

    ``enforce_iam`` (a child process only: moto reads it at import) checks every request after the first
    :data:`SETUP_CALLS` against the caller's IAM policies, as AWS does; those first calls
    must make the deployer (:func:`dropml.local.roles.create_deployer`). ``environment`` is added to the child's
    (e.g. :func:`dropml.local.iam_check.recording_environment`).

    Raises:
        ValueError: ``enforce_iam`` with ``in_process``.
    """
    if (enforce_iam or environment) and in_process:
        raise ValueError("IAM enforcement and recording need moto in its own process (moto reads them at import)")
    if in_process:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, real_port = server.get_host_and_port()
        moto = MotoServer(endpoint=f"http://{host}:{real_port}", _thread_server=server)
    else:
        real_port = port or free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "dropml.local.moto_server", "-H", "127.0.0.1", "-p", str(real_port)],
            env={**os.environ, **(ENFORCE_ENV if enforce_iam else {}), **(environment or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C stops the world's owner, which stops moto last (after the web app's flush)
        )
        moto = MotoServer(endpoint=f"http://127.0.0.1:{real_port}", _process=process)
    wait_until_up(moto.endpoint)
    return moto


def local_environment(endpoint: str, credentials: Credentials | None = None) -> dict[str, str]:
    """The environment variables that point boto3 (and so dropml) at the stand-in, acting with ``credentials``.

    Without ``credentials``, moto's ``testing`` keys (a server that does not enforce IAM takes any).
    """
    found = {**LOCAL_ENV, "AWS_ENDPOINT_URL": endpoint}
    if credentials is not None:
        found.update(AWS_ACCESS_KEY_ID=credentials.access_key_id, AWS_SECRET_ACCESS_KEY=credentials.secret_access_key)
        found["AWS_SESSION_TOKEN"] = credentials.session_token or ""
    return found


def use_endpoint(endpoint: str, credentials: Credentials | None = None) -> None:
    """Point this process (and the processes it starts) at the stand-in at ``endpoint``, acting with ``credentials``."""
    connection.use_environment(local_environment(endpoint, credentials))


def ensure_bucket() -> str:
    """Create the configured bucket if it does not exist; returns its name."""
    from botocore.exceptions import ClientError

    name = settings().storage.bucket
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        s3.create_bucket(Bucket=name)
    return name


def _sign_what_was_sent() -> None:
    """Fix moto 5.2.5's signature check of a GET, HEAD or DELETE without a body (Lambda's, API Gateway's ...).

    With IAM enforced, moto recomputes each signature from ``data=self._body or self._data``; for an empty
    body that is the request's parsed parameters (for Lambda, its headers), never what botocore signed (an
    empty payload), so every such call was refused with SignatureDoesNotMatch. S3's requests are checked by
    another class (signed with the payload's hash header), which this leaves alone.
    """
    from moto.iam.access_control import IAMRequest

    original = IAMRequest._create_aws_request

    def create(self: Any) -> Any:
        if self._body or self._method not in ("GET", "HEAD", "DELETE"):
            return original(self)
        parameters, self._data = self._data, b""
        try:
            return original(self)
        finally:
            self._data = parameters

    IAMRequest._create_aws_request = create  # type: ignore[method-assign]


def serve(argv: list[str]) -> None:
    """Run moto's server (``python -m moto.server`` arguments) with :func:`_sign_what_was_sent` applied."""
    from moto.server import main

    _sign_what_was_sent()
    main(argv)


if __name__ == "__main__":
    serve(sys.argv[1:])
