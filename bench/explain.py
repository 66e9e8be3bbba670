"""What reasons with each prediction cost, on zoo sets trained with the config's default models.

  python bench/explain.py [--only vega-cars sm-randhie] [--quick]

Each set (``tests/support/zoo.py``; default: a few shapes, ``--only`` to choose) is trained by the real
training job (bench/serve_zoo.py's settings) with moto in a child process, then, in this process, for its
champion: reading its explainer (the file, checked, and TreeSHAP's leaf tables built), one record's
prediction and one record's explanation (p50 of 50, in process: no HTTP), the explanation of a batch per
row (up to 1,000 rows, fewer for a big forest, as training's importance budget), and building the explainer
as training does (global importance on a holdout-sized sample).
bench/serve.py times ``?explain=true`` over HTTP. Prints a markdown table; no targets (the issue sets none
beyond a plain prediction not getting slower, which bench/serve.py's targets cover).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import serve_zoo  # noqa: E402
from dropml import local  # noqa: E402
from dropml.local import world  # noqa: E402
from dropml.scoring import load_version, validate_frame  # noqa: E402
from dropml.scoring.csv_input import read_scoring_csv  # noqa: E402
from dropml.scoring.load import NotExplained, predict_in_process  # noqa: E402
from dropml.training.explainers import IMPORTANCE_LEAF_ROWS, build_explainer  # noqa: E402

DEFAULT_SETS = ["vega-cars", "penguins", "sk-breast-cancer", "sm-randhie", "crypto-ohlcv"]
REPEATS = 50
MANY_ROWS = 1000


def p50(work, repeats: int = REPEATS, budget: float = 10.0) -> float:
    """The median seconds of ``work()`` over ``repeats`` runs (after one untimed), fewer (3 at least) past
    ``budget`` seconds."""
    work()
    times: list[float] = []
    while len(times) < repeats and (len(times) < 3 or sum(times) < budget):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(version: serve_zoo.ZooVersion) -> str:
    """One table row for a trained zoo version."""
    manifest = version.manifest
    loaded = load_version(version.case.name, manifest.version)
    entry = manifest.model(manifest.champion)
    name = f"| {version.case.name} | {version.rows:,} | {manifest.champion}"
    started = time.perf_counter()
    try:
        explainer = loaded.champion_explainer()
    except NotExplained as err:
        return f"{name} | not explained: {err} | | | | | | |"
    read = time.perf_counter() - started
    raw = read_scoring_csv(version.case.load(rows=None), manifest.input_schema, version.case.name)
    checked = validate_frame(loaded.schema, raw)
    one = checked.iloc[[len(checked) // 2]]
    answer = predict_in_process(loaded, one, [manifest.champion])[manifest.champion]
    predict_one = p50(lambda: predict_in_process(loaded, one, [manifest.champion]))
    explain_one = p50(lambda: explainer.explain(one, answer))
    leaves = int((explainer.trees.trees.left == -1).sum()) if explainer.trees is not None else 0
    # a big forest costs ~1 s a row: as many rows as training's importance budget allows, at most MANY_ROWS
    many = checked.iloc[-max(1, min(MANY_ROWS, IMPORTANCE_LEAF_ROWS // max(1, leaves))) :]
    answers = predict_in_process(loaded, many, [manifest.champion])[manifest.champion]
    started = time.perf_counter()
    explainer.explain(many, answers)
    per_row = (time.perf_counter() - started) / len(many)
    holdout = checked.iloc[-max(1, int(manifest.data_quality.get("holdout_rows", len(checked) // 5))) :]
    started = time.perf_counter()
    build_explainer(loaded.pipelines[manifest.champion], loaded.schema, holdout, manifest.task)
    build = time.perf_counter() - started
    assert entry.explainer is not None
    return (
        f"{name} | {entry.explainer.method} ({leaves:,} leaves) | {read * 1000:.0f} ms | {predict_one * 1000:.2f} ms "
        f"| {explain_one * 1000:.2f} ms | {per_row * 1000:.2f} ms ({len(many):,} rows) | {build:.1f} s "
        f"({entry.explainer.importance_rows} rows) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SET", help="these zoo sets (default: a few shapes)")
    parser.add_argument("--quick", action="store_true", help="the zoo's 1,500-row cuts")
    args = parser.parse_args()
    started_at = time.strftime("%Y-%m-%d %H:%M")
    print(f"bench/explain.py: started {started_at}, load average {os.getloadavg()[0]:.2f}", flush=True)
    moto = local.start_moto(in_process=False)
    try:
        local.use_endpoint(moto.endpoint)
        local.ensure_bucket()
        world.create_topic()
        versions = serve_zoo.train_zoo(serve_zoo.zoo_cases(args.only or DEFAULT_SETS), args.quick)
        rows = [measure(version) for version in versions]
    finally:
        moto.stop()
    print(
        "\n| data set | rows | champion | explained by | explainer read | predict 1 row p50 | explain 1 row p50 "
        "| explain per row (batch) | build at training (importance) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (started {started_at})")


if __name__ == "__main__":
    main()
