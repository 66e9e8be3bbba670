"""Step 3: EDA statistics, PNG plots rendered fast, and one self-contained HTML report."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd

from dropml.training import eda
from dropml.training.evaluation import ModelResult, leaderboard_frame, rank_results
from dropml.training.report import ReportContent, render_report

PNG = b"\x89PNG\r\n\x1a\n"


def _frame(rows: int, width: int = 30) -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=rows) for i in range(width)})
    frame["plan"] = rng.choice(["a", "b", "c"], rows).astype(object)
    frame["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    frame["target"] = np.where(frame[f"f{min(3, width - 1)}"] > 0, "yes", "no").astype(object)
    kinds = {c: "numeric" for c in frame.columns if c.startswith("f")}
    kinds |= {"plan": "categorical", "when": "datetime"}
    return frame, kinds


def test_summary_statistics_and_target_distribution():
    frame, kinds = _frame(100, width=2)
    frame.loc[0, "f0"] = np.nan
    summary = eda.summarize(frame, kinds, "target", "classification")
    assert summary["rows"] == 100
    assert summary["columns"]["f0"]["missing"] == 1
    assert set(summary["columns"]["f0"]) == {"kind", "missing", "distinct", "mean", "std", "min", "max", "median"}
    assert sum(summary["columns"]["plan"]["top"].values()) == 100
    assert sum(summary["target"]["distribution"].values()) == 100


def test_plotted_features_are_capped_and_most_related_first():
    frame, kinds = _frame(500)
    chosen = eda.rank_features(frame, kinds, "target", "classification", 5)
    assert len(chosen) == 5
    assert chosen[0] == "f3"


def test_plots_of_100k_rows_are_pngs():  # how fast they render is bench/train.py's business, not a test's
    frame, kinds = _frame(100_000)
    summary = eda.summarize(frame, kinds, "target", "classification")
    plots = eda.render_plots(frame, kinds, "target", "classification", 12, 0)
    assert sorted(plots) == ["correlation", "features", "target"]
    assert all(png.startswith(PNG) for png in plots.values())
    assert summary["rows"] == 100_000


def test_report_is_self_contained_html_with_every_section():
    frame, kinds = _frame(200, width=3)
    plots = eda.render_plots(frame, kinds, "target", "classification", 4, 0)
    ranked = rank_results(
        [
            ModelResult("forest", "random_forest", None, {"f1_macro": 0.9}, {"n_estimators": 10}),
            ModelResult("baseline", "dummy", None, {"f1_macro": 0.3}, {}, baseline=True),
        ],
        "f1_macro",
    )
    quality = {
        "rows_in": 210,
        "columns_in": 6,
        "rows_out": 200,
        "columns_out": 5,
        "repeated_rows": 40,
        "rows_removed": 10,
        "actions": [
            {"action": "dropped_missing_target", "rows": 10, "message": "10 row(s) without a target value dropped"}
        ],
        "warnings": ["<script>alert(1)</script>"],
        "missing_values": {"f0": 2},
    }
    html = render_report(
        ReportContent(
            project="default",
            version=3,
            data_key="train/x.csv",
            created_at="2026-11-23T16:00:00Z",
            task="classification",
            target="target",
            rank_metric="f1_macro",
            champion="forest",
            quality=quality,
            summary=eda.summarize(frame, kinds, "target", "classification"),
            leaderboard=leaderboard_frame(ranked, "classification"),
            selected_features=["f0", "plan_a"],
            plots=plots,
            split="StratifiedKFold(5)",
        )
    ).decode()
    assert "<h1>dropml: project default, version 3</h1>" in html
    for heading in ("Leaderboard", "Selected features (2, from the champion)", "Data quality", "Summary statistics"):
        assert f"<h2>{heading}</h2>" in html
    assert "<li>10 row(s) without a target value dropped</li>" in html
    assert (
        "<p>210 rows × 6 columns in; 40 of them repeat an earlier row exactly, and are kept; 10 rows removed, "
        "each for a reason listed below; 200 rows × 5 input columns used.</p>"
    ) in html
    assert '<tr class="champion"><td>1</td><td>forest</td>' in html
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    embedded = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(embedded) == 3
    assert all(base64.b64decode(data).startswith(PNG) for data in embedded)
    assert "http://" not in html
    assert "https://" not in html
