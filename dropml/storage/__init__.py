"""S3 objects: read, write, list, copy and byte ranges of the data bucket, with missing keys as ``NotFound``.

- :mod:`~dropml.storage.keys`: the bucket's layout, every key built and parsed
- :mod:`~dropml.storage.limits`: the largest data file each prefix accepts
- :mod:`~dropml.storage.csv_format`: how a CSV file is written (encoding, delimiter, decimal mark), detected
- :mod:`~dropml.storage.csv_reader`: the one CSV reader, which reads a file the way it is written
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dropml import aws
from dropml.config import settings
from dropml.errors import BadInput, NotFound
from dropml.storage import keys

STREAM_CHUNK_BYTES = 1024 * 1024
LOOKAHEAD_BYTES = 64 * 1024  # read past a range's end in steps this big to find its last line's newline


def bucket() -> str:
    """The configured data bucket."""
    return settings().storage.bucket


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about an object without reading it."""

    key: str
    size: int
    etag: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class ListedObject:
    """An object as a listing names it: key, size, ETag and when it was last written."""

    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class ObjectBytes:
    """An object's bytes with its ETag and sha256, read in one request."""

    key: str
    body: bytes
    etag: str
    sha256: str
    metadata: dict[str, str]


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of ``data``: how every artifact's integrity is recorded."""
    return hashlib.sha256(data).hexdigest()


def _is_missing(err: Exception) -> bool:
    code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound")


def head(key: str) -> ObjectInfo:
    """Size, ETag and metadata of ``key``.

    Raises:
        NotFound: no such object.
    """
    from botocore.exceptions import ClientError

    try:
        resp = aws.client("s3").head_object(Bucket=bucket(), Key=key)
    except ClientError as err:
        if _is_missing(err):
            raise NotFound(f"s3://{bucket()}/{key} does not exist") from None
        raise
    return ObjectInfo(key, resp["ContentLength"], resp["ETag"].strip('"'), resp.get("Metadata", {}))


def exists(key: str) -> bool:
    """Whether an object exists at ``key``."""
    try:
        head(key)
    except NotFound:
        return False
    return True


def get_bytes(key: str) -> ObjectBytes:
    """Read a whole object, with its ETag and sha256.

    Raises:
        NotFound: no such object.
    """
    from botocore.exceptions import ClientError

    try:
        resp = aws.client("s3").get_object(Bucket=bucket(), Key=key)
    except ClientError as err:
        if _is_missing(err):
            raise NotFound(f"s3://{bucket()}/{key} does not exist") from None
        raise
    body = resp["Body"].read()
    return ObjectBytes(key, body, resp["ETag"].strip('"'), sha256_hex(body), resp.get("Metadata", {}))


def streamed_sha256(key: str) -> str:
    """The hex sha256 of an object, read in 1 MiB chunks: a pickle of hundreds of MB is never held in memory.

    Raises:
        NotFound: no such object.
    """
    from botocore.exceptions import ClientError

    try:
        body = aws.client("s3").get_object(Bucket=bucket(), Key=key)["Body"]
    except ClientError as err:
        if _is_missing(err):
            raise NotFound(f"s3://{bucket()}/{key} does not exist") from None
        raise
    digest = hashlib.sha256()
    for chunk in body.iter_chunks(STREAM_CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def put_bytes(
    key: str,
    body: bytes,
    content_type: str = "application/octet-stream",
    metadata: dict[str, str] | None = None,
    if_absent: bool = False,
) -> str:
    """Write ``body`` at ``key``; returns its sha256.

    With ``if_absent`` the write is conditional (S3 ``If-None-Match: *``) and
    returns ``""`` instead when the key already exists: the atomic
    "first writer wins" that version claims and idempotency markers rely on.
    """
    from botocore.exceptions import ClientError

    client = aws.client("s3")
    extra: dict[str, Any] = _if_none_match(client) if if_absent else {}
    sending = _SEND_IF_NONE_MATCH.set(if_absent)
    try:
        client.put_object(
            Bucket=bucket(), Key=key, Body=body, ContentType=content_type, Metadata=metadata or {}, **extra
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if if_absent and code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            return ""
        raise
    finally:
        _SEND_IF_NONE_MATCH.reset(sending)
    return sha256_hex(body)


# S3's conditional put is the header If-None-Match; botocore knows it as a PutObject parameter since 1.35.x
# (1.34.145 and 1.35.0 lack it, 1.35.10 has it). Lambda's Python runtimes include a botocore whose version
# "depends on the runtime version and your AWS Region", and the web package ships none, so where botocore lacks
# the parameter the header is added to the request itself, before it is signed.
_SEND_IF_NONE_MATCH: ContextVar[bool] = ContextVar("dropml_send_if_none_match", default=False)


def _if_none_match(client: Any) -> dict[str, Any]:
    """``IfNoneMatch`` when this botocore knows the parameter; else the hook that sends the header is in place."""
    if "IfNoneMatch" in client.meta.service_model.operation_model("PutObject").input_shape.members:
        return {"IfNoneMatch": "*"}
    # registering under a unique_id is idempotent: each client sends the header once, however often it is asked
    client.meta.events.register("before-sign.s3.PutObject", _add_if_none_match, unique_id="dropml-if-none-match")
    return {}


def _add_if_none_match(request: Any, **_: Any) -> None:
    if _SEND_IF_NONE_MATCH.get():
        request.headers["If-None-Match"] = "*"


def put_json(key: str, document: Any, if_absent: bool = False) -> str:
    """Write ``document`` as pretty JSON; see :func:`put_bytes`."""
    body = json.dumps(document, indent=2, sort_keys=False, default=str).encode()
    return put_bytes(key, body, "application/json", if_absent=if_absent)


def get_json(key: str) -> Any:
    """Read and parse a JSON object.

    Raises:
        NotFound: no such object.
    """
    return json.loads(get_bytes(key).body)


def list_objects(prefix: str, start_after: str | None = None) -> Iterator[ListedObject]:
    """Every object under ``prefix`` (after ``start_after``, when given), in S3's (lexicographic) order."""
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    extra = {"StartAfter": start_after} if start_after else {}
    for page in paginator.paginate(Bucket=bucket(), Prefix=prefix, **extra):
        for item in page.get("Contents", []):
            yield ListedObject(item["Key"], int(item["Size"]), str(item["ETag"]).strip('"'), item["LastModified"])


def list_keys(prefix: str, start_after: str | None = None) -> Iterator[str]:
    """Every key under ``prefix`` (after ``start_after``, when given), in S3's (lexicographic) order."""
    return (found.key for found in list_objects(prefix, start_after))


def newest_key(prefix: str, suffix: str = "") -> str | None:
    """The most recently written key under ``prefix`` ending with ``suffix`` (None when there is none)."""
    newest: ListedObject | None = None
    for found in list_objects(prefix):
        if found.key.endswith(suffix) and (newest is None or found.last_modified >= newest.last_modified):
            newest = found
    return newest.key if newest else None


def newest_data_file(kind: Literal["train", "test"], project: str) -> ObjectInfo:
    """The most recently written data file of ``project`` under ``train/`` or ``test/`` (ties: the greater key).

    Raises:
        NotFound: the project has no such file.
    """
    prefix = keys.data_prefix(kind, project)
    newest: ListedObject | None = None
    for found in list_objects(prefix):
        try:
            if keys.parse_data_key(found.key, kind=kind).project != project:
                continue  # train/<other project>/x.csv under the default project's prefix
        except BadInput:
            continue
        if newest is None or (found.last_modified, found.key) > (newest.last_modified, newest.key):
            newest = found
    if newest is None:
        raise NotFound(f"project {project!r} has no {kind} file under s3://{bucket()}/{prefix}")
    return ObjectInfo(newest.key, newest.size, newest.etag, {})


def list_folders(prefix: str) -> list[str]:
    """The immediate sub-folder names under ``prefix`` (``prefix`` ends with ``/``)."""
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    names: list[str] = []
    for page in paginator.paginate(Bucket=bucket(), Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            names.append(common["Prefix"][len(prefix) :].rstrip("/"))
    return names


def read_range(key: str, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of an object (empty when the range is empty)."""
    if stop <= start:
        return b""
    resp = aws.client("s3").get_object(Bucket=bucket(), Key=key, Range=f"bytes={start}-{stop - 1}")
    return resp["Body"].read()


def lines_starting_in(key: str, start: int, end: int, size: int) -> bytes:
    """The bytes of every line of the object (``size`` bytes long) that starts at an offset in ``[start, end)``.

    Consecutive ranges therefore split a file into whole lines, each exactly
    once, without anyone reading the whole file: how big CSVs are cut for
    workers that each read their own part. Lines are cut at newlines, so a
    quoted field must not contain one.
    """
    fetch_from = max(start - 1, 0)
    fetched_to = min(end + LOOKAHEAD_BYTES, size)
    data = read_range(key, fetch_from, fetched_to)

    def find_newline(at: int) -> int:
        nonlocal data, fetched_to
        while True:
            found = data.find(b"\n", at)
            if found >= 0 or fetched_to >= size:
                return found
            more_to = min(fetched_to + LOOKAHEAD_BYTES, size)
            data += read_range(key, fetched_to, more_to)
            fetched_to = more_to

    if start == 0:
        first = 0
    else:
        newline = find_newline(0)  # at or after offset start-1: a line starts right after it
        if newline < 0:
            return b""
        first = newline + 1
    if fetch_from + first >= end:
        return b""
    newline = find_newline(max(end - 1 - fetch_from, first))
    last = newline + 1 if newline >= 0 else len(data)
    return data[first:last]


def copy(source_key: str, target_key: str) -> None:
    """Copy an object inside the bucket (a server-side copy: the bytes never pass through here)."""
    aws.client("s3").copy_object(Bucket=bucket(), Key=target_key, CopySource={"Bucket": bucket(), "Key": source_key})


def delete(key: str) -> None:
    """Delete one object (no error when it is already gone)."""
    aws.client("s3").delete_object(Bucket=bucket(), Key=key)
