"""Which engine runs compiled trees: skl2onnx's float32 tree operators or dropml's double-precision TreeEnsemble.

  python bench/trees.py [--quick]

On real data sets with the default tree models (a 100-tree forest with 2-row
leaves, extra trees, gradient boosting with 5-row leaves), each fitted on 80 %
of the rows: how many of the other 20 % get another answer from the compiled
form than from scikit-learn (a class, or a value more than 1e-9 of the largest
answer away), the largest difference, the ONNX file's size and one row's
``session.run`` p50 and a 20,000-row batch's (the holdout rows repeated; median of 3), one thread, as serving
runs it. A classifier's double-precision form holds each tree once per class, so that every class's
probabilities are summed as scikit-learn sums them: a batch pays for that. skl2onnx converts a
HistGradientBoosting classifier only with dropml's two workarounds of 7d9175e,
which this bench does not repeat: its rows say so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dropml.scoring.onnx_runtime import load_session, run  # noqa: E402
from dropml.training.compile_trees import tree_model_onnx  # noqa: E402

TOLERANCE = 1e-9


def data_sets(quick: bool) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(name, task, features, target): statsmodels' fair and randhie, scikit-learn's digits and covertype-like."""
    from sklearn.datasets import load_digits
    from statsmodels.datasets import fair, randhie

    sets = []
    frame = fair.load_pandas().data
    sets.append(("sm-fair", "regression", frame.drop(columns=["affairs"]).to_numpy(float), frame["affairs"].to_numpy()))
    frame = randhie.load_pandas().data
    sets.append(("sm-randhie", "regression", frame.drop(columns=["mdvis"]).to_numpy(float), frame["mdvis"].to_numpy()))
    digits = load_digits()
    sets.append(("sk-digits", "classification", digits.data.astype(float), digits.target))
    frame = fair.load_pandas().data
    labels = (frame["affairs"] > 0).to_numpy().astype(int)
    sets.append(("sm-fair (any affair)", "classification", frame.drop(columns=["affairs"]).to_numpy(float), labels))
    return sets[:2] if quick else sets


def models(task: str) -> list[object]:
    from sklearn import ensemble

    if task == "regression":
        return [ensemble.RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=0),
                ensemble.ExtraTreesRegressor(random_state=0),
                ensemble.HistGradientBoostingRegressor(min_samples_leaf=5, random_state=0)]  # fmt: skip
    return [ensemble.RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=0),
            ensemble.ExtraTreesClassifier(random_state=0),
            ensemble.HistGradientBoostingClassifier(min_samples_leaf=5, random_state=0)]  # fmt: skip


def skl2onnx_float32(model: object, width: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    converted = to_onnx(model, initial_types=[("input", FloatTensorType([None, width]))], options=options)
    return converted.SerializeToString()


def one_row_p50(model: object, row: np.ndarray, runs: int = 500) -> float:
    for _ in range(50):
        run(model, row)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(model, row)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def batch_seconds(model: object, rows: np.ndarray, count: int = 20_000) -> float:
    batch = np.resize(rows, (count, rows.shape[1]))
    run(model, batch)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        run(model, batch)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def compare(name: str, task: str, model: object, holdout: np.ndarray) -> list[str]:
    expected = model.predict(holdout)
    classes = getattr(model, "classes_", None)
    rows = []
    for engine in ("skl2onnx float32", "dropml double"):
        started = time.perf_counter()
        try:
            body = (
                skl2onnx_float32(model, holdout.shape[1])
                if engine.startswith("skl2onnx")
                else tree_model_onnx(model, holdout.shape[1])
            )
        except Exception as err:  # skl2onnx's own errors
            rows.append(f"| {name} | {type(model).__name__} | {engine} | fails: {type(err).__name__} | | | | |")
            continue
        convert = time.perf_counter() - started
        session = load_session(body)
        feed = holdout.astype(np.float32) if engine.startswith("skl2onnx") else holdout
        raw = run(session, feed)
        if classes is not None:
            got = classes[raw.astype(int)] if engine.startswith("dropml") else raw
            differ = int((got != expected).sum())
            largest = "-"
        else:
            got = raw.reshape(-1).astype(float)
            gap = np.abs(got - expected)
            differ = int((gap > TOLERANCE * max(np.abs(expected).max(), 1.0)).sum())
            largest = f"{gap.max():.2g}"
        p50, batch = one_row_p50(session, feed[:1]), batch_seconds(session, feed)
        size = f"{len(body) / 2**20:.1f} MiB ({convert:.1f} s)"
        rows.append(f"| {name} | {type(model).__name__} | {engine} | {differ} of {len(holdout)} | {largest} "
                    f"| {size} | {p50 * 1e6:.0f} us | {batch * 1e3:.0f} ms |")  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two regression sets only")
    args = parser.parse_args()
    print(f"bench/trees.py: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    header = ["| data set | model | engine | holdout answers differing | largest difference | ONNX (convert) "
              "| one row p50 | 20k rows |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    rows = []
    for name, task, features, target in data_sets(args.quick):
        order = np.random.default_rng(0).permutation(len(features))
        cut = int(0.8 * len(features))
        train, holdout = order[:cut], order[cut:]
        for model in models(task):
            model.fit(features[train], target[train])
            rows += compare(name, task, model, features[holdout])
    print("\n" + "\n".join(header + rows))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
