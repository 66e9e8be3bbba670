"""``make demo``: the whole chain on the local AWS stand-in, from a CSV upload to live predictions.

``python -m dropml.local.demo [--once] [--port N] [--timeout S]``: starts the
local world (moto, the template's resources, the poller calling the same
handlers Lambda runs: :mod:`dropml.local.running`), uploads
examples/breast_cancer.csv under train/, waits for version 1 to go live,
uploads a test CSV under test/, waits for its predictions, prints where
everything is, then serves the web app (its own gunicorn process, as in the
cloud) until Ctrl-C. ``--once`` stops after the predictions (exit 0), for CI.
Any step that fails or times out prints why and exits 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dropml import aws, registry, storage
from dropml.errors import DropmlError
from dropml.local import jobs, running, world
from dropml.local.moto_server import free_port, wait_until_up
from dropml.storage import keys

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast_cancer.csv"
TRAIN_KEY = "train/breast_cancer.csv"
TEST_NAME = "breast_cancer_sample.csv"
TEST_ROWS = 50
WEB_APP = "web.app:app"  # gunicorn imports it in its own process: dropml never imports web
WEB_LOG = Path(".dropml") / "web.log"
PROJECT = keys.DEFAULT_PROJECT


class DemoFailed(Exception):
    """A step of the demo failed or timed out; the message says which and why."""


def say(text: str) -> None:
    """One progress line on stdout, flushed (the demo is watched live)."""
    print(text, flush=True)


class Announcements:
    """Prints what the SNS topic announces, via a queue subscribed to it (as an e-mail subscriber would see it)."""

    def __init__(self, topic_arn: str) -> None:
        sqs = aws.client("sqs")
        self.url = sqs.create_queue(QueueName="demo-announcements")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        self.failures: list[dict[str, Any]] = []

    def show(self) -> None:
        """Print every announcement that arrived since the last call."""
        sqs = aws.client("sqs")
        while batch := sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                envelope = json.loads(message["Body"])
                body = json.loads(envelope.get("Message", "{}"))
                say(f"  SNS  {envelope.get('Subject', '')}")
                if body.get("outcome") == "failed":
                    self.failures.append(body)
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


def _job_failure() -> str | None:
    for job in jobs.local_jobs():
        code = job.process.poll()
        if code not in (None, 0):
            tail = job.log_path.read_text(errors="replace").strip().splitlines()[-15:] if job.log_path.exists() else []
            return f"the {job.job} job for {job.key} exited {code}; its log ({job.log_path}) ends:\n" + "\n".join(tail)
    return None


def wait_for(what: str, done: Callable[[], Any], notes: Announcements, timeout: float) -> Any:
    """Poll ``done`` until it returns something truthy, printing announcements and failed local jobs.

    Raises:
        DemoFailed: a local job failed, or ``timeout`` seconds passed.
    """
    started = time.monotonic()
    while True:
        notes.show()
        result = done()
        if result:
            return result
        failure = _job_failure()
        if failure:
            raise DemoFailed(f"while waiting for {what}: {failure}")
        if time.monotonic() - started > timeout:
            raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def sample_csv(source: Path, rows: int = TEST_ROWS, target: str = "target") -> bytes:
    """The first ``rows`` rows of ``source`` without the ``target`` column: data to score."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c for c in reader.fieldnames or [] if c != target]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for index, row in enumerate(reader):
            if index >= rows:
                break
            writer.writerow(row)
    return out.getvalue().encode()


def run_chain(built: world.World, notes: Announcements, timeout: float) -> dict[str, Any]:
    """Upload training data, wait for v1 live, upload test data, wait for predictions; returns what was made.

    Raises:
        DemoFailed: a step failed or timed out.
    """
    say(f"\n[1/3] upload {EXAMPLE.name} -> s3://{built.bucket}/{TRAIN_KEY}")
    storage.put_bytes(TRAIN_KEY, EXAMPLE.read_bytes(), "text/csv")
    say("      S3 -> TrainingQueue -> train_trigger -> training job (a local process, as Fargate would run it)")
    live = wait_for(f"version 1 of {PROJECT!r} to go live", lambda: registry.live_version(PROJECT), notes, timeout)
    manifest = registry.read_manifest(PROJECT, live.version)
    say(f"      v{live.version} is live: champion {manifest.champion}, {len(manifest.models)} models")
    for entry in sorted(manifest.models, key=lambda m: m.rank):
        score = entry.metrics.get(manifest.rank_metric)
        shown = f"{manifest.rank_metric}={score:.4f}" if isinstance(score, int | float) else ""
        say(f"        #{entry.rank} {entry.name:<20} {shown}")

    test_key = keys.data_key("test", PROJECT, TEST_NAME)
    predictions_key = keys.predictions_key(PROJECT, TEST_NAME)
    say(f"\n[2/3] upload {TEST_ROWS} rows without the target -> s3://{built.bucket}/{test_key}")
    storage.put_bytes(test_key, sample_csv(EXAMPLE), "text/csv")
    say("      S3 -> ScoringQueue -> batch_predict -> scoring job (the training image's scikit-learn)")
    wait_for(f"{predictions_key}", lambda: storage.exists(predictions_key), notes, timeout)
    body = storage.get_bytes(predictions_key).body.decode()
    rows = list(csv.reader(io.StringIO(body)))
    say(f"      {predictions_key}: {len(rows) - 1} rows, columns ... {', '.join(rows[0][-6:])}")
    notes.show()
    return {
        "version": live.version,
        "manifest": keys.manifest_key(PROJECT, live.version),
        "predictions": predictions_key,
    }


def print_where(built: world.World, environment: dict[str, str], made: dict[str, Any]) -> None:
    """Where everything is, and how to look at it (with the dropml CLI; the aws CLI works too)."""
    manifest = registry.read_manifest(PROJECT, made["version"])
    bucket = f"s3://{built.bucket}"
    say("\n[3/3] where everything is")
    say(f"      manifest         {bucket}/{made['manifest']}")
    say(f"      leaderboard      {bucket}/{manifest.artifacts['leaderboard'].key}")
    plots = len(manifest.reports) - 1
    say(f"      EDA report       {bucket}/{manifest.reports.get('report', '')}  (+ {plots} PNG plots beside it)")
    say(f"      models           {bucket}/{keys.version_prefix(PROJECT, made['version'])}*.pkl")
    say(f"      predictions      {bucket}/{made['predictions']}")
    say(f"      job logs         {jobs.job_log_dir()}")
    endpoint = environment["AWS_ENDPOINT_URL"]
    operator = f"AWS_ACCESS_KEY_ID={environment['AWS_ACCESS_KEY_ID']} "
    operator += f"AWS_SECRET_ACCESS_KEY={environment['AWS_SECRET_ACCESS_KEY']}"
    say("      look with        .venv/bin/dropml status  (or: history, audit --day; while the demo runs)")
    say(f"                       {operator} \\")
    say(f"                       aws --endpoint-url {endpoint} s3 ls --recursive {bucket}/")
    say("                       (the operator's keys: IAM is enforced, moto's test keys are refused)")


def serve_web(
    port: int, environment: dict[str, str], timeout: float = 60.0, log_path: Path = WEB_LOG
) -> subprocess.Popen[bytes] | None:
    """Start the web app as its own gunicorn process on 127.0.0.1:``port`` (0: a free one), in this world.

    It gets this process's environment with ``environment`` on top (the world's, acting as the web app's
    role: :meth:`dropml.local.running.RunningWorld.component_environment`) and registers the local launcher
    through gunicorn's hooks (:mod:`dropml.local.web_process`); its log goes to ``log_path``.
    Returns None (and says why) if it does not answer within ``timeout`` seconds.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        *(sys.executable, "-m", "gunicorn", "--config", "python:dropml.local.web_process"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4", "--graceful-timeout", "20"),
        WEB_APP,
    ]
    with log_path.open("ab") as log:
        # its own session: Ctrl-C reaches the demo only, which stops the app (flushing its audit records) first
        server = subprocess.Popen(
            command,
            env={**os.environ, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(url, timeout=timeout, path="/api/v1/openapi.json", process=server)
    except (TimeoutError, ChildProcessError) as err:
        stop_web(server)
        say(f"\n(web app not served: {err}; see {log_path})")
        return None
    say(f"\nweb app: {url}/  (log: {log_path})")
    say(f"  curl -s {url}/api/v1/health")
    columns = EXAMPLE.read_text().splitlines()[0].split(",").index("target")  # target is the last column
    say(f"  cut -d, -f1-{columns} {EXAMPLE} | head -4 | \\")
    say(f"    curl -s -X POST {url}/api/v1/predict -H 'Content-Type: text/csv' --data-binary @-")
    return server


def stop_web(server: subprocess.Popen[bytes]) -> None:
    """Stop the web app gracefully (SIGTERM: its workers write their buffered audit records), else kill it."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dropml.local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="stop after the predictions (exit 0): for CI")
    parser.add_argument("--port", type=int, default=8000, help="port of the web app (0: any free port)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each step")
    parser.add_argument("--verbose", action="store_true", help="show the handlers' JSON logs")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # `kill` stops it as cleanly as Ctrl-C
    say("dropml demo: the whole chain on a local AWS stand-in (moto)")
    local_world: running.RunningWorld | None = None
    web_server = None
    try:
        local_world = running.start(log_level=None if args.verbose else "WARNING")
        built = local_world.world
        say(f"  moto server      {local_world.moto.endpoint}")
        say(f"  from template.yaml: bucket {built.bucket}, queues {', '.join(sorted(built.queues))}")
        say(f"                      topic {built.topic_arn.rsplit(':', 1)[-1]}, cluster {built.cluster}")
        say(f"  IAM enforced     each as its own role: {', '.join(sorted(local_world.roles))}")
        notes = Announcements(built.topic_arn)
        say(f"  poller           {', '.join(f'{f.logical_id} <- {f.queue}' for f in built.functions)}")
        made = run_chain(built, notes, args.timeout)
        print_where(built, local_world.environment, made)
        if not args.once:
            web_server = serve_web(args.port, local_world.component_environment("WebApp"))
            say("\nrunning; press Ctrl-C to stop")
            while True:
                time.sleep(1)
                notes.show()
    except (DemoFailed, DropmlError) as err:
        say(f"\nDEMO FAILED: {err}")
        return 1
    except KeyboardInterrupt:
        say("\nstopping")
    finally:
        if web_server is not None:
            stop_web(web_server)  # while the stand-in still runs: the app writes its audit records as it stops
        if local_world is not None:
            local_world.stop()
    say("\ndemo finished: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
