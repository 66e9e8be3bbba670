"""Monitoring benchmark: what a training profile and a drift report cost, per batch, and what a plain predict pays.

  python bench/monitoring.py [--quick]          (make bench-monitoring)

Runs against moto in this process (as the tests do), on the real data shapes of the training zoo
(tests/support/zoo.py: every real set that publishes) and on a version the real training job makes of
examples/breast_cancer.csv (bench/versions.py). Prints markdown tables, then targets / this run / met:

- the tests: dropml's numpy Kolmogorov-Smirnov, chi-square and Wasserstein beside scipy's on the same data;
- per zoo set: the profile (ms, bytes), the drift report of 1,000 rows drawn from the set itself (columns
  wrongly called drifted: the false alarms) and of the same rows shifted (numbers x1.5, categories rotated);
- per batch size, 1k to 1M rows: observing and comparing in process (numbers sampled beyond
  monitoring.drift.max_rows);
- a scored test/ file (10k and 100k rows) with and without monitoring, and an upload's drift report;
- a one-record predict through the predict use case with the traffic sample on and off (the request path's
  only new work), and the sample's offer alone; the HTTP-level targets are bench/serve.py's;
- a challenger in the shadow: a one-record answer over HTTP with and without one, the shadow's own work (what a
  Lambda invocation lasts longer) and a 10,000-row file's;
- a day of API traffic (96 windows of 200 kept rows, the defaults' bound) reported by the monitoring job.
Not part of pytest. Every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.versions import BREAST_CANCER, train_example_version  # noqa: E402
from dropml import audit, local, storage  # noqa: E402
from dropml.config import reset_settings_cache, settings  # noqa: E402
from dropml.local import world  # noqa: E402
from dropml.monitoring import statistics as stats  # noqa: E402
from dropml.monitoring.batch import observe  # noqa: E402
from dropml.monitoring.drift import compare  # noqa: E402
from dropml.monitoring.profile import build_profile  # noqa: E402
from dropml.monitoring.scored import combine, observe_rows  # noqa: E402
from dropml.scoring import cached_version, validate_frame  # noqa: E402
from dropml.scoring.files import score_to_predictions, score_without_writing  # noqa: E402
from dropml.storage import keys  # noqa: E402
from dropml.training.clean import clean_frame  # noqa: E402
from dropml.training.ingest import parse_training_csv  # noqa: E402
from dropml.training.schema import build_input_schema  # noqa: E402
from dropml.usecases import daily_monitoring, live, predict, shadow  # noqa: E402
from dropml.usecases.drift import DriftSource, record_drift, record_rows_drift  # noqa: E402
from dropml.usecases.score_file import _watcher  # noqa: E402
from dropml.usecases.serving import Serving  # noqa: E402

FIGURES: dict[str, float] = {}


def timed(function, repeat: int = 5) -> float:
    """The median seconds of ``repeat`` calls."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds >= 0.001 else f"{seconds * 1e6:,.1f} µs"


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n### {title}\n\n| {' | '.join(header)} |\n|{' --- |' * len(header)}", flush=True)
    for row in rows:
        print(f"| {' | '.join(row)} |", flush=True)


# ── the tests against scipy ──────────────────────────────────────────────────


def tests_against_scipy() -> None:
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(0)
    reference = np.sort(rng.normal(size=500))  # a profile's quantile points
    rows = []
    for n in (1_000, 100_000):
        current = rng.normal(0.1, 1.0, n)
        rows.append([
            f"KS, 500 points vs {n:,} values",
            ms(timed(lambda c=current: stats.ks_two_sample(reference, c))),
            ms(timed(lambda c=current: scipy_stats.ks_2samp(reference, c, method="asymp"))),
        ])  # fmt: skip
        rows.append([
            f"Wasserstein, 500 points vs {n:,} values",
            ms(timed(lambda c=current: stats.wasserstein(reference, c))),
            ms(timed(lambda c=current: scipy_stats.wasserstein_distance(reference, c))),
        ])  # fmt: skip
    counts = rng.integers(1, 1000, size=(2, 50)).astype(float)
    rows.append([
        "chi-square, 50 categories",
        ms(timed(lambda: stats.chi_square_two_sample(counts[0], counts[1]), 50)),
        ms(timed(lambda: scipy_stats.chi2_contingency(counts, correction=False), 50)),
    ])  # fmt: skip
    table("Tests: dropml (numpy) beside scipy, median of 5", ["what", "dropml", "scipy"], rows)


# ── the zoo ──────────────────────────────────────────────────────────────────


def _shifted(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    out = frame.copy()
    for name, kind in kinds.items():
        if kind == "numeric":
            out[name] = out[name] * 1.5 + out[name].std()
        elif kind == "categorical":
            values = out[name].dropna().unique().tolist()
            if len(values) > 1:
                out[name] = out[name].map(dict(zip(values, values[1:] + values[:1], strict=True)))
    return out


def zoo(quick: bool) -> None:
    from support.zoo import REAL

    conf = settings().monitoring
    rows, false_alarms, detected = [], [], []
    for case in [c for c in REAL if c.publishes][: 8 if quick else None]:
        training = settings().training_for(case.name, {"target": case.target, **case.overrides})
        frame, _ = parse_training_csv(case.load(rows=None), case.name)
        cleaned = clean_frame(frame, training)
        schema = build_input_schema(
            cleaned.frame, cleaned.kinds, training.time_column, training.group_column, any_text=cleaned.word_columns
        )
        checked = validate_frame(schema, cleaned.features)
        started = time.perf_counter()
        profile = build_profile(schema, checked, conf.drift.profile_points)
        profile_seconds = time.perf_counter() - started
        batch = cleaned.features.sample(n=1000, replace=len(cleaned.features) < 1000, random_state=1)
        same = validate_frame(schema, batch)
        shifted = validate_frame(schema, _shifted(batch, cleaned.kinds))
        started = time.perf_counter()
        report = compare(profile, observe(schema, same), conf.drift, conf.thresholds)
        drift_seconds = time.perf_counter() - started
        moved = compare(profile, observe(schema, shifted), conf.drift, conf.thresholds)
        false_alarms.append(report.drifted_share)
        detected.append(moved.drifted_share)
        rows.append([
            case.name, f"{len(checked):,} x {len(schema.columns)}", ms(profile_seconds), f"{len(profile.to_bytes()):,}",
            ms(drift_seconds), f"{report.drifted_columns}/{report.tested_columns}",
            f"{moved.drifted_columns}/{moved.tested_columns}",
        ])  # fmt: skip
    table(
        "Zoo: profile and a 1,000-row drift report per real set",
        ["set", "rows x columns", "profile", "profile bytes", "drift report", "drifted: same rows", "drifted: shifted"],
        rows,
    )
    FIGURES["zoo_false_alarm_share"] = float(np.mean(false_alarms))
    FIGURES["zoo_detected_share"] = float(np.mean(detected))


# ── batch sizes ──────────────────────────────────────────────────────────────


def _mixed(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i / 10, rows) for i in range(25)})
    for i in range(5):
        frame[f"c{i}"] = rng.choice([f"level{j}" for j in range(3 + 4 * i)], rows)
    return frame


def batch_sizes(quick: bool) -> None:
    from dropml.manifest import ColumnSchema, InputSchema

    conf = settings().monitoring
    training = _mixed(100_000, 0)
    schema = InputSchema(
        columns=[
            ColumnSchema(name=c, dtype="float64", kind="numeric", minimum=training[c].min(), maximum=training[c].max())
            if c.startswith("x")
            else ColumnSchema(name=c, dtype="object", kind="categorical", categories=sorted(training[c].unique()))
            for c in training.columns
        ]
    )
    started = time.perf_counter()
    profile = build_profile(schema, training, conf.drift.profile_points)  # as training's package step does
    FIGURES["profile_100k_seconds"] = time.perf_counter() - started
    rows = []
    for size in [1_000, 10_000, 100_000] + ([] if quick else [1_000_000]):
        checked = validate_frame(schema, _mixed(size, 1))

        def report(c=checked):
            return compare(profile, observe_rows(schema, c, conf.drift.max_rows), conf.drift, conf.thresholds)

        seconds = timed(report, 3)
        FIGURES[f"drift_{size}_seconds"] = seconds
        rows.append([f"{size:,}", ms(seconds), f"{seconds / size * 1e6:.2f} µs", f"{report().drifted_columns}/30"])
    table(
        f"Drift report in process, 25 numeric + 5 categorical columns (profile of 100k rows: "
        f"{ms(FIGURES['profile_100k_seconds'])})",
        ["batch rows", "observe + compare", "per row", "drifted (same distribution)"],
        rows,
    )


# ── on the stand-in: files, uploads, requests, a day of traffic ──────────────


def _score(key: str, observer: bool) -> float:
    storage.delete(keys.predictions_key("default", key.split("/", 1)[1]))  # else it is skipped as already scored
    parsed = keys.parse_data_key(key, kind="test")
    started = time.perf_counter()
    scored = score_to_predictions(parsed, uuid.uuid4().hex, settings(), observer_for=_watcher if observer else None)
    if observer:
        manifest = cached_version("default", scored.version).manifest
        record_drift(manifest, DriftSource("file", key, "bench"), combine(scored.observed).observed)
    return time.perf_counter() - started


def files_and_uploads(quick: bool) -> None:
    manifest = train_example_version(BREAST_CANCER)
    features = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
    rows = []
    for size in [10_000] + ([] if quick else [100_000]):
        key = f"test/bench-{size}.csv"
        storage.put_bytes(key, features.sample(size, replace=True, random_state=2).to_csv(index=False).encode())
        _score(key, True)  # warm: the version loaded, Dask started
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(5):  # alternate, so load on the box touches both alike
            for watching, found in runs.items():
                found.append(_score(key, watching))
        plain, watched = statistics.median(runs[False]), statistics.median(runs[True])
        FIGURES[f"file_{size}_overhead"] = watched / plain - 1
        rows.append([f"test/ file, {size:,} rows", ms(plain), ms(watched), f"{watched / plain - 1:+.1%}"])
    loaded = cached_version("default", manifest.version)
    for size in (1_000, 10_000):
        checked = validate_frame(loaded.schema, features.sample(size, replace=True, random_state=3))
        seconds = timed(lambda c=checked: record_rows_drift(manifest, DriftSource("upload", "u.csv", "b"), c), 3)
        FIGURES[f"upload_{size}_seconds"] = seconds
        rows.append([f"upload, {size:,} rows: the drift report (observe, compare, one S3 put)", "", ms(seconds), ""])
    table(
        "Files and uploads on the stand-in (moto in process), median of 3", ["batch", "without", "with", "extra"], rows
    )


def requests(quick: bool) -> None:
    loaded = cached_version("default", 1)
    conf = settings()
    record = pd.read_csv(BREAST_CANCER).drop(columns=["target"]).iloc[0].to_dict()
    given = predict.checked_json(loaded, record, conf)
    rounds = 20 if quick else 60

    def one() -> float:
        started = time.perf_counter()
        predict.score_request(loaded, given, "champion", b"{}", "json", request_id="r", started=started, conf=conf)
        return time.perf_counter() - started

    times: dict[int, list[float]] = {0: [], 200: []}
    for _ in range(rounds):  # interleaved blocks of 100 calls: load on the box touches both settings alike
        for rows, found in times.items():
            os.environ["DROPML__MONITORING__TRAFFIC_SAMPLE__ROWS"] = str(rows)
            reset_settings_cache()
            found.extend(one() for _ in range(100))
        audit.prediction_buffer().flush()
    os.environ.pop("DROPML__MONITORING__TRAFFIC_SAMPLE__ROWS")
    reset_settings_cache()
    off, on = statistics.median(times[0]), statistics.median(times[200])
    sample = audit.InputSample()
    started = time.perf_counter()
    for _ in range(100_000):
        sample.offer("default", 1, given.rows, 1)
    offer = (time.perf_counter() - started) / 100_000
    FIGURES.update(predict_off=off, predict_on=on, offer=offer)
    table(
        f"One record through the predict use case (champion, in process), median of {rounds * 100:,} calls each",
        ["traffic sample", "per request", "the sample's offer alone (mean of 100,000)"],
        [["off (rows 0)", ms(off), ""], ["on (200 rows per window)", ms(on), ms(offer)]],
    )


def _answer_seconds(base: str, body: bytes) -> float:
    request = urllib.request.Request(
        f"{base}/api/v1/predict", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
    return time.perf_counter() - started


def challenger_in_the_shadow(quick: bool) -> None:
    """What a challenger costs: a one-record answer over HTTP with and without one (the shadow runs after the
    answer, in the same process), the shadow's own time (what a Lambda invocation lasts longer), and a file's."""
    from werkzeug.serving import make_server

    from web import create_app

    loaded = cached_version("default", 1)
    challenger = train_example_version(BREAST_CANCER, promote=False)  # the same training: the same work per row
    features = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
    body = json.dumps(features.iloc[0].to_dict()).encode()
    conf = settings().model_copy(
        update={"serving": settings().serving.model_copy(update={"model_ttl_seconds": 3600.0})}
    )
    servers, bases = [], {}
    for arm in ("without", "with"):  # each app reads the challenger pointer once (TTL 1 h): one arm each
        if arm == "with":
            live.challenge("default", challenger.version)
        server = make_server("127.0.0.1", 0, create_app(conf), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        bases[arm] = f"http://127.0.0.1:{server.server_port}"
        for _ in range(20):  # warm: versions loaded, the pointer read
            _answer_seconds(bases[arm], body)
    rounds = 10 if quick else 30
    times: dict[str, list[float]] = {"without": [], "with": []}
    try:
        for _ in range(rounds):  # interleaved blocks of 50 requests, one at a time
            for arm, found in times.items():
                found.extend(_answer_seconds(bases[arm], body) for _ in range(50))
    finally:
        for server in servers:
            server.shutdown()
    request = shadow.json_request(
        predict.score_request(
            loaded, predict.checked_json(loaded, json.loads(body), conf), "all", body, "json",
            request_id="bench", started=time.perf_counter(), conf=conf,
        ),
        json.loads(body), body, conf,
    )  # fmt: skip
    serving = Serving(conf)
    shadow_seconds = timed(lambda: shadow.score_request_in_shadow(serving, request), 200)
    audit.prediction_buffer().flush()
    key = "test/bench-shadow.csv"
    storage.put_bytes(key, features.sample(10_000, replace=True, random_state=4).to_csv(index=False).encode())
    parsed = keys.parse_data_key(key, kind="test")
    files: dict[str, list[float]] = {"live": [], "shadow": []}
    for _ in range(3):  # interleaved: the live version's scoring (and writing) beside the challenger's shadow
        files["live"].append(timed(lambda: _score(key, True), 1))
        files["shadow"].append(timed(lambda: score_without_writing(parsed, challenger.version, "b", conf, _watcher), 1))
    file_live, file_seconds = statistics.median(files["live"]), statistics.median(files["shadow"])
    live.clear_challenger("default")
    without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
    p99 = {arm: float(np.percentile(found, 99)) for arm, found in times.items()}
    FIGURES.update(shadow_answer_without=without, shadow_answer_with=with_, shadow_seconds=shadow_seconds)
    table(
        f"A challenger in the shadow (same model kinds as the champion), {rounds * 50:,} sequential one-record JSON "
        "requests per arm over HTTP (werkzeug, threaded, in this process)",
        ["", "answer p50", "answer p99", "the challenger's own work"],
        [
            ["no challenger", ms(without), ms(p99["without"]), ""],
            ["a challenger", ms(with_), ms(p99["with"]), f"{ms(shadow_seconds)} per request (median of 200)"],
            [
                "a 10,000-row test/ file",
                f"scored, watched, written: {ms(file_live)}",
                "",
                f"{ms(file_seconds)} (scored and watched again, nothing written; median of 3)",
            ],
        ],
    )


def traffic_day(quick: bool) -> None:
    loaded = cached_version("default", 1)
    features = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
    windows = 24 if quick else int(86400 / settings().monitoring.traffic_sample.window_seconds)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for window in range(windows):
        batch = validate_frame(loaded.schema, features.sample(2000, replace=True, random_state=window))
        audit.input_sample().offer("default", 1, batch, len(batch))  # one window's rows, then written
        audit.flush_samples()
    started = time.perf_counter()
    done = daily_monitoring.monitor_day(today, "default")
    seconds = time.perf_counter() - started
    bytes_written = sum(o.size for o in storage.list_objects(keys.audit_project_prefix("samples", today, "default")))
    FIGURES["traffic_day_seconds"] = seconds
    table(
        "A day of API traffic: the monitoring job's report",
        ["windows x kept rows", "sample bytes", "report (read, validate, observe, compare, put)", "reports"],
        [
            [
                f"{windows} x {settings().monitoring.traffic_sample.rows}",
                f"{bytes_written:,}",
                ms(seconds),
                str(len(done["projects"]["default"]["drift_reports"])),
            ]
        ],
    )


def print_targets() -> None:
    print("\n| target | this run | met |\n| --- | --- | --- |")

    def row(target: str, figure: str, met: bool) -> None:
        print(f"| {target} | {figure} | {'yes' if met else 'no'} |")

    added = FIGURES["predict_on"] - FIGURES["predict_off"]
    row(
        "one-record predict in process: the traffic sample adds ≤ 5 µs (over HTTP: bench/serve.py's targets)",
        f"{added * 1e6:+.1f} µs ({ms(FIGURES['predict_off'])} → {ms(FIGURES['predict_on'])})",
        added <= 5e-6,
    )
    row("the sample's offer per one-row request ≤ 5 µs", ms(FIGURES["offer"]), FIGURES["offer"] <= 5e-6)
    extra = FIGURES["shadow_answer_with"] / FIGURES["shadow_answer_without"] - 1
    row(
        "a challenger adds ≤ 10 % to a one-record answer's median over HTTP (it runs after the answer)",
        f"{extra:+.1%} ({ms(FIGURES['shadow_answer_without'])} → {ms(FIGURES['shadow_answer_with'])})",
        extra <= 0.10,
    )
    overhead = FIGURES.get("file_100000_overhead", FIGURES["file_10000_overhead"])
    row("a scored 100k-row file: monitoring adds ≤ 20 %", f"{overhead:+.1%}", overhead <= 0.20)
    row(
        "an upload of 10,000 rows: its drift report ≤ 150 ms",
        ms(FIGURES["upload_10000_seconds"]),
        FIGURES["upload_10000_seconds"] <= 0.15,
    )
    sizes = [int(k[6:-8]) for k in FIGURES if k.startswith("drift_") and k.endswith("_seconds") and k[6:-8].isdigit()]
    biggest = FIGURES[f"drift_{max(sizes)}_seconds"]
    row(f"a {max(sizes):,}-row batch's drift report in process ≤ 2 s", ms(biggest), biggest <= 2.0)
    row(
        "zoo, rows drawn from the set itself: ≤ 10 % of columns called drifted",
        f"{FIGURES['zoo_false_alarm_share']:.1%}",
        FIGURES["zoo_false_alarm_share"] <= 0.10,
    )
    detected = FIGURES["zoo_detected_share"]
    row("zoo, the same rows shifted: ≥ 50 % of columns found drifted", f"{detected:.1%}", detected >= 0.5)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller loops (no 1M-row batch, no 100k-row file)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    tests_against_scipy()
    zoo(args.quick)
    batch_sizes(args.quick)
    server = local.start_moto(in_process=True)
    local.use_endpoint(server.endpoint)
    local.ensure_bucket()
    world.create_topic()
    try:
        files_and_uploads(args.quick)
        requests(args.quick)
        challenger_in_the_shadow(args.quick)
        traffic_day(args.quick)
    finally:
        audit.input_sample().drain()
        server.stop()
    print_targets()


if __name__ == "__main__":
    main()
