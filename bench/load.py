"""Load test: gunicorn serving web.app:app on 127.0.0.1, N keep-alive clients, a promote and a rollback mid-run.

    python bench/load.py                       # 200 clients x 60 s, 2 workers x 8 threads (recommended)
    python bench/load.py --quick               # 20 clients x 10 s
    python bench/load.py --compare --clients 50 --seconds 15   # each gunicorn shape of --shapes, one table
    python bench/load.py --memory 2000         # RSS before/after 2,000 batch requests (after a warm-up)
    python bench/load.py --dask-threshold 0    # the config's dask.batch_threshold (10): 50-row batches on Dask

Everything is on loopback and stops by itself: a moto server (child process) stands in for S3/SSM; the
real training job (run_training, bench/versions.py) makes v1 and v2 of examples/breast_cancer.csv before
the clients start (the config's models: baseline, linear, random forest, gradient boosting), v1 live; at
1/3 of the run v2 is promoted (registry.promote), at 2/3 rolled back (registry.rollback). Training
happens before the clock, so it takes no CPU from the load. gunicorn gets
DROPML__SERVING__MODEL_TTL_SECONDS=1. Clients are threads, each with
one http.client keep-alive connection, sending closed-loop (next request as soon as the answer is read)
a mix of one-record and 50-row-batch POST /api/v1/predict bodies (pre-encoded).

The load generator shares the machine's cores with gunicorn and moto, so the figures are a floor for
the server, not its ceiling. Not part of pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GUNICORN = Path(sys.executable).with_name("gunicorn")
TTL_SECONDS = 1.0
BATCH_ROWS = 50
BATCH_SHARE = 0.3  # 30 % of requests are 50-row batches
RECOMMENDED_DASK_THRESHOLD = 1000  # on 2 cores, Dask for 50-row batches costs 3-5x throughput and 1 GiB (docs)
SWITCH_BUDGET_SECONDS = 5.0  # allowed beyond the TTL for a worker to load the new version under load
PAGE = os.sysconf("SC_PAGE_SIZE")
LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))


# ── the world: moto, versions, gunicorn ──────────────────────────────────────


def start_world(versions: int = 1) -> tuple[object, list[object]]:
    """Moto in a child process, the bucket, and ``versions`` versions made by the training job, v1 live.

    Returns (moto server, the manifests, oldest first).
    """
    from bench.versions import train_example_version
    from dropml import local
    from dropml.local import world

    moto = local.start_moto(in_process=False)
    local.use_endpoint(moto.endpoint)
    local.ensure_bucket()
    world.create_topic()  # announcements go where the stack's would
    started = time.monotonic()
    manifests = [train_example_version(promote=number == 1) for number in range(1, versions + 1)]
    print(
        f"trained v1..v{manifests[-1].version} with the training job in {time.monotonic() - started:.1f} s: "
        f"champion {manifests[0].champion}, models {', '.join(manifests[0].model_names)}",
        flush=True,
    )
    return moto, manifests


def start_gunicorn(
    endpoint: str, workers: int, threads: int, extra_env: dict[str, str]
) -> tuple[subprocess.Popen, int]:
    """gunicorn serving web.app:app on 127.0.0.1:<free port>; returns (process, port) once it answers."""
    from dropml import local

    port = local.free_port()
    env = {
        **os.environ,
        **local.local_environment(endpoint),
        "DROPML__SERVING__MODEL_TTL_SECONDS": str(TTL_SECONDS),
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    argv = [
        str(GUNICORN),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread" if threads > 1 else "sync",
        "--keep-alive", "75",  # longer than any pause of a client: no close races on idle connections
        "--timeout", "60",
        "--backlog", "2048",
        "--log-level", "warning",
        "web.app:app",
    ]  # fmt: skip
    log = LOG_DIR / f"gunicorn-{port}.log"
    with log.open("wb") as sink:  # the server's JSON logs: where a 5xx's traceback is
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/v1/health")
            answer = conn.getresponse()
            answer.read()
            conn.close()
            if answer.status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    stop_gunicorn(process)
    raise TimeoutError("gunicorn did not answer /api/v1/health with 200 within 60 s")


def stop_gunicorn(process: subprocess.Popen) -> None:
    """Graceful stop (SIGTERM to the master), then kill after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (gunicorn workers, and any Dask processes they started)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_mb(pids: list[int]) -> float:
    """Summed resident set size of ``pids`` in MiB (from /proc/<pid>/statm)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # it exited meanwhile
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total / 2**20


# ── clients ──────────────────────────────────────────────────────────────────


@dataclass
class Result:
    """One request as the client saw it."""

    kind: str
    started: float
    ended: float
    status: int
    version: int | None
    error: str | None = None


@dataclass
class Bodies:
    """Pre-encoded request bodies, so clients spend their CPU on HTTP, not JSON."""

    single: list[bytes]
    batch: list[bytes]


def make_bodies() -> Bodies:
    import pandas as pd

    from bench.versions import BREAST_CANCER

    features = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
    single = [json.dumps(features.iloc[i].to_dict()).encode() for i in range(0, len(features), 7)]
    batch = [
        json.dumps(features.iloc[i : i + BATCH_ROWS].to_dict("records")).encode()
        for i in range(0, len(features) - BATCH_ROWS, 37)
    ]
    return Bodies(single, batch)


@dataclass
class Load:
    """N client threads hammering POST /api/v1/predict until ``stop`` is set."""

    port: int
    clients: int
    bodies: Bodies
    batch_share: float = BATCH_SHARE
    results: list[Result] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        mine: list[Result] = []
        while not self.stop.is_set():
            kind = "batch" if rng.random() < self.batch_share else "single"
            body = rng.choice(self.bodies.batch if kind == "batch" else self.bodies.single)
            started = time.monotonic()
            try:
                conn.request("POST", "/api/v1/predict", body=body, headers={"Content-Type": "application/json"})
                answer = conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as err:
                mine.append(Result(kind, started, time.monotonic(), 0, None, f"{type(err).__name__}: {err}"))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            ended = time.monotonic()
            mine.append(Result(kind, started, ended, answer.status, *_version_of(answer, data)))
        conn.close()
        with self._lock:
            self.results.extend(mine)

    def run(self, seconds: float, during: list[tuple[float, object]] | None = None) -> list[tuple[str, float]]:
        """Run for ``seconds``; call each ``(at_fraction, action)`` on the way. Returns (label, monotonic time)."""
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(self.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        events: list[tuple[str, float]] = []
        for fraction, action in during or []:
            time.sleep(max(0.0, started + seconds * fraction - time.monotonic()))
            label = action()  # type: ignore[operator]
            events.append((label, time.monotonic()))
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        self.stop.set()
        for thread in threads:
            thread.join(90)
        self.elapsed = time.monotonic() - started
        return events


def _version_of(answer: http.client.HTTPResponse, data: bytes) -> tuple[int | None, str | None]:
    """The one model version an answer names; an error when header and body disagree or it is not 2xx."""
    if not 200 <= answer.status < 300:
        return None, f"HTTP {answer.status}: {data[:200].decode(errors='replace')}"
    header = answer.getheader("X-Model-Version")
    try:
        body_version = json.loads(data)["model_version"]
    except (ValueError, KeyError) as err:
        return None, f"unreadable answer: {err}"
    if header != str(body_version):
        return None, f"X-Model-Version {header} but body model_version {body_version}"
    return int(body_version), None


# ── reporting ────────────────────────────────────────────────────────────────


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency_rows(results: list[Result], elapsed: float) -> list[tuple[str, int, float, float, float, float]]:
    rows = []
    for kind in ("single", "batch", "all"):
        chosen = [r for r in results if kind in ("all", r.kind) and r.error is None]
        ms = [(r.ended - r.started) * 1000 for r in chosen]
        rows.append(
            (kind, len(chosen), len(chosen) / elapsed, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99))
        )
    return rows


def switch_lags(results: list[Result], events: list[tuple[str, float]]) -> list[dict[str, object]]:
    """Per event (a version becoming live): how soon every new request got the new version.

    ``lag``: the latest *start* of a request (after the event) still answered by another version, minus the
    event time; a request sent later than that always got the new version (0: none was stale).
    ``first``: the first answer from the new version; ``stale_ended``: when the last stale answer arrived
    (includes the time the request waited behind the other clients).
    """
    out = []
    targets = [int(label.rsplit("v", 1)[1]) for label, _ in events]
    for index, (label, at) in enumerate(events):
        target = targets[index]
        until = events[index + 1][1] if index + 1 < len(events) else float("inf")
        following = targets[index + 1] if index + 1 < len(events) else None
        window = [r for r in results if r.error is None and at <= r.started < until]
        # a request sent before the next event but answered after it may rightly get the next version
        stale = [r for r in window if r.version != target and not (r.version == following and r.ended > until)]
        fresh = [r.ended for r in window if r.version == target]
        out.append(
            {
                "event": label,
                "lag": (max(r.started for r in stale) - at) if stale else 0.0,
                "stale_ended": (max(r.ended for r in stale) - at) if stale else 0.0,
                "first": (min(fresh) - at) if fresh else float("nan"),
                "stale_answers": len(stale),
            }
        )
    return out


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    shown = [
        [f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in row]
        for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in shown)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in shown:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


# ── modes ────────────────────────────────────────────────────────────────────


def run_load(args: argparse.Namespace) -> int:
    """The full run: load, promote v2 at 1/3, roll back at 2/3; prints the tables; exit 1 on any failure."""
    from dropml import registry

    moto, manifests = start_world(versions=2)
    extra_env = {"DROPML__DASK__BATCH_THRESHOLD": str(args.dask_threshold)} if args.dask_threshold else {}
    try:
        gunicorn, port = start_gunicorn(moto.endpoint, args.workers, args.threads, extra_env)
        try:
            load = Load(port, args.clients, make_bodies())
            _warm(port, load.bodies)
            rss_start = rss_mb(descendants(gunicorn.pid))

            def promote_v2() -> str:
                manifest = registry.promote("default", manifests[1].version)  # v2, trained before, made live
                return f"promote v{manifest.version}"

            def roll_back() -> str:
                manifest = registry.rollback("default")
                return f"rollback to v{manifest.version}"

            print(
                f"load: {args.clients} clients x {args.seconds:.0f} s, gunicorn {args.workers} workers x "
                f"{args.threads} threads on 127.0.0.1:{port} (log: {LOG_DIR}/gunicorn-{port}.log), "
                f"{os.cpu_count()} cores shared by server, moto and "
                f"this load generator; {BATCH_SHARE:.0%} of requests are {BATCH_ROWS}-row batches ...",
                flush=True,
            )
            events = load.run(args.seconds, [(1 / 3, promote_v2), (2 / 3, roll_back)])
            rss_end = rss_mb(descendants(gunicorn.pid))
            workers = len([p for p in descendants(gunicorn.pid) if _parent(p) == gunicorn.pid])
        finally:
            stop_gunicorn(gunicorn)
    finally:
        moto.stop()
    return report(args, load, events, rss_start, rss_end, workers)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def _warm(port: int, bodies: Bodies, connections: int = 16) -> None:
    """Requests on several connections at once, so every worker has loaded v1 (and its lazy imports) before timing."""

    def one_connection() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in bodies.single[:3] + bodies.batch[:3]:
            conn.request("POST", "/api/v1/predict", body=body, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=one_connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def report(
    args: argparse.Namespace,
    load: Load,
    events: list[tuple[str, float]],
    rss_start: float,
    rss_end: float,
    workers: int,
) -> int:
    results, elapsed = load.results, load.elapsed
    if args.save:
        save_results(args.save, results, events)
    failures = [r for r in results if r.error is not None]
    ok = [r for r in results if r.error is None]
    print_table(
        f"requests ({elapsed:.1f} s)",
        ["total", "failures", "req/s", "RSS start MiB", "RSS end MiB", "workers"],
        [[len(results), len(failures), len(results) / elapsed, rss_start, rss_end, workers]],
    )
    print_table(
        "latency (ms; closed loop, so it includes queueing behind the other clients)",
        ["kind", "answers", "req/s", "p50", "p95", "p99"],
        [list(row) for row in latency_rows(results, elapsed)],
    )
    counts: dict[int | None, int] = {}
    for result in ok:
        counts[result.version] = counts.get(result.version, 0) + 1
    print_table("answers per model version", ["version", "answers"], [[f"v{v}", n] for v, n in sorted(counts.items())])
    lags = switch_lags(results, events)
    bound = TTL_SECONDS + SWITCH_BUDGET_SECONDS
    print_table(
        f"switches (bound: TTL {TTL_SECONDS:.0f} s + {SWITCH_BUDGET_SECONDS:.0f} s load budget = {bound:.0f} s)",
        ["event", "first new answer s", "last stale request sent s", "its answer s", "stale answers", "within bound"],
        [
            [
                e["event"],
                e["first"],
                e["lag"],
                e["stale_ended"],
                e["stale_answers"],
                "yes" if e["lag"] <= bound else "NO",
            ]
            for e in lags
        ],
    )
    if failures:
        kinds: dict[str, int] = {}
        for failure in failures:
            kind = re.sub(r',?"request_id":\s*"[^"]*"', "", failure.error or "")  # one row per kind of failure
            kinds[kind] = kinds.get(kind, 0) + 1
        print_table(
            "failures", ["count", "error"], [[n, e[:110]] for e, n in sorted(kinds.items(), key=lambda x: -x[1])]
        )
    good = not failures and all(e["lag"] <= bound for e in lags) and len(counts) == 2
    if failures:
        print(f"(5xx causes: the server's log, {LOG_DIR}/gunicorn-<port>.log, events 'unexpected error')")
    print(f"\nresult: {'PASS' if good else 'FAIL'} (0 failures, every answer names one version, switches within bound)")
    return 0 if good else 1


def save_results(path: str, results: list[Result], events: list[tuple[str, float]]) -> None:
    """Every request (seconds from the first request) and every event, as CSV, for a closer look."""
    import csv

    origin = min(r.started for r in results)
    with open(path, "w", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(["kind", "started", "ended", "status", "version", "error"])
        for label, at in events:
            writer.writerow(["event", round(at - origin, 4), "", "", label, ""])
        for r in sorted(results, key=lambda r: r.started):
            writer.writerow(
                [r.kind, round(r.started - origin, 4), round(r.ended - origin, 4), r.status, r.version, r.error]
            )


def run_compare(args: argparse.Namespace) -> int:
    """Quick runs of a few gunicorn shapes (and the Dask threshold) with the same clients; prints one table."""
    shapes = []  # (workers, threads, dask threshold): each shape with --dask-threshold, and 2x4 with the config's
    for shape in args.shapes.split(","):
        workers, threads = (int(n) for n in shape.split("x"))
        shapes.append((workers, threads, args.dask_threshold))
    if args.dask_threshold and args.with_config_threshold:
        shapes.append((2, 4, 0))
    moto, _ = start_world()
    bodies = make_bodies()
    rows = []
    try:
        for workers, threads, threshold in shapes:
            extra_env = {"DROPML__DASK__BATCH_THRESHOLD": str(threshold)} if threshold else {}
            gunicorn, port = start_gunicorn(moto.endpoint, workers, threads, extra_env)
            try:
                _warm(port, bodies)
                load = Load(port, args.clients, bodies)
                load.run(args.seconds)
                rss = rss_mb(descendants(gunicorn.pid))
            finally:
                stop_gunicorn(gunicorn)
            lat = {row[0]: row for row in latency_rows(load.results, load.elapsed)}
            failures = sum(r.error is not None for r in load.results)
            rows.append(
                [
                    f"{workers}x{threads} {'gthread' if threads > 1 else 'sync'}",
                    str(threshold or "config (10)"),
                    lat["all"][2],
                    lat["single"][3],
                    lat["single"][5],
                    lat["batch"][3],
                    lat["batch"][5],
                    failures,
                    rss,
                ]
            )
            print(f"  measured {rows[-1][0]}, dask threshold {rows[-1][1]}", flush=True)
    finally:
        moto.stop()
    print_table(
        f"gunicorn shapes: {args.clients} clients x {args.seconds:.0f} s each, "
        f"{os.cpu_count()} cores shared with the clients",
        [
            "shape",
            "dask threshold",
            "req/s",
            "single p50",
            "single p99",
            "batch p50",
            "batch p99",
            "failures",
            "RSS MiB",
        ],
        rows,
    )
    return 0


def run_memory(args: argparse.Namespace) -> int:
    """RSS of the serving processes before and after ``args.memory`` batch requests (after a warm-up)."""
    moto, _ = start_world()
    extra_env = {"DROPML__DASK__BATCH_THRESHOLD": str(args.dask_threshold)} if args.dask_threshold else {}
    bodies = make_bodies()
    samples: list[tuple[int, float]] = []
    try:
        gunicorn, port = start_gunicorn(moto.endpoint, args.workers, args.threads, extra_env)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            warm_up = max(200, args.memory // 10)
            total = warm_up + args.memory
            for i in range(total):
                conn.request(
                    "POST", "/api/v1/predict", body=bodies.batch[i % len(bodies.batch)],
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"request {i}: HTTP {answer.status}")
                done = i + 1 - warm_up
                if done >= 0 and done % max(1, args.memory // 10) == 0:
                    samples.append((done, rss_mb(descendants(gunicorn.pid))))
            conn.close()
        finally:
            stop_gunicorn(gunicorn)
    finally:
        moto.stop()
    before, after = samples[0][1], samples[-1][1]
    print_table(
        f"RSS of gunicorn's workers ({args.workers}x{args.threads}) during {args.memory:,} {BATCH_ROWS}-row batch "
        f"requests after {warm_up} warm-up requests",
        ["requests", "RSS MiB"],
        [[n, mb] for n, mb in samples],
    )
    per_request_kib = (after - before) * 1024 / args.memory
    print(f"\ngrowth: {after - before:+.1f} MiB over {args.memory:,} requests = {per_request_kib:+.2f} KiB per request")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--dask-threshold",
        type=int,
        default=RECOMMENDED_DASK_THRESHOLD,
        help="DROPML__DASK__BATCH_THRESHOLD for the server (0: the config's, 10)",
    )
    parser.add_argument("--quick", action="store_true", help="20 clients x 10 s")
    parser.add_argument("--save", default="", help="write every request's timings and version to this CSV")
    parser.add_argument("--compare", action="store_true", help="measure a few gunicorn shapes (use with --quick)")
    parser.add_argument(
        "--shapes", default="2x1,2x4,4x2,2x8", help="with --compare: workers x threads, comma-separated"
    )
    parser.add_argument("--with-config-threshold", action="store_true", help="with --compare: also 2x4 at the config's")
    parser.add_argument("--memory", type=int, default=0, help="RSS growth over this many batch requests")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 20, 10.0
    if args.memory:
        return run_memory(args)
    if args.compare:
        return run_compare(args)
    return run_load(args)


if __name__ == "__main__":
    sys.exit(main())
