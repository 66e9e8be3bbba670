"""Cold start of the web app's Lambda package, replayed the way Lambda starts it: prints markdown tables.

  python bench/coldstart.py [--runs 5] [--csv FILE | --zoo NAME] [--skip-baseline]

On a version the real training job makes of a data set (default examples/breast_cancer.csv; ``--zoo NAME``
takes a set of tests/support/zoo.py), with moto's server as the stand-in, for each Zappa stage of
zappa_settings.json it runs ``zappa package <stage>`` in a venv of the stage's runtime (python3.12, as
web/README.md says), stores the package in the stand-in's S3 and, ``--runs`` times, replays a cold start in a
fresh process of the runtime's Python (tests/support/lambda_package.py says exactly how):

- ``full`` (slim_handler, scikit-learn included: today's package, and the function that serves versions
  the lean package cannot): Zappa's handler fetches the project archive from S3 and unpacks it at Init;
- ``dev`` (the lean package Lambda loads from its own code storage): the zip fetched from S3 and unzipped
  (Lambda's own steps before Init), then Init;
- ``dev`` under SnapStart: Init runs when a version is published (with the snap-start priming of
  web/snapstart.py); a cold start restores the snapshot, then answers. Restore itself cannot be replayed here
  (the after-restore answer is timed; AWS reports the restore as "Restore Duration").

Each then answers a JSON record, a CSV body and the form page (a POST of the record) through Zappa's
handler. Times are medians of the runs; the cold start is spawn (plus code fetch and unzip for a full
package) to the JSON answer. Ends with the targets table. Not part of pytest; every loop is bounded.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support import lambda_package  # noqa: E402
from support.lambda_package import LAMBDA_CODE_LIMIT, ColdStart, Package  # noqa: E402

from bench.versions import BENCH_TRAINING, BREAST_CANCER, train_example_version  # noqa: E402
from dropml import aws, local  # noqa: E402
from dropml.local import world  # noqa: E402

TARGET_COLD_S = 1.0
CSV_ROWS = 5
MB = 1e6


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def data_set(args: argparse.Namespace, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The CSV to train on and the training overrides (the zoo case's target and settings, or the bench's)."""
    if not args.zoo:
        return Path(args.csv), dict(BENCH_TRAINING)
    from support.zoo import EDGE, REAL

    [case] = [c for c in (*REAL, *EDGE) if c.name == args.zoo] or [None]
    if case is None or not case.publishes:
        raise SystemExit(f"--zoo {args.zoo}: not a zoo set that publishes a version")
    csv = workdir / f"{case.name}.csv"
    csv.write_bytes(case.load())
    return csv, {**BENCH_TRAINING, "target": case.target, **case.overrides}


def channel_events(csv: Path, manifest: Any) -> list[tuple[str, dict[str, Any]]]:
    """A JSON record, a CSV body of a few rows and the form's POST, all of the file's first rows' input columns."""
    frame = pd.read_csv(io.BytesIO(csv.read_bytes()), sep=None, engine="python", nrows=CSV_ROWS)
    columns = [c.name for c in manifest.input_schema.columns]
    rows = frame[columns]
    record = {k: (None if pd.isna(v) else v) for k, v in rows.iloc[0].to_dict().items()}
    record = json.loads(json.dumps(record, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
    form = urlencode({f"col:{k}": "" if v is None else v for k, v in record.items()})
    return [
        ("json", lambda_package.api_event("POST", "/api/v1/predict", json.dumps(record), "application/json")),
        ("csv", lambda_package.api_event("POST", "/api/v1/predict", rows.to_csv(index=False), "text/csv")),
        ("form", lambda_package.api_event("POST", "/", form, "application/x-www-form-urlencoded")),
    ]


def check_answers(run: ColdStart, stage: str) -> None:
    for name, step in run.steps.items():
        if name != "init" and step["status"] != 200:
            raise RuntimeError(f"{stage}: the {name} answer was {step['status']}: {step['body'][:500]}")


def replay(package: Package, events: list, workdir: Path, env: dict[str, str], runs: int, **extra: Any) -> list:
    s3 = aws.client("s3")
    results = []
    for _ in range(runs):
        run = lambda_package.start_cold(package, events, workdir, env, s3, **extra)
        check_answers(run, package.stage)
        results.append(run)
    return results


def lean_refusal(package: Package, events: list, workdir: Path, env: dict[str, str]) -> str:
    """The lean package's answer to a version it cannot serve: a 503 naming the uncompiled models (checked)."""
    run = lambda_package.start_cold(package, events[:1], workdir, env, aws.client("s3"))
    answer = run.steps["json"]
    if answer["status"] != 503 or "NeedsScikitLearn" not in answer["body"]:
        raise RuntimeError(f"{package.stage}: expected a 503 NeedsScikitLearn: {answer['status']} {answer['body']}")
    return json.loads(answer["body"])["message"]


def median(values: list[float]) -> float:
    return statistics.median(values)


def s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per row (median reported)")
    parser.add_argument("--csv", default=str(BREAST_CANCER), help="the data set to train on")
    parser.add_argument("--zoo", help="a zoo set's name (tests/support/zoo.py) instead of --csv")
    parser.add_argument("--skip-baseline", action="store_true", help="leave out the slim full stage")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dropml-coldstart-"))
    print(f"bench/coldstart.py: {os.cpu_count()} cores; {uptime()}; work in {workdir}", flush=True)

    moto = local.start_moto(in_process=False)
    try:
        local.use_endpoint(moto.endpoint)
        bucket = local.ensure_bucket()
        world.create_topic()
        csv, overrides = data_set(args, workdir)
        started = time.perf_counter()
        manifest = train_example_version(csv, overrides=overrides)
        compiled = sum(1 for m in manifest.models if m.compiled is not None)
        print(f"trained {csv.name} in {time.perf_counter() - started:.1f} s: v{manifest.version}, champion "
              f"{manifest.champion}, {compiled} of {len(manifest.models)} models compiled", flush=True)  # fmt: skip
        events = channel_events(csv, manifest)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DROPML__", "PYTHON"))}
        env.update(local.local_environment(moto.endpoint), DROPML__STORAGE__BUCKET=bucket)
        env["DROPML__SERVING__MODEL_TTL_SECONDS"] = "0"
        stages = ["dev"] if args.skip_baseline else ["full", "dev"]
        packages = {}
        for stage in stages:
            package = lambda_package.build(stage, workdir, "dropml-zappa-bench")
            lambda_package.upload(package, aws.client("s3"))
            packages[stage] = package
            print(f"zappa package {stage}: {package.zipped_bytes / MB:.1f} MB zipped, "
                  f"{package.unpacked_bytes / MB:.1f} MB unpacked, built in {package.build_seconds:.0f} s; largest: "
                  + ", ".join(f"{k} {v / MB:.0f}" for k, v in list(package.sizes.items())[:8]), flush=True)  # fmt: skip
        rows, snap, refused = {}, [], ""
        for stage in stages:
            if stage == "dev" and compiled < len(manifest.models):  # the lean package has no scikit-learn
                refused = lean_refusal(packages[stage], events, workdir, env)
                print(f"dev refuses this version, as designed: {refused}", flush=True)
                continue
            rows[stage] = replay(packages[stage], events, workdir, env, args.runs)
            print(f"{stage}: cold start to JSON {s(median([r.cold_start_s for r in rows[stage]]))}", flush=True)
        if not refused:
            snap = replay(packages["dev"], events, workdir, env, args.runs,
                          extra_env={"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})  # fmt: skip
            print(f"dev + SnapStart: after-restore JSON {s(median([r.steps['json']['seconds'] for r in snap]))}")
    finally:
        moto.stop()
    print_tables(packages, rows, snap, manifest, compiled, csv, args.runs)
    if refused:
        print(f"\nThe lean package (dev) refused this version with a 503, as designed: {refused}")
    print(f"\n{uptime()}")


def print_tables(packages: dict, rows: dict, snap: list, manifest: Any, compiled: int, csv: Path, runs: int) -> None:
    """The measurement table (one row per way of starting) and the targets table."""
    print(f"\n{csv.name}: v{manifest.version}, {compiled} of {len(manifest.models)} models compiled; "
          f"medians of {runs} cold starts\n")  # fmt: skip
    print(
        "| package, how it starts | zipped | unzipped (of Lambda's 262,144,000 B) | code fetch | unzip | spawn to end "
        "of Init | JSON | CSV body | form page | cold start to JSON | imported by the JSON answer |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    names = {"full": "full: slim_handler, scikit-learn (today's package; the second function)",
             "dev": "dev: lean zip, on-demand Init"}  # fmt: skip
    for stage, results in rows.items():
        package = packages[stage]
        unzipped = f"{package.unpacked_bytes / MB:.1f} MB ({package.unpacked_bytes / LAMBDA_CODE_LIMIT:.0%})"
        code = ["in Init (Zappa's handler)"] * 2 if package.slim else [
            s(median([r.code_fetch_s for r in results])), s(median([r.code_unpack_s for r in results]))]  # fmt: skip
        imported = ", ".join(results[-1].steps["json"]["imported"])
        cells = [names.get(stage, stage), f"{package.zipped_bytes / MB:.1f} MB", unzipped, *code,
                 s(median([r.process_s for r in results])), *answer_cells(results),
                 s(median([r.cold_start_s for r in results])), imported]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    if snap:
        after = s(median([r.steps["json"]["seconds"] for r in snap]))
        hooks = median([r.steps["init"]["after_restore_hooks"] for r in snap])
        cells = ["dev: SnapStart (Init at publish, primed; restore hooks "
                 f"{hooks * 1000:.1f} ms)", "", "", "restored from the snapshot", "",
                 f"{s(median([r.process_s for r in snap]))} at publish", *answer_cells(snap),
                 f"Restore Duration + {after}", ", ".join(snap[-1].steps["json"]["imported"])]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print_targets(packages, rows.get("dev", []), snap)


def answer_cells(results: list[ColdStart]) -> list[str]:
    return [s(median([r.steps[name]["seconds"] for r in results])) for name in ("json", "csv", "form")]


def print_targets(packages: dict, lean: list[ColdStart], snap: list[ColdStart]) -> None:
    print("\n| target | this run | met |\n| --- | --- | --- |")
    unpacked = packages["dev"].unpacked_bytes
    size_row = (f"| package <= 250 MB unzipped (262,144,000 B) | {unpacked:,} B | "
                f"{'yes' if unpacked <= LAMBDA_CODE_LIMIT else 'no'} |")  # fmt: skip
    if not lean:
        print(
            "| cold start as Lambda runs it, JSON record, p50 <= 1.0 s | the lean package cannot serve this version "
            "(an uncompiled model): the full stage serves it | no |"
        )
        print(size_row)
        return
    cold = median([r.cold_start_s for r in lean])
    own = median([r.first_answer_wall_s for r in lean])
    code = median([r.code_fetch_s + r.code_unpack_s for r in lean])
    print(f"| cold start as Lambda runs it, JSON record, p50 <= {TARGET_COLD_S:.1f} s: on-demand Init (every step "
          f"replayed) | {s(cold)}: code fetch + unzip {s(code)} (Lambda's, from its own storage; replayed from the "
          f"stand-in's S3), spawn + Init + answer {s(own)} | {'yes' if cold <= TARGET_COLD_S else 'no'} |")  # fmt: skip
    if snap:
        after = median([r.steps["json"]["seconds"] for r in snap])
        print(
            f"| the same with SnapStart (the dev stage's setting) | Restore Duration + {s(after)} after restore | "
            f"only if Lambda restores in under {s(TARGET_COLD_S - after)} (AWS's part, not replayable here) |"
        )
    print(size_row)
    leaked = sorted({m for r in lean for m in r.steps["json"]["imported"]} & {"sklearn", "scipy", "pandas"})
    print(f"| JSON answer imports no scikit-learn, scipy or pandas | {', '.join(leaked) or 'none imported'} | "
          f"{'no' if leaked else 'yes'} |")  # fmt: skip


if __name__ == "__main__":
    main()
