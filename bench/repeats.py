"""Benchmark: do equal rows make cross-validation optimistic, and would grouping them make it honest?

    python bench/repeats.py                          # every set below, 3 seeds (~10 min on 2 busy cores)
    python bench/repeats.py --only rd-titanic --seeds 1

dropml keeps equal rows (issue 27) and, with no declared ``row_key``, splits
them like any other rows, so copies of one row can sit on both sides of a CV
fold. Whether that flatters the score depends on what the copies are:

- **observations** (a survey's common answers, randhie's many identical
  households): the rows a model meets later repeat the common ones too;
- **copies of one record** (a row pasted twice, a re-exported batch): later
  rows never repeat them.

For each data set and seed, a random quarter of the rows is set aside as
"later" rows. The models (dropml's pipelines, default settings) are
cross-validated on the rest, once with folds of rows (dropml's default) and
once with folds that keep equal rows together (a group per distinct row,
what grouping without a key would do), and then fitted on the rest and scored
on the later rows. Each fold kind's bias is its CV score minus the later
rows' score, in points of macro F1 (classification) or as a percentage of
the later RMSE (regression; positive = optimistic in both). The
``copies`` sets take a set without repeats and paste 30 % of its CV rows 1-3
more times, leaving the later rows as they were: the case where repeats are
errors. Target (what the default should satisfy): on the sets whose repeats
are observations, folds of rows are at most as biased as grouped folds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.zoo import REAL  # noqa: E402

REPEATS = ("rd-titanic", "sm-randhie", "sm-fair")  # real sets whose repeats are observations
COPIED = ("sk-breast-cancer", "sk-diabetes")  # sets without repeats, given pasted copies
MODELS = ("linear", "random_forest", "gradient_boosting")
LATER_SHARE = 0.25
COPIED_SHARE, MAX_EXTRA_COPIES = 0.30, 3


def _frame(name: str) -> tuple[pd.DataFrame, str]:
    case = next(c for c in REAL if c.name == name)
    return pd.read_csv(io.BytesIO(case.load(rows=None))), case.target


def _with_copies(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pasted = rng.choice(len(frame), int(COPIED_SHARE * len(frame)), replace=False)
    extra = np.repeat(pasted, rng.integers(1, MAX_EXTRA_COPIES + 1, len(pasted)))
    return pd.concat([frame, frame.iloc[extra]], ignore_index=True)


def _bias(cv: float, later: float, metric: str) -> float:
    return 100 * (cv - later) if metric == "f1_macro" else 100 * (later - cv) / later


def measure(name: str, seed: int, copies: bool) -> list[dict]:
    """Each model's CV score by row folds and by equal-row groups, and its score on the later rows."""
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, train_test_split

    from dropml.config import TrainingSettings
    from dropml.training import evaluation
    from dropml.training.clean import clean_frame
    from dropml.training.steps import build_model_pipeline, model_specs

    raw, target = _frame(name)
    conf = TrainingSettings(target=target, random_state=seed)
    cleaned = clean_frame(raw, conf)
    task, labels, features = cleaned.task, cleaned.labels, cleaned.features
    metric = evaluation.resolve_rank_metric("auto", task)
    stratify = labels if task == "classification" else None
    rest, later = train_test_split(np.arange(len(labels)), test_size=LATER_SHARE, random_state=seed, stratify=stratify)
    if copies:
        rest_frame = _with_copies(cleaned.frame.iloc[rest], seed)
        cleaned.frame = pd.concat([rest_frame, cleaned.frame.iloc[later]], ignore_index=True)
        rest, later = np.arange(len(rest_frame)), np.arange(len(rest_frame), len(cleaned.frame))
        features, labels = cleaned.features, cleaned.labels
    groups = pd.util.hash_pandas_object(cleaned.frame.iloc[rest], index=False).factorize()[0]
    y = labels.iloc[rest].to_numpy()
    if task == "classification":
        by_rows = StratifiedKFold(5, shuffle=True, random_state=seed).split(rest, y)
        by_groups = StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(rest, y, groups)
    else:
        by_rows = KFold(5, shuffle=True, random_state=seed).split(rest)
        by_groups = GroupKFold(5, shuffle=True, random_state=seed).split(rest, y, groups)
    folds = {"rows": list(by_rows), "groups": list(by_groups)}
    specs = model_specs(conf, task, len(rest))
    found = []
    for model in MODELS:
        pipeline = build_model_pipeline(model, specs[model], cleaned, conf)
        cv = {}
        for kind, kind_folds in folds.items():
            scores = [
                evaluation.fold_scores(clone(pipeline), features, labels, rest[fit], rest[test], task)[metric]
                for fit, test in kind_folds
            ]
            cv[kind] = float(np.nanmean(scores))
        later_score = evaluation.fold_scores(clone(pipeline), features, labels, rest, later, task)[metric]
        found.append(
            {
                "set": name + (" (copies)" if copies else ""),
                "repeated": float(cleaned.frame.iloc[rest].duplicated().mean()),
                "model": model,
                "metric": metric,
                "rows_bias": _bias(cv["rows"], later_score, metric),
                "groups_bias": _bias(cv["groups"], later_score, metric),
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="data set names (a copies set is named by its source)")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    runs = [(name, False) for name in REPEATS] + [(name, True) for name in COPIED]
    runs = [(name, copies) for name, copies in runs if not args.only or name in args.only]
    started = time.perf_counter()
    rows: dict[tuple[str, str], list[dict]] = {}
    for name, copies in runs:
        for seed in range(args.seeds):
            for found in measure(name, seed, copies):
                rows.setdefault((found["set"], found["model"]), []).append(found)
            print(f"{name} seed {seed} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    lines = [
        "| data set | repeated rows | model | metric | CV by rows − later | CV by equal-row groups − later | "
        "closer to later |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for (name, model), found in rows.items():
        by_rows = statistics.mean(f["rows_bias"] for f in found)
        by_groups = statistics.mean(f["groups_bias"] for f in found)
        closer = "rows" if abs(by_rows) <= abs(by_groups) else "groups"
        if "(copies)" not in name:
            verdicts.append(closer == "rows")
        lines.append(
            f"| {name} | {found[0]['repeated']:.0%} | {model} | {found[0]['metric']} | {by_rows:+.1f} | "
            f"{by_groups:+.1f} | {closer} |"
        )
    met = sum(verdicts)
    lines.append("")
    lines.append(
        f"target: on sets whose repeats are observations, folds of rows at most as biased as grouped folds | "
        f"this run: {met} of {len(verdicts)} | {'met' if met == len(verdicts) else 'not met'}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
