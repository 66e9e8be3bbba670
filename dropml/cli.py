"""The ``dropml`` command: operate projects from a terminal, locally or against AWS.

Every subcommand is a thin shell over the ``dropml`` package: parse options,
call one function, print. A ``DropmlError`` prints its message and exits 2;
anything unexpected exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from dropml import audit as audit_trail
from dropml import connection, logs, queues
from dropml import stacks as deployed_stack
from dropml.errors import BadInput, DropmlError
from dropml.storage import keys
from dropml.usecases import challenger, daily_monitoring, deploy_path, live, projects, runs
from dropml.usecases import deploy as zappa_stage
from dropml.usecases import status as status_report
from dropml.usecases.register import register_model
from dropml.usecases.trace import trace_prediction

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import click

PLUGIN_GROUP = "dropml.cli"  # entry points: a name → a typer.Typer attached as `dropml <name>` (pyproject.toml)


def _plugins() -> dict[str, EntryPoint]:
    """The command groups installed packages declare for the ``dropml`` CLI, by name."""
    return {entry.name: entry for entry in entry_points(group=PLUGIN_GROUP)}


def _load_plugin(entry: EntryPoint) -> click.Command:
    """Import a plugin's command group; a missing dependency is a one-line message and exit 2."""
    try:
        plugin = entry.load()
    except ImportError as err:
        typer.secho(f"error: `dropml {entry.name}` is not available in this install: {err}", err=True, fg="red")
        raise typer.Exit(2) from None
    return typer.main.get_command(plugin)


class _WithPlugins(TyperGroup):
    """dropml's own commands plus the plugins' groups, each imported only when it runs.

    ``dropml local`` comes from ``dropml.local`` (the dev install): listing it in
    ``dropml --help`` or running any other command must not import it.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Own commands in their order, then the plugins' names."""
        own = super().list_commands(ctx)
        return own + sorted(set(_plugins()) - set(own))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """An own command, or for a plugin a stand-in that only describes it (for help listings)."""
        found = super().get_command(ctx, cmd_name)
        entry = _plugins().get(cmd_name) if found is None else None
        if entry is None:
            return found
        module = entry.value.split(":", 1)[0]
        return TyperCommand(cmd_name, help=f"Commands from {module}: dropml {cmd_name} --help.")

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command to run: a plugin's group is imported here, when it is the one asked for."""
        entry = _plugins().get(args[0]) if args else None
        if entry is not None and super().get_command(ctx, args[0]) is None:
            return args[0], _load_plugin(entry), args[1:]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_WithPlugins,
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


_TARGET: dict[str, str | None] = {}  # the deployed stack the command works on (dropml --stack NAME ...)


@app.callback()
def _target(
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            envvar="DROPML_STACK",
            help="Work on this deployed stack: its outputs give the bucket, region, topic, cluster and task.",
        ),
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="The stack's region (default: AWS's own).")] = None,
) -> None:
    """Operate dropml: live versions, promote and rollback, history, audit, status."""
    _TARGET.clear()
    _TARGET.update(stack=stack, region=region)


def _connect(endpoint_url: str | None) -> None:
    """Point dropml at a deployed stack (``--stack``), else a running local world, else ``endpoint_url``, else AWS.

    With ``--stack`` (or ``DROPML_STACK``) the stack's outputs set the bucket, region, topic and ECS launcher
    (:mod:`dropml.stacks`), as the deployed functions have them.

    Finding a running world reads a state file only, never imports ``dropml.local`` (see
    :func:`dropml.connection.connect`).
    """
    if _TARGET.get("stack"):
        if endpoint_url:
            connection.use_environment({"AWS_ENDPOINT_URL": endpoint_url})
        deployed_stack.use_stack(str(_TARGET["stack"]), _TARGET.get("region"))
        return
    connection.connect(endpoint_url)


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
    version: Annotated[
        int | None, typer.Argument(min=1, help="The published version to make live (or the challenger).")
    ] = None,
    shadow: Annotated[
        bool | None,
        typer.Option(
            "--shadow/--no-shadow",
            help="--shadow: make VERSION the challenger, scored in the shadow of the live version and never "
            "answering; --no-shadow: stop the challenger (no VERSION).",
        ),
    ] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Make a published version live, after the same checksum checks as publishing; or the challenger."""
    if shadow is False:
        if version is not None:
            raise BadInput("version", version, "--no-shadow stops the challenger and takes no VERSION")
        _connect(endpoint_url)
        cleared = live.clear_challenger(project)
        typer.echo(f"{project}: no challenger" + (f" (v{cleared.was} was)" if cleared.was else " (there was none)"))
        return
    if version is None:
        raise BadInput("version", None, "give the VERSION to promote" + (" as the challenger" if shadow else ""))
    _connect(endpoint_url)
    if shadow:
        made = live.challenge(project, version)
        shadowed = f"v{made.live}" if made.live else "nothing live yet"
        was = f"; v{made.was} was" if made.was else ""
        typer.echo(f"{project}: v{version} is the challenger, scored in the shadow of {shadowed}{was}")
        return
    change = live.promote(project, version)
    was = f"v{change.was}" if change.was else "nothing"
    typer.echo(f"{project}: v{change.version} is live (was {was}); champion {change.champion}")


@app.command()
@_clear_errors
def compare(project: ProjectArg, endpoint_url: EndpointOption = None) -> None:
    """Champion against challenger: realized metrics on the rows both scored, each one's own, and the holdout."""
    _connect(endpoint_url)
    found = challenger.compare(project)
    head, ours, theirs = found.head_to_head, found.champion, found.challenger
    auto = "on" if found.auto_promote else "off"
    typer.echo(
        f"{project}: champion v{ours.version} against challenger v{theirs.version} on {head.metric} "
        f"(margin {found.margin:.1%} over {found.window_rows} rows, auto_promote {auto})"
    )
    typer.echo(f"{'':<28}{f'champion v{ours.version}':>16}{f'challenger v{theirs.version}':>18}")
    names = sorted(set(head.champion) | set(head.challenger) | set(ours.holdout) | set(theirs.holdout))
    typer.echo(f"same {head.rows} labelled rows:")
    for name in names:
        if name in head.champion or name in head.challenger:
            typer.echo(f"  {name:<26}{_shown(head.champion.get(name)):>16}{_shown(head.challenger.get(name)):>18}")
    typer.echo("holdout:")
    for name in names:
        if name in ours.holdout or name in theirs.holdout:
            typer.echo(f"  {name:<26}{_shown(ours.holdout.get(name)):>16}{_shown(theirs.holdout.get(name)):>18}")
    typer.echo(f"all own labelled rows:{'':<6}{f'{ours.rows} rows':>16}{f'{theirs.rows} rows':>18}")
    name = head.metric
    typer.echo(f"  {name:<26}{_shown(ours.metrics.get(name)):>16}{_shown(theirs.metrics.get(name)):>18}")
    if found.beats:
        then = (
            "it is promoted" if found.auto_promote else f"promote it with `dropml promote {project} {theirs.version}`"
        )
        typer.echo(f"challenger better by {head.gain:.1%}: beats the margin; {then}")
    elif head.gain is None:
        typer.echo(f"no verdict yet: {head.rows} shared labelled rows, {head.metric} undefined on them")
    else:
        short = f" (needs {found.window_rows})" if head.rows < found.window_rows else ""
        typer.echo(f"challenger {'better' if head.gain >= 0 else 'worse'} by {abs(head.gain):.1%} over {head.rows} "
                   f"rows{short}: does not beat the margin")  # fmt: skip


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command()
@_clear_errors
def rollback(project: ProjectArg, endpoint_url: EndpointOption = None) -> None:
    """Make the newest earlier version that was once live, live again."""
    _connect(endpoint_url)
    change = live.rollback(project)
    typer.echo(f"{project}: rolled back from v{change.was} to v{change.version}")


@app.command()
@_clear_errors
def history(
    project: ProjectArg,
    challenger: Annotated[bool, typer.Option("--challenger", help="The challenger's changes instead.")] = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """Every change of a project's live version (or its challenger), oldest first (kept under audit/promotions/)."""
    _connect(endpoint_url)
    entries = live.history(project, "challenger" if challenger else "live")
    if not entries:
        typer.echo(f"{project}: never had a challenger" if challenger else f"{project}: never published")
        return
    typer.echo(f"{'change':>6}  {'version':>7}  {'when':<32}  how")
    for entry in entries:
        shown = f"v{entry.model_version}" if entry.model_version else "-"
        how = entry.action or entry.changed_by or "-"
        typer.echo(f"{entry.parameter_version:>6}  {shown:>7}  {entry.changed_at:<32}  {how}")


@app.command()
@_clear_errors
def audit(
    request_id: Annotated[str | None, typer.Argument(help="The request id a prediction answered with.")] = None,
    day: Annotated[str | None, typer.Option(help="Summarise one day (YYYY-MM-DD) instead.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Walk a prediction back to its model version, training data, code version and config; or summarise a day."""
    _connect(endpoint_url)
    if day:
        typer.echo(audit_trail.summarize_day(day).to_string(index=False))
    elif request_id:
        _print_json(trace_prediction(request_id))
    else:
        raise BadInput("request_id", None, "give a request id, or --day YYYY-MM-DD for a summary")


@app.command()
@_clear_errors
def register(
    project: ProjectArg,
    model: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, help="The model: a scikit-learn pickle, Keras .h5/.keras, or ONNX .onnx."
        ),
    ],
    schema: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="schema.json: target, task, columns.")],
    scaler: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Optional pickled scaler.")] = None,
    make_live: Annotated[bool, typer.Option("--promote", help="Make it live now, not on the publish event.")] = False,
    data: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Labelled CSV (columns + target): holdout metrics."),
    ] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Wrap a pre-trained model (and scaler) into the next version of a project."""
    _connect(endpoint_url)
    manifest = register_model(
        project,
        model.read_bytes(),
        schema.read_text(),
        scaler.read_bytes() if scaler else None,
        model_file_name=model.name,
        labelled_csv=data.read_bytes() if data else None,
        labelled_source=data.name if data else "labelled.csv",
    )
    typer.echo(f"{project}: registered {model.name} as v{manifest.version}")
    if make_live:
        live.promote(project, manifest.version)
        typer.echo(f"{project}: v{manifest.version} is live")


@app.command()
@_clear_errors
def status(
    endpoint_url: EndpointOption = None,
    notifications: Annotated[int, typer.Option(min=0, help="How many recent notifications to show.")] = 5,
) -> None:
    """Live version per project, recent versions, queue depths (DLQs included), last notifications."""
    _connect(endpoint_url)
    found = status_report.status(notifications)
    typer.echo("projects:")
    if not found.projects:
        typer.echo("  (none yet)")
    for project in found.projects:
        shown = ", ".join(f"v{v}" for v in project.recent_versions) or "none"
        live_shown = f"v{project.live}" if project.live else "-"
        typer.echo(f"  {project.name:<20} live: {live_shown:<6} versions: {shown}")
    typer.echo("queues (waiting / in flight):")
    for queue in found.queues:
        marker = f"  <- dead letters of {queue.dead_letter_of}" if queue.dead_letter_of and queue.waiting else ""
        typer.echo(f"  {queue.logical_id:<28} {queue.waiting:>6} / {queue.in_flight:<6}{marker}")
    typer.echo("  (re-drive dead letters after a fix: dropml redrive)")
    typer.echo("last notifications:")
    for message in found.announcements:
        typer.echo(f"  {message.get('time', '')}  {message.get('subject', '')}")


@app.command()
@_clear_errors
def redrive(
    queue: Annotated[str | None, typer.Argument(help="A dead-letter queue's logical id (default: all).")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Move dead letters back to the queue they came from, after the cause is fixed."""
    _connect(endpoint_url)
    for name, count in queues.redrive(queue).items():
        typer.echo(f"{name}: {count} message(s) re-driven")


def _parse_settings(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise BadInput("--set", pair, f"--set takes key=value (got {pair!r})")
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name] = text
    return overrides


def _wait(what: str, done: Callable[[], Any], timeout: float) -> Any:
    """Poll ``done`` with a progress line until it returns something truthy, or time out (exit 1)."""
    started = time.monotonic()
    with typer.progressbar(length=int(timeout), label=what, show_eta=False) as bar:
        while (result := done()) is None or result is False:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                typer.secho(f"\nerror: {what}: nothing after {timeout:.0f}s (see dropml status)", err=True, fg="red")
                raise typer.Exit(1)
            time.sleep(1.0)
            bar.update(1)
    return result


TaskOption = Annotated[
    str | None, typer.Option(help="classification or regression (default: decided from the target column).")
]


@app.command()
@_clear_errors
def train(
    project: ProjectArg,
    file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Upload this CSV and train on it.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The column to predict (stored for the project).")] = None,
    task: TaskOption = None,
    key: Annotated[str | None, typer.Option(help="Train on this S3 key (default: the newest under train/).")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Training setting, key=value (JSON value); stored.")] = [],  # noqa: B006
    wait: Annotated[bool, typer.Option(help="Wait until the new version is live (or the run fails).")] = False,
    timeout: Annotated[float, typer.Option(min=1)] = 900,
    endpoint_url: EndpointOption = None,
) -> None:
    """Train a project: upload a CSV (its S3 event trains it), or retrain on data already in S3.

    --target, --task and --set become the project's stored settings: every
    later run uses them, including plain S3 uploads under train/<project>/.
    """
    _connect(endpoint_url)
    keys.validate_project(project)
    if file is not None and key:
        raise BadInput("--key", key, "--file uploads a file and trains on it, --key retrains on one in S3: give one")
    settings = {**_parse_settings(set_), **{k: v for k, v in (("target", target), ("task", task)) if v is not None}}
    if settings:
        stored = projects.configure(project, settings)
        typer.echo(f"{project}: stored settings {json.dumps(stored, sort_keys=True)}")
    if file is not None:
        run = runs.upload_training_data(project, file.name, file.read_bytes())
        typer.echo(f"uploaded {file} to {run.key}; its S3 event starts the training (run {run.run_id})")
    else:
        run = runs.retrain(project, key)
        typer.echo(f"training started on {run.key}: {run.task} (run {run.run_id})")
    if wait:
        live_now = _wait(f"waiting for a new live version of {project}", run.new_live_version, timeout)
        typer.echo(f"{project}: v{live_now.version} is live")


@app.command()
@_clear_errors
def predict(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV of rows to score.")],
    project: Annotated[str, typer.Option(help="Project whose live version scores it.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Where to save the predictions CSV.")] = None,
    timeout: Annotated[float, typer.Option(min=1)] = 600,
    endpoint_url: EndpointOption = None,
) -> None:
    """Score a file on demand: it goes under test/ and its S3 event scores it; the predictions are saved here."""
    _connect(endpoint_url)
    run = runs.upload_scoring_data(project, file.name, file.read_bytes())
    typer.echo(f"uploaded {file} to {run.key}; its S3 event scores it")
    _wait(f"waiting for {run.predictions_key}", run.predictions_ready, timeout)
    destination = out or file.with_name(f"{file.stem}.predictions.csv")
    destination.write_bytes(run.predictions())
    typer.echo(f"predictions: {run.predictions_url} -> {destination}")


@app.command()
@_clear_errors
def monitor(
    project: ProjectArg,
    day: Annotated[str | None, typer.Option(help="The day to report, YYYY-MM-DD (default: today, UTC).")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """A day of a project's API traffic against its training profile, and realized accuracy, run here and now."""
    _connect(endpoint_url)
    day = day or datetime.now(UTC).date().isoformat()
    found = daily_monitoring.monitor_day(day, project)["projects"].get(project, {})
    reports = found.get("drift_reports", [])
    typer.echo(f"{project} {day}: {len(reports)} drift report(s) of API traffic")
    for key in reports:
        typer.echo(f"  {key}")
    if found.get("labelled_rows"):
        typer.echo(f"  realized: {found['labelled_rows']} labelled row(s) joined")
    verdict = found.get("realized")
    if verdict:
        state = "BELOW the holdout" if verdict["below"] else "within the margin"
        metric, realized_value, holdout = verdict["metric"], verdict["realized"], verdict["holdout"]
        typer.echo(f"  live version's {metric}: {realized_value:.4g} vs holdout {holdout:.4g}, {state}")


deploy_app = typer.Typer(
    name="deploy",
    help="Deploy dropml to AWS: the README's steps, in order (make deploy runs this).",
    no_args_is_help=True,
    invoke_without_command=True,
)
app.add_typer(deploy_app)


def _comma_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@deploy_app.callback()
@_clear_errors
def deploy(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Option(help="The stack to create or update (lower case).")] = None,
    region: Annotated[str | None, typer.Option(envvar="AWS_REGION", help="The region to deploy to.")] = None,
    vpc_id: Annotated[str | None, typer.Option(help="The VPC of the training tasks.")] = None,
    subnets: Annotated[str | None, typer.Option(help="The tasks' subnets, comma-separated.")] = None,
    security_groups: Annotated[str | None, typer.Option(help="The tasks' security groups, comma-separated.")] = None,
    public_ip: Annotated[bool, typer.Option(help="Public subnets without a NAT: the tasks get a public IP.")] = True,
    parameter: Annotated[
        list[str], typer.Option(help="Another template parameter, Key=Value (e.g. NotificationEmail=me@x.org).")
    ] = [],  # noqa: B006
    stage: Annotated[str, typer.Option(help="The zappa_settings.json stage.")] = "dev",
    image_tag: Annotated[str | None, typer.Option(help="The training image's tag (default: the git commit).")] = None,
) -> None:
    """Deploy: ECS role, deploy bucket, ECR repository, image, sam deploy, Zappa settings, zappa deploy, smoke."""
    if ctx.invoked_subcommand is not None:
        return
    region = region or os.environ.get("AWS_DEFAULT_REGION")
    if not (stack and region):
        raise BadInput("--stack", stack, "dropml deploy needs --stack and --region (or AWS_REGION)")
    parameters = dict(pair.partition("=")[::2] for pair in parameter)
    if any(not key or not value for key, value in parameters.items()):
        raise BadInput("--parameter", parameter, "--parameter takes Key=Value")
    tag = (
        image_tag
        or subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    request = deploy_path.DeployRequest(
        stack=stack,
        region=region,
        vpc_id=vpc_id or "",
        subnets=_comma_list(subnets),
        security_groups=_comma_list(security_groups),
        assign_public_ip=public_ip,
        parameters=parameters,
        stage=stage,
        image_tag=tag or "latest",
    )
    connection.use_environment({"DROPML__STORAGE__REGION": region})
    done = deploy_path.deploy(request, say=typer.echo)
    typer.echo(f"deployed {stack}: {done.api_url or '(no API URL)'}")


@deploy_app.command("zappa-settings")
@_clear_errors
def zappa_settings(
    stack: Annotated[str, typer.Option(help="The deployed dropml stack (sam deploy's stack name).")],
    stage: Annotated[str, typer.Option(help="The zappa_settings.json stage to fill.")] = "dev",
    file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The Zappa settings file.")] = Path(
        "zappa_settings.json"
    ),
    region: Annotated[str | None, typer.Option(envvar="AWS_REGION", help="The stack's region.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Fill a Zappa stage from the stack's outputs: role, code bucket, and the app's settings as Lambda variables."""
    environment = {"DROPML__STORAGE__REGION": region} if region else {}
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    connection.use_environment(environment)
    written = zappa_stage.write_zappa_settings(file, stage, stack)
    typer.echo(f"{file} stage {stage}: filled from stack {stack}'s outputs (role {written['role_arn']})")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the ``dropml`` console script)."""
    logs.configure(os.environ.get("DROPML_LOG_LEVEL", "WARNING"))
    app(args=argv if argv is not None else sys.argv[1:], prog_name="dropml")


if __name__ == "__main__":
    main()
