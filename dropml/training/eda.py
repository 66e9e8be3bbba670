"""Step 3: exploratory data analysis: summary statistics and PNG plots (matplotlib, Agg backend).

Plots draw from a row sample (``PLOT_SAMPLE_ROWS``) and at most
``eda_max_features`` features, so a 100k-row file renders in well under a
second; statistics use every row.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

PLOT_SAMPLE_ROWS = 20_000
MAX_HEATMAP_COLUMNS = 25
TOP_VALUES = 8
DPI = 72


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display in a container or a Lambda
    import matplotlib.pyplot as plt

    return plt


def summarize(frame: pd.DataFrame, kinds: dict[str, str], target: str, task: str) -> dict[str, Any]:
    """Per-column statistics (all rows) and the target distribution, JSON-friendly."""
    names = list(kinds)
    missing = frame[names].isna().sum()
    numeric = [n for n in names if kinds[n] in ("numeric", "boolean")]
    described = frame[numeric].astype(float).describe() if numeric else pd.DataFrame()
    columns: dict[str, Any] = {}
    for name, kind in kinds.items():
        series = frame[name]
        entry: dict[str, Any] = {"kind": kind, "missing": int(missing[name]), "distinct": int(series.nunique())}
        if kind in ("numeric", "boolean"):
            stats = described[name]
            entry.update(
                mean=_num(stats["mean"]),
                std=_num(stats["std"]),
                min=_num(stats["min"]),
                median=_num(stats["50%"]),
                max=_num(stats["max"]),
            )
        elif kind == "categorical":
            entry["top"] = {str(k): int(v) for k, v in series.value_counts().head(TOP_VALUES).items()}
        elif kind == "datetime":
            entry["min"], entry["max"] = str(series.min()), str(series.max())
        columns[name] = entry
    labels = frame[target]
    if task == "classification":
        distribution: dict[str, Any] = {str(k): int(v) for k, v in labels.value_counts().items()}
    else:
        stats = labels.astype(float).describe()
        distribution = {k: _num(stats.get(k)) for k in ("mean", "std", "min", "25%", "50%", "75%", "max")}
    return {"rows": len(frame), "columns": columns, "target": {"name": target, "distribution": distribution}}


def _num(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return round(float(value), 6)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def rank_features(frame: pd.DataFrame, kinds: dict[str, str], target: str, task: str, limit: int) -> list[str]:
    """Up to ``limit`` features to plot: numeric ones most correlated with the target first, then the rest."""
    numeric = [n for n, k in kinds.items() if k in ("numeric", "boolean")]
    others = [n for n, k in kinds.items() if k not in ("numeric", "boolean")]
    if numeric:
        labels = frame[target]
        codes = labels.to_numpy(dtype=float) if task == "regression" else pd.factorize(labels)[0].astype(float)
        strength = np.nan_to_num(np.abs(_correlations(frame[numeric].to_numpy(dtype=float), codes)), nan=-1.0)
        numeric = [numeric[i] for i in np.argsort(-strength, kind="stable")]
    return (numeric + others)[:limit]


def _correlations(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``values`` with ``target`` in one vectorised pass (NaN as mean)."""
    with np.errstate(all="ignore"):
        centred = values - np.nanmean(values, axis=0)
        centred = np.where(np.isnan(centred), 0.0, centred)
        goal = np.nan_to_num(target - np.nanmean(target))
        spread = np.sqrt((centred**2).sum(axis=0) * (goal**2).sum())
        return (centred * goal[:, None]).sum(axis=0) / spread


def _histogram(ax: Any, values: np.ndarray, colour: str, bins: int = 30) -> None:
    """A filled histogram drawn as one path (far cheaper to render than one bar patch per bin)."""
    values = values[np.isfinite(values)]
    if len(values):
        counts, edges = np.histogram(values, bins=bins)
        ax.stairs(counts, edges, fill=True, color=colour)


def plot_target(labels: pd.Series, task: str, name: str) -> bytes:
    """Bar chart of class counts, or a histogram of a numeric target."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
    if task == "classification":
        counts = labels.astype(str).value_counts().head(30)
        ax.bar(counts.index, counts.to_numpy(), color="#4c72b0")
        ax.tick_params(axis="x", rotation=45 if len(counts) > 4 else 0)
        ax.set_ylabel("rows")
    else:
        _histogram(ax, labels.astype(float).dropna().to_numpy(), "#4c72b0", bins=40)
        ax.set_ylabel("rows")
    ax.set_title(f"target: {name}")
    return _png(fig)


def plot_features(sample: pd.DataFrame, features: list[str], kinds: dict[str, str]) -> bytes:
    """Small multiples: a histogram per numeric feature, top values per categorical, counts per month for dates."""
    plt = _pyplot()
    cols = min(4, max(1, len(features)))
    rows = max(1, -(-len(features) // cols))
    # no layout engine: constrained/tight layout triples the render time of a grid
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.35 / rows, bottom=0.25 / rows, hspace=0.6, wspace=0.45)
    for ax in axes.flat[len(features) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, features, strict=False):
        series = sample[name]
        kind = kinds[name]
        if kind in ("numeric", "boolean"):
            _histogram(ax, series.astype(float).dropna().to_numpy(), "#55a868")
        elif kind == "datetime":
            values = series.dropna()
            _histogram(ax, values.to_numpy(dtype="datetime64[ns]").astype("int64") / 8.64e13, "#8172b2")
            ax.set_xlabel("days since 1970")
        else:
            top = series.astype(str).value_counts().head(TOP_VALUES)
            ax.barh(top.index[::-1], top.to_numpy()[::-1], color="#c44e52")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="x", nbins=4)  # fewer ticks: most of a grid's render time is tick text
        if kind != "categorical":
            ax.locator_params(axis="y", nbins=4)
    return _png(fig)


def plot_correlation(sample: pd.DataFrame, numeric: list[str]) -> bytes | None:
    """Heatmap of Pearson correlations between numeric features (None with fewer than two)."""
    if len(numeric) < 2:
        return None
    plt = _pyplot()
    chosen = numeric[:MAX_HEATMAP_COLUMNS]
    corr = np.corrcoef(np.nan_to_num(sample[chosen].to_numpy(dtype=float) - sample[chosen].mean().to_numpy()).T)
    size = 2.5 + 0.28 * len(chosen)
    fig, ax = plt.subplots(figsize=(size + 1.5, size + 0.8))
    fig.subplots_adjust(left=1.0 / (size + 1.5), right=0.95, bottom=0.9 / (size + 0.8), top=0.93)
    image = ax.imshow(np.nan_to_num(corr), cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xticks(range(len(chosen)), chosen, rotation=90, fontsize=7)
    ax.set_yticks(range(len(chosen)), chosen, fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("feature correlation")
    return _png(fig)


def plot_leaderboard(leaderboard: pd.DataFrame, metric: str) -> bytes:
    """Horizontal bars of each model's cross-validated ``metric``, champion on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.45 * len(leaderboard)), layout="constrained")
    values = leaderboard[metric].astype(float).fillna(0).to_numpy()
    colours = ["#dd8452" if champion else "#4c72b0" for champion in leaderboard["champion"]]
    ax.barh(leaderboard["model"].astype(str)[::-1], values[::-1], color=colours[::-1])
    ax.set_xlabel(f"{metric} (cross-validated)")
    return _png(fig)


def render_plots(
    frame: pd.DataFrame, kinds: dict[str, str], target: str, task: str, max_features: int, random_state: int
) -> dict[str, bytes]:
    """The EDA plots as PNG bytes: ``target``, ``features`` and (with two or more numbers) ``correlation``."""
    sample = frame.sample(n=PLOT_SAMPLE_ROWS, random_state=random_state) if len(frame) > PLOT_SAMPLE_ROWS else frame
    ranked = rank_features(sample, kinds, target, task, len(kinds))
    plots = {
        "target": plot_target(frame[target], task, target),
        "features": plot_features(sample, ranked[:max_features], kinds),
    }
    correlation = plot_correlation(sample, [n for n in ranked if kinds[n] in ("numeric", "boolean")])
    if correlation is not None:
        plots["correlation"] = correlation
    return plots
