"""The error types dropml raises; entry points turn them into 4xx answers or exit codes."""

from __future__ import annotations

from typing import Any


class DropmlError(Exception):
    """Base of every error dropml raises on purpose; anything else is a bug."""

    code = "error"
    http_status = 500


class BadInput(DropmlError):
    """Input that dropml refuses: names the field, the bad value and why.

    ``problems`` optionally lists several field-level problems at once, each a
    dict with ``field``, ``message`` and optionally ``row`` and ``value``.
    """

    code = "bad_input"
    http_status = 400

    def __init__(
        self,
        field: str,
        value: Any,
        message: str,
        problems: list[dict[str, Any]] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.message = message
        self.problems = problems or [{"field": field, "message": message}]
        if http_status is not None:
            self.http_status = http_status

    def to_dict(self) -> dict[str, Any]:
        """The JSON body an API answers this error with."""
        return {"error": self.code, "field": self.field, "message": self.message, "problems": self.problems}


class TooLarge(BadInput):
    """An input over a configured size limit."""

    code = "too_large"
    http_status = 413


class NotFound(DropmlError):
    """A thing that was asked for by name and does not exist."""

    code = "not_found"
    http_status = 404


class ChecksumMismatch(DropmlError):
    """An artifact whose sha256 differs from what its manifest promises."""

    code = "checksum_mismatch"
    http_status = 409


class NoLiveModel(DropmlError):
    """A project has no published version yet, so nothing can predict."""

    code = "no_live_model"
    http_status = 503


class Unauthorized(DropmlError):
    """A protected action without credentials."""

    code = "unauthorized"
    http_status = 401


class Forbidden(DropmlError):
    """A protected action with wrong credentials, or one that is switched off."""

    code = "forbidden"
    http_status = 403


class Conflict(DropmlError):
    """An action that contradicts the current state (e.g. archiving the live version)."""

    code = "conflict"
    http_status = 409


class ConfigError(DropmlError):
    """config.json or an environment override is invalid; the message names key and value."""

    code = "config_error"


class NeedsScikitLearn(DropmlError):
    """A version with a model that only scikit-learn can serve, loaded where scikit-learn is not installed.

    The lean Lambda package leaves scikit-learn out; the message names the models and where they can be served.
    """

    code = "needs_scikit_learn"
    http_status = 503
