"""The machine's floor for one JSON request: a minimal WSGI app that parses the body and answers fixed JSON.

bench/serve.py serves it under the same gunicorn settings as dropml's app and times it with the same client,
so a single-record figure can be read as "this much above what the machine allows".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

ANSWER = json.dumps({"predictions": ["malignant"]}).encode()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Read and parse the JSON body, answer a fixed prediction."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    json.loads(environ["wsgi.input"].read(size) or b"{}")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]
