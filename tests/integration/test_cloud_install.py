"""A plain install, as the cloud gets it (no dev extra, not editable): nothing there imports the local world.

One fresh venv (pip's cache makes it about a minute): first the core alone
(what the Lambda layer holds: boto3, pydantic, powertools), where neither
PyYAML nor moto is installed, then ``.[web]`` (the web image and the CLI).
``.[web]`` brings PyYAML in as Dask's own dependency, so the probes there run
with ``yaml``, ``moto`` and ``dropml.local`` made unimportable: any import of
them by dropml, the handlers, the job, the web app or the CLI fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dropml.aws import client as aws_client
from dropml.local import world
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SOURCES = ("pyproject.toml", "README.md", "constraints.txt", "config.json")
SOURCE_DIRECTORIES = ("dropml", "training_job", "web", "functions")
NOT_IN_THE_CLOUD = ("yaml", "moto", "dropml.local")
# sitecustomize for the probes: what the cloud must not import cannot be imported
BLOCKER = f"""
import sys

BLOCKED = {NOT_IN_THE_CLOUD!r}


class NotInTheCloud:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"{{name}} was imported by code that runs in the cloud", name=name)
        return None


sys.meta_path.insert(0, NotInTheCloud())
"""
# imports every cloud entry point as it is loaded there; prints what ended up imported
PROBE = """
import importlib, importlib.metadata, json, sys


def installed(distribution):
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


src = sys.argv[1]
for name in ("train_trigger", "model_published", "batch_predict"):  # as Lambda loads app.lambda_handler
    sys.path.insert(0, f"{src}/functions/{name}")
    sys.modules.pop("app", None)
    assert callable(importlib.import_module("app").lambda_handler)
    sys.path.pop(0)
for module in sys.argv[2:]:
    importlib.import_module(module)
print(json.dumps({
    "installed": {name: installed(name) for name in ("PyYAML", "moto")},
    "imported": sorted(m for m in sys.modules if m.split(".")[0] in ("yaml", "moto") or m.startswith("dropml.local")),
}))
"""
# no real AWS call from an import: an endpoint nothing listens on, fake keys
OFFLINE = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what points at the test's stand-in or the checkout."""
    dropped = ("AWS_", "DROPML", "PYTHONPATH", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(dropped)}, **extra}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A venv with dropml installed from a copy of the sources: core first (probed), then ``.[web]``."""
    base = tmp_path_factory.mktemp("cloud-install")
    src = base / "src"
    for name in SOURCE_DIRECTORIES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in SOURCES:
        shutil.copy2(ROOT / name, src / name)
    venv = base / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=_clean_env())
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip += ["-c", str(src / "constraints.txt")]

    core = _run([*pip, str(src)], cwd=base, env=_clean_env(), timeout=900)
    assert core.returncode == 0, core.stdout[-3000:] + core.stderr[-3000:]
    core_probe = _run([str(python), "-c", PROBE, str(src)], cwd=base, env=_clean_env(**OFFLINE))
    assert core_probe.returncode == 0, core_probe.stderr[-3000:]

    web = _run([*pip, f"{src}[web]"], cwd=base, env=_clean_env(), timeout=1200)
    assert web.returncode == 0, web.stdout[-3000:] + web.stderr[-3000:]
    blocker = base / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    return SimpleNamespace(
        base=base,
        src=src,
        python=python,
        dropml=venv / "bin" / "dropml",
        core_probe=json.loads(core_probe.stdout.strip().splitlines()[-1]),
        blocked_env=_clean_env(**OFFLINE, PYTHONPATH=str(blocker)),
    )


def test_the_core_install_has_no_yaml_nor_moto_and_loads_the_handlers(cloud):
    assert cloud.core_probe == {"installed": {"PyYAML": False, "moto": False}, "imported": []}


def test_the_job_the_web_app_and_the_handlers_import_without_the_local_world(cloud):
    probed = _run(
        [str(cloud.python), "-c", PROBE, str(cloud.src), "training_job.main", "web.app", "dropml.cli"],
        cwd=cloud.base,
        env=cloud.blocked_env,
    )
    assert probed.returncode == 0, probed.stderr[-3000:]
    found = json.loads(probed.stdout.strip().splitlines()[-1])
    assert found == {"installed": {"PyYAML": True, "moto": False}, "imported": []}  # PyYAML: Dask's dependency


def _every_cli_command() -> list[list[str]]:
    """Every command and subcommand of ``dropml`` (from the CLI itself, so a new one is tested too), but the
    dev-install plugin ``local`` (see test_dropml_local_says_it_needs_the_dev_install)."""
    import click
    import typer

    from dropml.cli import _plugins, app

    def walk(command: click.Command, path: list[str]) -> list[list[str]]:
        found = [path]
        if hasattr(command, "list_commands"):  # a group (typer may bring its own click)
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                if not path and name in _plugins():
                    continue
                found += walk(command.get_command(ctx, name), [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("command", _every_cli_command(), ids=lambda c: " ".join(c) or "dropml")
def test_the_cli_help_works_without_the_local_world(cloud, command):
    shown = _run([str(cloud.dropml), *command, "--help"], cwd=cloud.base, env=cloud.blocked_env)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert f"Usage: dropml {' '.join(command)}".rstrip() in " ".join(shown.stdout.split())


def test_status_and_redrive_against_a_stack_work_without_the_local_world(cloud, aws):
    built = world.build()  # the stack's queues, here on the test's stand-in
    aws_client("sqs").send_message(QueueUrl=built.queues["ScoringQueue"].dead_letter_url, MessageBody="{}")
    env = {**cloud.blocked_env, "AWS_ENDPOINT_URL": aws.endpoint}
    shown = _run([str(cloud.dropml), "status"], cwd=cloud.base, env=env)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "ScoringDeadLetterQueue            1 / 0       <- dead letters of ScoringQueue" in shown.stdout
    redriven = _run([str(cloud.dropml), "redrive", "ScoringDeadLetterQueue"], cwd=cloud.base, env=env)
    assert redriven.returncode == 0, redriven.stderr[-3000:]
    assert redriven.stdout.strip() == "ScoringDeadLetterQueue: 1 message(s) re-driven"


def test_dropml_local_says_it_needs_the_dev_install(cloud):
    refused = _run([str(cloud.dropml), "local", "up"], cwd=cloud.base, env=_clean_env(**OFFLINE))
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: `dropml local` is not available in this install: ")
    assert "needs the dev install: pip install 'dropml[dev]'" in refused.stderr
    assert "(missing: moto[server], aws-sam-translator)" in refused.stderr
    assert "Traceback" not in refused.stderr
