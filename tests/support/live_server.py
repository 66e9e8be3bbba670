"""The web app served over real HTTP on 127.0.0.1 (werkzeug in a thread), for live-server and browser tests."""

from __future__ import annotations

import contextlib
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

from dropml import audit
from dropml.config import load_settings
from web import create_app

if TYPE_CHECKING:
    from dropml.config import Settings


@contextlib.contextmanager
def serving(conf: Settings | None = None, model_ttl_seconds: float | None = None) -> Iterator[str]:
    """Serve ``create_app`` on a free port until the block ends; yields its base URL, flushes the audit after."""
    conf = conf or load_settings()
    if model_ttl_seconds is not None:
        conf = conf.model_copy(
            update={"serving": conf.serving.model_copy(update={"model_ttl_seconds": model_ttl_seconds})}
        )
    server = make_server("127.0.0.1", 0, create_app(conf), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        audit.flush()


def multipart_csv(filename: str, body: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one CSV file field named ``file``, and its content type (for uploads)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + body + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(
    url: str, body: bytes, content_type: str, accept: str | None = None, request_id: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` over HTTP; the status, headers and body, errors included (a 4xx is an answer to check)."""
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    if request_id:
        headers["X-Request-ID"] = request_id
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
