"""``make demo``: the whole chain on the local AWS stand-in, from a CSV upload to live predictions.

``python -m dropml.local.demo [--once] [--port N] [--timeout S]``: starts moto, builds the
local world from template.yaml, starts the poller (the same handlers Lambda runs),
uploads examples/breast_cancer.csv under train/, waits for version 1 to go live,
uploads a test CSV under test/, waits for its predictions, prints where everything
is, then serves the web app (if ``web`` is importable) until Ctrl-C. ``--once``
stops after the predictions (exit 0), for CI. Any step that fails or times out
prints why and exits 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dropml import aws, local, registry, storage
from dropml.local import poller, world
from dropml.ops import audit
from dropml.pipeline import launcher
from dropml.storage import keys

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast_cancer.csv"
TRAIN_KEY = "train/breast_cancer.csv"
TEST_NAME = "breast_cancer_sample.csv"
TEST_ROWS = 50
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
    for job in launcher.local_jobs():
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


def print_where(built: world.World, endpoint: str, made: dict[str, Any]) -> None:
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
    say(f"      job logs         {launcher.job_log_dir()}")
    say(f"      look with        AWS_ENDPOINT_URL={endpoint} .venv/bin/dropml status  (or: history, audit --day)")
    say(f"                       aws --endpoint-url {endpoint} s3 ls --recursive {bucket}/  (keys: testing/testing)")


def serve_web(port: int) -> Any | None:
    """Serve ``web.create_app()`` on 127.0.0.1 in a thread, if the web app is importable."""
    try:
        from werkzeug.serving import make_server

        from web import create_app
    except ImportError as err:
        say(f"\n(web app not served: {err})")
        return None
    server = make_server("127.0.0.1", port, create_app(), threaded=True)
    threading.Thread(target=server.serve_forever, name="web", daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    say(f"\nweb app: {url}/")
    say(f"  curl -s {url}/api/v1/health")
    columns = EXAMPLE.read_text().splitlines()[0].split(",").index("target")  # target is the last column
    say(f"  cut -d, -f1-{columns} {EXAMPLE} | head -4 | \\")
    say(f"    curl -s -X POST {url}/api/v1/predict -H 'Content-Type: text/csv' --data-binary @-")
    return server


def quiet_logs(verbose: bool) -> None:
    """Only warnings in the demo's output unless ``--verbose`` (after anything that configures logging)."""
    if not verbose:
        logging.getLogger().setLevel(logging.WARNING)


def flush_audit() -> None:
    """Write the web app's buffered prediction records now; a failure is said, never raised."""
    try:
        audit.flush()
    except Exception as err:  # the demo is stopping either way
        say(f"  (audit records not written: {err})")


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
    if str(ROOT) not in sys.path:  # the checkout's web/ and training_job/, whatever the current directory
        sys.path.insert(0, str(ROOT))

    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # `kill` stops it as cleanly as Ctrl-C
    say("dropml demo: the whole chain on a local AWS stand-in (moto)")
    moto = local.start_moto(in_process=False)
    running: poller.Poller | None = None
    web_server = None
    try:
        local.use_endpoint(moto.endpoint)
        say(f"  moto server      {moto.endpoint}")
        built = world.build()
        say(f"  from template.yaml: bucket {built.bucket}, queues {', '.join(sorted(built.queues))}")
        say(
            f"                      parameter {', '.join(built.parameters)}, topic {built.topic_arn.rsplit(':', 1)[-1]}"
        )
        notes = Announcements(built.topic_arn)
        routes = poller.routes_for(built)  # imports the handlers (which configure JSON logging)
        quiet_logs(args.verbose)
        running = poller.Poller(routes).start()
        wiring = ", ".join(f"{r.function_name} <- {r.queue_url.rsplit('/', 1)[-1]}" for r in routes)
        say(f"  poller           {wiring}")
        made = run_chain(built, notes, args.timeout)
        print_where(built, moto.endpoint, made)
        if not args.once:
            web_server = serve_web(args.port)
            quiet_logs(args.verbose)  # the app configures logging too
            say("\nrunning; press Ctrl-C to stop")
            while True:
                time.sleep(1)
                notes.show()
    except DemoFailed as err:
        say(f"\nDEMO FAILED: {err}")
        return 1
    except KeyboardInterrupt:
        say("\nstopping")
    finally:
        if web_server is not None:
            web_server.shutdown()
            flush_audit()  # while the stand-in still runs: at exit it would be gone
        if running is not None:
            running.stop()
        launcher.stop_local_jobs()
        moto.stop()
    say("\ndemo finished: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
