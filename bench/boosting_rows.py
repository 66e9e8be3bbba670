"""Why bench/scale.py's holdout R² fell with rows: one process of LightGBM on its generator at growing sizes.

    python bench/boosting_rows.py --rows 100000,333333,1000000 --trees 100            # the fixed 100 trees
    python bench/boosting_rows.py --rows 100000,333333 --trees 300 --early-stopping   # rounds chosen by validation
    python bench/boosting_rows.py --rows 1000000 --trees 100 --bin-sample 2000000     # every row binned

For each size: ``bench.scale.make_rows`` (seed 10,000) gives the rows plus a
200,000-row holdout; LightGBM with :data:`dropml.training.distributed.BOOSTING_PARAMS`
fits 90 % of them (the last 10 % validate, for ``--early-stopping``). It
prints the holdout R², the R² on 100,000 training rows (does the model fit
less, or overfit?) and the generator's ceiling (the R² of the true function
on the holdout: what noise leaves), so a fall with rows can be pinned on the
data, the model or the allotment of rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOLDOUT_ROWS = 200_000


def _truth(x: object) -> object:
    """The generator's target without its noise (bench.scale.make_rows)."""
    import numpy as np

    return 3 * x[:, 0] - 2 * x[:, 1] + np.sin(3 * x[:, 2]) + x[:, 3] * x[:, 4] + 0.5 * np.abs(x[:, 5])


def _r2(predicted: object, actual: object) -> float:
    return float(1 - ((predicted - actual) ** 2).sum() / ((actual - actual.mean()) ** 2).sum())


def one_size(rows: int, trees: int, early_stopping: bool, bin_sample: int | None) -> dict[str, object]:
    """Fit and score LightGBM on ``rows`` generated rows; see the module."""
    import lightgbm

    from bench.scale import make_rows
    from dropml.training.distributed import BOOSTING_PARAMS, VALIDATION_SHARE

    frame = make_rows(rows + HOLDOUT_ROWS, seed=10_000)
    x = frame.drop(columns="target").to_numpy(dtype="float32")
    y = frame["target"].to_numpy()
    fit = int(rows * (1 - VALIDATION_SHARE))
    extra = {"bin_construct_sample_cnt": bin_sample} if bin_sample else {}
    model = lightgbm.LGBMRegressor(**BOOSTING_PARAMS, n_estimators=trees, random_state=42, verbose=-1, **extra)
    started = time.perf_counter()
    callbacks = [lightgbm.early_stopping(10, verbose=False)] if early_stopping else []
    model.fit(x[:fit], y[:fit], eval_set=[(x[fit:rows], y[fit:rows])], callbacks=callbacks)
    return {
        "rows": rows,
        "trees": trees,
        "early_stopping": early_stopping,
        "bin_sample": bin_sample or "default (200,000)",
        "rounds_used": int(model.best_iteration_ or trees),
        "fit_seconds": round(time.perf_counter() - started, 1),
        "holdout_r2": round(_r2(model.predict(x[rows:]), y[rows:]), 4),
        "train_r2": round(_r2(model.predict(x[:100_000]), y[:100_000]), 4),
        "ceiling_r2": round(_r2(_truth(x[rows:].astype("float64")), y[rows:]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,333333,1000000")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--bin-sample", type=int, default=0)
    args = parser.parse_args()
    for rows in [int(n) for n in args.rows.split(",")]:
        print(json.dumps(one_size(rows, args.trees, args.early_stopping, args.bin_sample or None)), flush=True)


if __name__ == "__main__":
    main()
