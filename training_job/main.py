"""``python -m training_job.main train|score|monitor --key ...``: parse arguments, call dropml, shape the output.

Exit codes: 0 success (one JSON line on stdout); 2 a DropmlError (bad input,
configuration: one line on stderr); 1 anything unexpected (logged with its
traceback as JSON); 64 unusable arguments (one line on stderr). The job
announces 0, 1 and 2 itself; 64 comes before it can, so the launcher's
watcher (locally) or the template's task-state rule (ECS) announces it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, NoReturn

from dropml import logs
from dropml.errors import DropmlError
from dropml.storage import keys
from dropml.usecases import daily_monitoring, score_file, train

logger = logging.getLogger("training_job")

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2, 64


class UsageError(DropmlError):
    """Arguments the job cannot use (a missing or unknown argument, bad JSON overrides)."""

    code = "usage"


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of exiting 2 (2 means an announced bad input)."""

    def error(self, message: str) -> NoReturn:
        """Raise the usage problem instead of printing usage and exiting."""
        raise UsageError(f"{self.prog}: {message}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: a subcommand and its key and ids.

    Raises:
        UsageError: a missing or unknown argument.
    """
    parser = _ArgumentParser(prog="python -m training_job.main", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="job", required=True)
    train = sub.add_parser("train", help="train every configured model on a train/ CSV and publish a version")
    train.add_argument("--key", required=True, help="S3 key of the training CSV: train/[<project>/]<name>.csv")
    train.add_argument("--overrides", default=None, help="JSON object of training settings for this run")
    train.add_argument("--run-id", default=None, help="id of this run (audit record name); generated if absent")
    score = sub.add_parser("score", help="score a test/ CSV with the project's live version")
    score.add_argument("--key", required=True, help="S3 key of the CSV to score: test/[<project>/]<name>.csv")
    score.add_argument("--request-id", default=None, help="id of this request (audit and predictions)")
    monitor = sub.add_parser("monitor", help="a day of API traffic: drift reports, realized accuracy")
    monitor.add_argument("--key", required=True, help="the day's kept traffic: audit/samples/date=<day>/[<project>/]")
    monitor.add_argument("--run-id", default=None, help="id of this run")
    return parser.parse_args(argv)


def parse_overrides(text: str | None) -> dict[str, Any] | None:
    """The ``--overrides`` JSON object.

    Raises:
        UsageError: not JSON, or not an object (names the value).
    """
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--overrides is not valid JSON ({err.msg} at column {err.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise UsageError(f"--overrides must be a JSON object (got {text!r})")
    return value


def run_job(args: argparse.Namespace, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Run the chosen job; returns the JSON line to print."""
    if args.job == "train":
        manifest = train.run_training(args.key, overrides, args.run_id)
        return {
            "job": "train",
            "project": manifest.project,
            "version": manifest.version,
            "manifest": keys.manifest_key(manifest.project, manifest.version),
            "champion": manifest.champion,
            "run_id": manifest.run_id,
        }
    if args.job == "monitor":
        day, project = keys.parse_monitoring_day_key(args.key)
        return {"job": "monitor", "key": args.key, **daily_monitoring.monitor_day(day, project)}
    return {"job": "score", "key": args.key, "predictions": score_file.score_file(args.key, request_id=args.request_id)}


def main(argv: list[str] | None = None) -> int:
    """Run one job; returns the process exit code."""
    try:
        args = parse_args(argv)
        overrides = parse_overrides(getattr(args, "overrides", None))
    except UsageError as err:
        print(f"error: UsageError: {err}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(os.environ.get("DROPML_LOG_LEVEL", "INFO"))
    correlation_id = os.environ.get("DROPML_CORRELATION_ID") or args.key
    with logs.correlation(correlation_id):
        try:
            result = run_job(args, overrides)
        except UsageError as err:  # nothing ran, so nothing was announced
            print(f"error: UsageError: {err}", file=sys.stderr)
            return EXIT_USAGE
        except DropmlError as err:
            print(f"error: {type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
            return EXIT_BAD_INPUT
        except Exception:
            logger.exception("job failed unexpectedly", extra={"job": args.job, "key": args.key})
            return EXIT_UNEXPECTED
    print(json.dumps(result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
