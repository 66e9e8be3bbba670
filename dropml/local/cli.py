"""``dropml local up|down``: the local world in the foreground, and stopping it from another terminal.

Attached to the ``dropml`` CLI as a plugin (entry point group ``dropml.cli`` in
pyproject.toml), so ``dropml.cli`` never imports this package; other ``dropml``
commands join a running world through its state file (:mod:`dropml.connection`).
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from typing import Annotated

import typer

from dropml import connection
from dropml.errors import DropmlError
from dropml.local import running

app = typer.Typer(
    help="The embedded local world: moto, the template's resources, the poller.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("up")
def up(port: Annotated[int, typer.Option(min=0, max=65535, help="moto's port (0: a free one).")] = 0) -> None:
    """Start the local world in the foreground until Ctrl-C; other dropml commands find it."""
    try:
        world = running.start(port=port)
    except DropmlError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    endpoint = world.moto.endpoint
    typer.echo(f"local world up: {endpoint} (bucket {world.world.bucket}); Ctrl-C or `dropml local down` stops it")
    # the world enforces IAM: moto's "testing" keys are refused; these are the operator's (OperatorPolicy)
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(world.environment.items()) if k.startswith("AWS_"))
    typer.echo(f"  the aws CLI and boto3 as the operator: export {exports}")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        world.stop()
        typer.echo("local world down")


@app.command("down")
def down(timeout: Annotated[float, typer.Option(min=1)] = 30) -> None:
    """Stop the local world started by `dropml local up`."""
    found = connection.running_local_world()
    if found is None:
        typer.echo("no local world is running")
        return
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while connection.running_local_world() and time.monotonic() < deadline:
        time.sleep(0.2)
    if connection.running_local_world():
        typer.secho(f"error: the local world (pid {found.pid}) did not stop in {timeout:.0f}s", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo("local world stopped")
