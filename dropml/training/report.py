"""The self-contained HTML report of a version: data quality, EDA, leaderboard, selected features.

One file, PNGs embedded as base64, no scripts or external assets, so it opens
from S3, an e-mail or a laptop the same way. Every value is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

import pandas as pd

PLOT_TITLES = {
    "target": "Target distribution",
    "features": "Feature distributions",
    "correlation": "Correlation heatmap",
    "leaderboard": "Models",
}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}tr.champion{background:#fff4e5;font-weight:600}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}.muted{color:#666}ul{line-height:1.5}
.scroll{overflow-x:auto}ul.features{columns:4 12rem}
"""


@dataclass
class ReportContent:
    """What a report shows; built by the training job."""

    project: str
    version: int
    data_key: str
    created_at: str
    task: str
    target: str
    rank_metric: str
    champion: str
    quality: dict[str, Any]
    summary: dict[str, Any]
    leaderboard: pd.DataFrame
    selected_features: list[str]
    plots: dict[str, bytes] = field(default_factory=dict)
    split: str = ""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        css = f' class="{classes[index]}"' if classes and classes[index] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _quality_section(quality: dict[str, Any]) -> str:
    actions = quality.get("actions", [])
    items = "".join(f"<li>{escape(a['message'])}</li>" for a in actions) or "<li>No changes were needed.</li>"
    warnings = "".join(f"<li>{escape(w)}</li>" for w in quality.get("warnings", []))
    missing = quality.get("missing_values", {})
    missing_html = (
        _table(["column", "missing values (imputed)"], [[k, v] for k, v in missing.items()]) if missing else ""
    )
    rows = [f"{quality.get('rows_in')} rows × {quality.get('columns_in')} columns in"]
    if quality.get("repeated_rows"):
        rows.append(f"{quality['repeated_rows']} of them repeat an earlier row exactly, and are kept")
    if quality.get("rows_removed"):
        rows.append(f"{quality['rows_removed']} rows removed, each for a reason listed below")
    rows.append(f"{quality.get('rows_out')} rows × {quality.get('columns_out')} input columns used")
    shape = f"<p>{'; '.join(rows)}.</p>"
    found = quality.get("file_format")
    if found:
        shape += (
            f"<p>Read as {escape(found['encoding'])} text, delimiter {escape(repr(found['delimiter']))}, "
            f"decimal mark {escape(repr(found['decimal']))}.</p>"
        )
    warn_html = f"<h3>Warnings</h3><ul>{warnings}</ul>" if warnings else ""
    return f"<h2>Data quality</h2>{shape}<ul>{items}</ul>{warn_html}{missing_html}"


def _summary_section(summary: dict[str, Any]) -> str:
    rows = []
    for name, stats in summary.get("columns", {}).items():
        top = stats.get("top")
        shown_top = ", ".join(f"{k} ({v})" for k, v in list(top.items())[:4]) if top else ""
        rows.append(
            [
                name,
                stats["kind"],
                stats["missing"],
                stats["distinct"],
                stats.get("mean"),
                stats.get("std"),
                stats.get("min"),
                stats.get("median"),
                stats.get("max"),
                shown_top,
            ]
        )
    headers = ["column", "kind", "missing", "distinct", "mean", "std", "min", "median", "max", "top values"]
    target = summary.get("target", {})
    distribution = ", ".join(f"{k}: {_fmt(v)}" for k, v in target.get("distribution", {}).items())
    return (
        f"<h2>Summary statistics</h2>{_table(headers, rows)}"
        f"<p>Target <b>{escape(str(target.get('name', '')))}</b>: {escape(distribution)}</p>"
    )


def _leaderboard_section(content: ReportContent) -> str:
    board = content.leaderboard
    shown = [c for c in board.columns if c not in ("params", "champion")]
    rows = board[shown].astype(object).where(board[shown].notna(), None).to_numpy().tolist()
    classes = ["champion" if c else "" for c in board["champion"]]
    params = "".join(
        f"<li><b>{escape(str(m))}</b>: <code>{escape(json.dumps(json.loads(p), default=str))}</code></li>"
        for m, p in zip(board["model"], board["params"], strict=True)
    )
    return (
        f"<h2>Leaderboard</h2><p>Ranked by cross-validated <b>{escape(content.rank_metric)}</b> "
        f"({escape(content.split)}); champion: <b>{escape(content.champion)}</b>. "
        f"<span class='muted'>holdout_* columns score the held-out rows.</span></p>"
        f"<div class='scroll'>{_table(shown, rows, classes)}</div>"
        f"<details><summary>parameters</summary><ul>{params}</ul></details>"
    )


def _plots_section(plots: dict[str, bytes]) -> str:
    parts = []
    for name, png in plots.items():
        data = base64.b64encode(png).decode()
        title = PLOT_TITLES.get(name, name)
        parts.append(f"<h3>{escape(title)}</h3><img alt='{escape(title)}' src='data:image/png;base64,{data}'>")
    return "<h2>Exploratory analysis</h2>" + "".join(parts)


def render_report(content: ReportContent) -> bytes:
    """The HTML report as UTF-8 bytes."""
    features = "".join(f"<li>{escape(name)}</li>" for name in content.selected_features)
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>dropml {escape(content.project)} v{content.version}</title><style>{STYLE}</style></head><body>
<h1>dropml: project {escape(content.project)}, version {content.version}</h1>
<p class="muted">Trained {escape(content.created_at)} from <code>{escape(content.data_key)}</code>.
Task: {escape(content.task)}; target: <b>{escape(content.target)}</b>.</p>
{_leaderboard_section(content)}
<h2>Selected features ({len(content.selected_features)}, from the champion)</h2><ul class="features">{features}</ul>
{_quality_section(content.quality)}
{_summary_section(content.summary)}
{_plots_section(content.plots)}
</body></html>
"""
    return html.encode("utf-8")
