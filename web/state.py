"""The serving state of the current app, and what a request says about itself: its id, project and model choice."""

from __future__ import annotations

import random
import re

from flask import current_app, g, request

from dropml.errors import BadInput
from dropml.storage import keys
from dropml.usecases.serving import Serving

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MODEL_CHOICES = ("all", "champion")


def state() -> Serving:
    """The serving state of the current app."""
    return current_app.extensions["dropml"]


def request_id() -> str:
    """This request's id: the caller's X-Request-ID when it is sane, else a new one (:func:`request_id_for`)."""
    found = getattr(g, "request_id", None)
    if found is None:
        found = g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
    return found


def request_id_for(given: str) -> str:
    """The id of a request whose X-Request-ID header is ``given``: that when it is sane, else 32 new hex digits.

    A new id is 128 random bits from the process's generator (seeded from the
    OS and reseeded in every forked worker), not ``uuid4``: its ``getrandom``
    call lets other threads take the interpreter mid-request, a visible cost
    when an answer takes a fraction of a millisecond. An id names a request;
    it is not a secret.
    """
    return given if _REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"


def project_name(from_path: str | None = None) -> str:
    """The project a request is about: the path's (``/p/<project>/``), else ``?project=``, else the default.

    Raises:
        BadInput: not a valid project name.
    """
    name = from_path or request.args.get("project") or state().settings.serving.default_project
    return keys.validate_project(name)


def models_choice() -> str:
    """``?models=all`` (default) or ``?models=champion``.

    Raises:
        BadInput: anything else.
    """
    return checked_models_choice(request.args.get("models", "all"))


def checked_models_choice(choice: str) -> str:
    """``choice`` when it is ``all`` or ``champion``.

    Raises:
        BadInput: anything else.
    """
    if choice not in MODEL_CHOICES:
        raise BadInput("models", choice, f"models must be 'all' or 'champion' (got {choice!r})")
    return choice


EXPLAIN_TRUE = frozenset({"true", "1", "yes", "on"})
EXPLAIN_FALSE = frozenset({"false", "0", "no", "off", ""})


def explain_choice() -> bool:
    """``?explain=true`` (or 1, yes, on): answer with the champion's reasons; false, 0, no, off or absent: not.

    Raises:
        BadInput: any other value (400, naming ``explain``).
    """
    value = request.args.get("explain", "")
    if value.lower() in EXPLAIN_TRUE:
        return True
    if value.lower() in EXPLAIN_FALSE:
        return False
    raise BadInput("explain", value, f"explain must be true or false (got {value!r})")


def days_asked(default: int = 30) -> int:
    """``?days=``: how many days back a monitoring view reaches (``default`` when absent).

    Raises:
        BadInput: not a whole number.
    """
    asked = request.args.get("days", str(default))
    if not asked.isdigit():
        raise BadInput("days", asked, f"days must be a whole number (got {asked!r})")
    return int(asked)
