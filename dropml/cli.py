"""The ``dropml`` command: operate projects from a terminal, locally or against AWS.

Every subcommand is a thin shell over the ``dropml`` package: parse options,
call one function, print. A ``DropmlError`` prints its message and exits 2;
anything unexpected exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from dropml.errors import DropmlError

app = typer.Typer(
    name="dropml",
    help="Operate dropml: live versions, promote and rollback, history, audit, status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="AWS endpoint (the local stand-in's URL)."),
]
ProjectArg = Annotated[str, typer.Argument(help="Project (model line), e.g. default or glass.")]
F = TypeVar("F", bound=Callable[..., Any])


def _connect(endpoint_url: str | None) -> None:
    """Point dropml at ``endpoint_url`` (the local stand-in) when one is given."""
    if endpoint_url:
        from dropml import local

        local.use_endpoint(endpoint_url)


def _clear_errors(command: F) -> F:
    """Turn a DropmlError into a one-line message and exit code 2 (never a traceback)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DropmlError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


@app.command()
@_clear_errors
def promote(
    project: ProjectArg,
    version: Annotated[int, typer.Argument(min=1, help="The published version to make live.")],
    endpoint_url: EndpointOption = None,
) -> None:
    """Make a published version live, after the same checksum checks as publishing."""
    from dropml import notify, registry

    _connect(endpoint_url)
    before = registry.live_version(project)
    manifest = registry.promote(project, version)
    was = f"v{before.version}" if before else "nothing"
    notify.announce("promote", "succeeded", f"{project} v{version} promoted (was {was})", project, version)
    typer.echo(f"{project}: v{manifest.version} is live (was {was}); champion {manifest.champion}")


@app.command()
@_clear_errors
def rollback(project: ProjectArg, endpoint_url: EndpointOption = None) -> None:
    """Make the newest earlier version that was once live, live again."""
    from dropml import notify, registry

    _connect(endpoint_url)
    before = registry.live_version(project)
    manifest = registry.rollback(project)
    was = before.version if before else None
    notify.announce(
        "rollback", "succeeded", f"{project} rolled back to v{manifest.version}", project, manifest.version, was=was
    )
    typer.echo(f"{project}: rolled back from v{was} to v{manifest.version}")


@app.command()
@_clear_errors
def history(project: ProjectArg, endpoint_url: EndpointOption = None) -> None:
    """Every change of a project's live version (SSM parameter history), oldest first."""
    from dropml import registry

    _connect(endpoint_url)
    entries = registry.history(project)
    if not entries:
        typer.echo(f"{project}: never published")
        return
    typer.echo(f"{'change':>6}  {'version':>7}  {'when':<32}  by")
    for entry in entries:
        shown = f"v{entry.model_version}" if entry.model_version else "-"
        typer.echo(f"{entry.parameter_version:>6}  {shown:>7}  {entry.changed_at:<32}  {entry.changed_by or '-'}")


@app.command()
@_clear_errors
def audit(
    request_id: Annotated[str, typer.Argument(help="The request id a prediction answered with.")],
    endpoint_url: EndpointOption = None,
) -> None:
    """Walk a prediction back to its model version, training data, code version and config."""
    from dropml import audit as audit_trail

    _connect(endpoint_url)
    _print_json(audit_trail.trace_prediction(request_id))


@app.command()
@_clear_errors
def register(
    project: ProjectArg,
    model: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Pickled scikit-learn-compatible model.")],
    schema: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="schema.json: target, task, columns.")],
    scaler: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Optional pickled scaler.")] = None,
    make_live: Annotated[bool, typer.Option("--promote", help="Make it live now, not on the publish event.")] = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """Wrap a pre-trained model (and scaler) into the next version of a project."""
    from dropml import byom, registry

    _connect(endpoint_url)
    manifest = byom.register_model(
        project, model.read_bytes(), schema.read_text(), scaler.read_bytes() if scaler else None
    )
    typer.echo(f"{project}: registered {model.name} as v{manifest.version}")
    if make_live:
        registry.promote(project, manifest.version)
        typer.echo(f"{project}: v{manifest.version} is live")


def _queue_depths() -> list[tuple[str, int, int]]:
    from dropml import storage
    from dropml.config import settings

    sqs = storage.client("sqs")
    rows = []
    for url in sqs.list_queues(QueueNamePrefix=settings().stack_name).get("QueueUrls", []):
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        rows.append(
            (
                url.rsplit("/", 1)[-1],
                int(attrs.get("ApproximateNumberOfMessages", 0)),
                int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            )
        )
    return sorted(rows)


@app.command()
@_clear_errors
def status(
    endpoint_url: EndpointOption = None,
    notifications: Annotated[int, typer.Option(min=0, help="How many recent notifications to show.")] = 5,
) -> None:
    """Live version per project, recent versions, queue depths (DLQs included), last notifications."""
    from dropml import notify, registry
    from dropml.config import settings

    _connect(endpoint_url)
    projects = sorted(set(registry.list_projects()) | set(settings().projects))
    typer.echo("projects:")
    for project in projects or ["(none yet)"]:
        if project == "(none yet)":
            typer.echo("  (none yet)")
            break
        live = registry.live_version(project)
        versions = registry.list_versions(project)
        shown = ", ".join(f"v{v}" for v in versions[-5:]) or "none"
        typer.echo(f"  {project:<20} live: {('v' + str(live.version)) if live else '-':<6} versions: {shown}")
    typer.echo("queues (waiting / in flight):")
    for name, waiting, in_flight in _queue_depths():
        marker = "  <- dead letters" if "dlq" in name.lower() and waiting else ""
        typer.echo(f"  {name:<40} {waiting:>6} / {in_flight:<6}{marker}")
    typer.echo("last notifications:")
    for message in notify.recent(notifications):
        typer.echo(f"  {message.get('time', '')}  {message.get('subject', '')}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the ``dropml`` console script)."""
    from dropml import logs

    logs.configure(os.environ.get("DROPML_LOG_LEVEL", "WARNING"))
    app(args=argv if argv is not None else sys.argv[1:], prog_name="dropml")


if __name__ == "__main__":
    main()
