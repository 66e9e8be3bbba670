"""Benchmark: training past one worker's memory on a 2-worker LocalCluster, beside one process on what fits in it.

    python bench/scale.py                                  # 1M, 3M and 10M rows x 30 columns (long: ~1 h here)
    python bench/scale.py --sizes 1000000,3000000          # some sizes
    python bench/scale.py --sizes 1000000 --no-single      # the Dask side only

For each size, in its own moto server (a child process, so its memory is not
the bench's), the rows are appended as Parquet drops of ``--drop-rows`` rows to
a project's dataset (:func:`dropml.training.dataset.append_drop`, as the drop
function does). Then the Dask side runs the training job's own steps on it
(:func:`dropml.training.distributed.train_on_cluster`, then the version is
published) on a LocalCluster of ``--workers`` worker processes whose memory
limit is the larger of 75 % of the data and what a worker needs for its share
(LightGBM copies the share it holds once, as float32): so for 3M rows and up,
each worker's limit is below the data. It reports rows, bytes (Parquet, and the
data as float64 in one process), wall time, each worker's peak memory (the
largest resident set any worker process had), and the holdout R² of every model.

Beside it, in a subprocess, a single-process LightGBM (same parameters) trains
on as many rows as fit in one worker's memory limit, scored on a holdout of
rows it did not train on, with its wall time and peak memory.

Last, the weekly retrain's Fargate cost for 10,000 symbols x 365 days of rows
(3.65M rows), from the measured wall time per row of the largest measured run
at or above 3M rows (linear in rows), at us-east-1 list prices for the job's
task (TrainingCpu 2 vCPU, TrainingMemory 8 GiB) plus ``--workers`` Fargate
workers of 2 vCPU / 8 GiB, and each worker's start time bounded from AWS's docs.
This box's 2 shared cores run all workers, so measured times are upper bounds
for workers with their own vCPUs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = 30
PROJECT = "scale"
WORKER_BASE_BYTES = 500 * 1024**2  # a worker with pandas, pyarrow and LightGBM, and a partition read (measured)
FARGATE_VCPU_HOUR = 0.04048  # us-east-1, Linux/x86, on demand (aws.amazon.com/fargate/pricing)
FARGATE_GB_HOUR = 0.004445
JOB_VCPU, JOB_GB = 2, 8  # template.yaml TrainingCpu 2048 / TrainingMemory 8192
WORKER_VCPU, WORKER_GB = 2, 8
# Fargate task start: the ECS docs put provisioning plus image pull at tens of seconds to minutes; bounded here
# by the run's own wait (dask.training_worker_start_seconds default, 300 s): a run pays at most this before training
WORKER_START_BOUND_SECONDS = 300
SYMBOLS, DAYS = 10_000, 365


def make_rows(rows: int, seed: int, columns: int = COLUMNS) -> object:
    """Synthetic regression rows: a few informative columns (linear, periodic, an interaction), noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, columns)).astype("float64")
    frame = pd.DataFrame(x, columns=[f"x{i:02d}" for i in range(columns)])
    frame["target"] = (
        3 * x[:, 0] - 2 * x[:, 1] + np.sin(3 * x[:, 2]) + x[:, 3] * x[:, 4] + 0.5 * np.abs(x[:, 5])
    ) + 0.3 * rng.standard_normal(rows)
    return frame


def fill_dataset(rows: int, drop_rows: int) -> dict[str, float]:
    """Append ``rows`` rows as Parquet drops; returns the dataset's bytes and the seconds it took."""
    from dropml.config import settings
    from dropml.training import dataset

    conf = settings().training_for(PROJECT)
    started = time.perf_counter()
    for index, start in enumerate(range(0, rows, drop_rows)):
        frame = make_rows(min(drop_rows, rows - start), seed=index)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        dataset.append_drop(PROJECT, f"data/{PROJECT}/{index:05d}.parquet", f"{index:032x}", buffer.getvalue(), conf)
    info = dataset.describe(PROJECT)
    return {"bytes": info.size, "rows": info.rows, "append_seconds": time.perf_counter() - started}


def worker_limit(data_bytes: int, workers: int) -> int:
    """Each worker's memory limit: 75 % of the data, or what a worker needs for its share, whichever is larger."""
    needed = WORKER_BASE_BYTES + data_bytes // workers  # its share as float32, and LightGBM's one copy of it
    return max(int(0.75 * data_bytes), needed)


def run_dask(workers: int, limit: int) -> dict[str, object]:
    """The training job's Dask steps on the dataset, and the version published; times and per-worker peaks."""
    from dropml.config import reset_settings_cache, settings
    from dropml.storage import keys
    from dropml.training import distributed
    from dropml.training.cluster import training_cluster
    from dropml.training.partitioned_package import write_dask_version

    os.environ.update(
        {
            "DROPML__DASK__TRAINING_WORKERS": str(workers),
            "DROPML__DASK__TRAINING_WORKER_MEMORY": f"{limit // 1024**2}MiB",
        }
    )
    reset_settings_cache()
    conf = settings().training_for(PROJECT)
    started = time.perf_counter()
    source = distributed.locate(keys.dataset_prefix(PROJECT), PROJECT, conf, settings().dask.training_partition_bytes)
    with training_cluster() as client:
        cluster_seconds = time.perf_counter() - started
        trained = distributed.train_on_cluster(client, source, conf)
        peaks = client.run(_peak_rss)
    manifest = write_dask_version(trained, conf, PROJECT, f"bench-{int(time.time())}")
    return {
        "wall_seconds": time.perf_counter() - started,
        "cluster_seconds": cluster_seconds,
        "timings": {k: round(v, 1) for k, v in trained.timings.items()},
        "worker_peak_bytes": max(peaks.values()),
        "holdout_r2": {m.name: m.metrics.get("holdout_r2") for m in manifest.models},
        "rounds": manifest.model("gradient_boosting").params.get("n_estimators"),
        "rows_trained": trained.quality["train_rows"],
        "compiled": sorted(trained.compiled),
    }


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


SINGLE = r"""
import json, resource, sys, time
import numpy as np, lightgbm
sys.path.insert(0, {root!r})
from bench.scale import make_rows
from dropml.config import settings
from dropml.training.distributed import BOOSTING_PARAMS, VALIDATION_SHARE
train_rows, holdout_rows = {train_rows}, {holdout_rows}
started = time.perf_counter()
frame = make_rows(train_rows + holdout_rows, seed=10_000)
x = frame.drop(columns="target").to_numpy(dtype="float32"); y = frame["target"].to_numpy()
del frame
# its best configuration: as many rounds as the Dask side may use, stopped by its own validation rows
fit_rows = int(train_rows * (1 - VALIDATION_SHARE))
model = lightgbm.LGBMRegressor(
    **BOOSTING_PARAMS, n_estimators=settings().training.boosting_rounds, random_state=42, verbose=-1
)
model.fit(x[:fit_rows], y[:fit_rows], eval_set=[(x[fit_rows:train_rows], y[fit_rows:train_rows])],
          callbacks=[lightgbm.early_stopping(10, verbose=False)])
pred = model.predict(x[train_rows:])
hold = y[train_rows:]
r2 = 1 - ((pred - hold) ** 2).sum() / ((hold - hold.mean()) ** 2).sum()
print(json.dumps({{"rows": train_rows, "wall_seconds": time.perf_counter() - started, "r2": float(r2),
                  "rounds": int(model.best_iteration_ or model.n_estimators),
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""


def run_single(limit: int, rows: int) -> dict[str, object]:
    """Plain LightGBM in one process on the rows that fit in ``limit`` (about 3 float32 copies per row)."""
    per_row = (COLUMNS + 1) * 4 * 3
    train_rows = max(10_000, min(rows, int((limit - WORKER_BASE_BYTES) / per_row)))
    code = SINGLE.format(root=str(ROOT), train_rows=train_rows, holdout_rows=min(200_000, train_rows // 4))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=7200)
    if done.returncode:
        return {"error": done.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_size(rows: int, args: argparse.Namespace) -> dict[str, object]:
    """Fill a fresh stand-in with ``rows`` rows, train on Dask, and (unless --no-single) the single process."""
    from dropml import local
    from dropml.config import reset_settings_cache

    server = local.start_moto(in_process=False)
    try:
        local.use_endpoint(server.endpoint)
        reset_settings_cache()
        local.ensure_bucket()
        filled = fill_dataset(rows, args.drop_rows)
        data_bytes = rows * (COLUMNS + 1) * 8  # as one process holds it: float64
        limit = args.worker_memory * 1024**2 if args.worker_memory else worker_limit(data_bytes, args.workers)
        result = {"rows": rows, **filled, "data_bytes": data_bytes, "limit": limit, "workers": args.workers}
        result["dask"] = run_dask(args.workers, limit)
        result["single"] = run_single(limit, rows) if args.single else None
        return result
    finally:
        server.stop()


def mib(value: float) -> str:
    return f"{value / 1024**2:,.0f}"


def print_table(results: list[dict[str, object]], load: str) -> None:
    print(f"\nbench/scale.py, {time.strftime('%Y-%m-%d %H:%M')} UTC, load average {load}")
    head = (
        "| rows | Parquet MiB | data MiB (float64) | workers x limit MiB | limit < data | wall s (dask) | "
        "peak MiB / worker | holdout R² boosting / linear / baseline | single process: rows, wall s, peak MiB, R² |"
    )
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in results:
        d = r["dask"]
        r2 = d["holdout_r2"]
        single = r.get("single") or {}
        single_text = (
            f"{single['rows']:,}, {single['wall_seconds']:.1f}, {mib(single['peak_bytes'])}, {single['r2']:.4f}"
            if "r2" in single
            else single.get("error", "not run")
        )
        print(
            f"| {r['rows']:,} | {mib(r['bytes'])} | {mib(r['data_bytes'])} | {r['workers']} x {mib(r['limit'])} | "
            f"{'yes' if r['limit'] < r['data_bytes'] else 'no'} | {d['wall_seconds']:.1f} | "
            f"{mib(d['worker_peak_bytes'])} | {r2['gradient_boosting']:.4f} / {r2['linear']:.4f} / "
            f"{r2['baseline']:.4f} | {single_text} |"
        )
    print("\nper run:", json.dumps([{"rows": r["rows"], **r["dask"]["timings"]} for r in results]))


def print_cost(results: list[dict[str, object]], workers: int) -> None:
    """The weekly retrain's Fargate cost for 10,000 symbols x 365 days, from the measured seconds per row."""
    base = [r for r in results if r["rows"] >= 3_000_000] or results
    measured = max(base, key=lambda r: r["rows"])
    rows = SYMBOLS * DAYS
    seconds = measured["dask"]["wall_seconds"] * rows / measured["rows"] + WORKER_START_BOUND_SECONDS
    per_hour = (JOB_VCPU + workers * WORKER_VCPU) * FARGATE_VCPU_HOUR + (JOB_GB + workers * WORKER_GB) * FARGATE_GB_HOUR
    per_run = seconds / 3600 * per_hour
    print(
        f"\nweekly retrain, {SYMBOLS:,} symbols x {DAYS} days = {rows:,} rows: "
        f"{measured['dask']['wall_seconds']:.0f} s measured for {measured['rows']:,} rows -> {seconds:.0f} s "
        f"(incl. a {WORKER_START_BOUND_SECONDS} s bound on worker start) "
        f"on the job task ({JOB_VCPU} vCPU, {JOB_GB} GB) "
        f"+ {workers} workers ({WORKER_VCPU} vCPU, {WORKER_GB} GB each) at ${per_hour:.4f}/h: "
        f"${per_run:.3f} a run, ${per_run * 52 / 12:.2f} a month; $0 between runs"
    )


def print_targets(results: list[dict[str, object]]) -> None:
    print("\n| target | this run | met |")
    print("| --- | --- | --- |")
    for r in results:
        below = r["limit"] < r["data_bytes"]
        print(f"| {r['rows']:,} rows: each worker's limit below the data | {'yes' if below else 'no'} | "
              f"{'met' if below else 'not met'} |")  # fmt: skip
        single = r.get("single") or {}
        if "r2" in single:
            gap = r["dask"]["holdout_r2"]["gradient_boosting"] - single["r2"]
            print(
                f"| {r['rows']:,} rows: Dask R² >= single process - 0.01 | {gap:+.4f} | "
                f"{'met' if gap >= -0.01 else 'not met'} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--drop-rows", type=int, default=250_000)
    parser.add_argument("--single", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--worker-memory", type=int, default=0, help="each worker's limit in MiB (default: see above)")
    args = parser.parse_args()
    os.environ.setdefault("DROPML__DASK__TRAINING_PARTITION_BYTES", str(64 * 1024**2))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    results = []
    for rows in [int(s) for s in args.sizes.split(",")]:
        result = one_size(rows, args)
        print(json.dumps(result, default=str), file=sys.stderr)
        results.append(result)
    print_table(results, load)
    print_cost(results, args.workers)
    print_targets(results)


if __name__ == "__main__":
    main()
