"""Shared fixtures: one moto server per session over HTTP, reset between tests; versions trained once per session."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.versions import TrainedVersions

from dropml import audit, local, notify
from dropml.aws import reset_clients
from dropml.config import reset_settings_cache
from dropml.local import jobs, world

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
EXAMPLES = ROOT / "examples"
TRAINED_VERSIONS = pytest.StashKey[TrainedVersions]()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[local.MotoServer]:
    """moto's server on 127.0.0.1:<free port>, for the whole session."""
    saved = {k: os.environ.get(k) for k in [*local.LOCAL_ENV, "AWS_ENDPOINT_URL"]}
    server = local.start_moto(in_process=True)
    local.use_endpoint(server.endpoint)
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def aws(moto_server: local.MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[local.MotoServer]:
    """A clean stand-in with the configured bucket and the template's topic, settings reloaded from config.json,
    and local processes as this process's launcher: the test process is part of the local world."""
    moto_server.reset()
    for name in [n for n in os.environ if n.startswith("DROPML__")]:
        monkeypatch.delenv(name)
    local.use_endpoint(moto_server.endpoint)
    local.ensure_bucket()
    world.create_topic()  # points config at it: sets DROPML__NOTIFICATIONS__TOPIC_ARN
    jobs.register()
    yield moto_server
    audit.input_sample().drain()  # this test's kept API inputs die with its stand-in, not at exit against none
    jobs.unregister()
    os.environ.pop(notify.TOPIC_ARN_ENV, None)
    reset_settings_cache()
    reset_clients()


@pytest.fixture(scope="session")
def trained_versions(
    request: pytest.FixtureRequest, moto_server: local.MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> TrainedVersions:
    """Versions made by the real training code on the example sets: trained once per session, written per test."""
    versions = TrainedVersions(tmp_path_factory.mktemp("trained-versions"))
    request.config.stash[TRAINED_VERSIONS] = versions
    return versions


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say what the session-scoped training cost, so a slow data set or setting shows up."""
    versions = config.stash.get(TRAINED_VERSIONS, None)
    if versions is not None and versions.training_seconds:
        spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in versions.training_seconds.items())
        terminalreporter.write_line(f"trained once this session (tests/support/versions.py): {spent}")


def load_event(name: str, **replacements: Any) -> dict[str, Any]:
    """Load ``events/<name>``, the same file ``sam local invoke -e`` uses, filling ``{{key}}`` holes."""
    text = (EVENTS / name).read_text()
    for hole, value in replacements.items():
        text = text.replace("{{" + hole + "}}", str(value))
    return json.loads(text)
