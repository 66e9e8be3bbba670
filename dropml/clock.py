"""The time every record is stamped with: UTC, ISO 8601, milliseconds, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """The current UTC time as an ISO 8601 string (how every record is stamped)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
