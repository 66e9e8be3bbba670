"""The audit trail's bounded sample of API inputs: uniform, at most so many rows per window, so many bytes per day."""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dropml import audit
from dropml.config import reset_settings_cache
from dropml.scoring.rows import NumberRows


@pytest.fixture
def sample_settings(monkeypatch):
    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(f"DROPML__MONITORING__TRAFFIC_SAMPLE__{name.upper()}", json.dumps(value))
        reset_settings_cache()

    yield apply
    reset_settings_cache()


def _one_row(value: float) -> NumberRows:
    return NumberRows(np.asarray([[value, value * 2]]), ["a", "b"])


def test_one_row_requests_fill_the_reservoir_then_keep_a_uniform_sample(sample_settings):
    sample_settings(rows=50)
    kept = Counter()
    for _ in range(200):  # 200 windows of 500 one-row requests: each row should be kept 1 time in 10
        sample = audit.InputSample()
        for i in range(500):
            sample.offer("p", 1, _one_row(float(i)), 1)
        [line] = sample.drain()
        assert line["rows_seen"] == 500
        assert len(line["rows"]) == 50
        kept.update(int(row["a"]) // 100 for row in line["rows"])
    shares = np.asarray([kept[b] for b in range(5)]) / (200 * 50)
    assert np.all(np.abs(shares - 0.2) < 0.02)  # every fifth of the stream equally represented


def test_batches_are_sampled_as_uniformly_as_single_rows(sample_settings):
    sample_settings(rows=100)
    kept = Counter()
    for _ in range(100):
        sample = audit.InputSample()
        for start in range(0, 1000, 50):
            sample.offer("p", 1, NumberRows(np.arange(start, start + 50, dtype=float)[:, None], ["a"]), 50)
        [line] = sample.drain()
        assert len(line["rows"]) == 100
        kept.update(int(row["a"]) // 200 for row in line["rows"])
    shares = np.asarray([kept[b] for b in range(5)]) / (100 * 100)
    assert np.all(np.abs(shares - 0.2) < 0.02)


def test_a_big_batch_is_sampled_by_copying_the_rows_taken_not_the_batch(sample_settings):
    sample_settings(rows=100)
    sample = audit.InputSample()
    batch = pd.DataFrame({"a": np.arange(100_000, dtype=float), "b": ["x"] * 100_000})
    sample.offer("p", 1, batch, len(batch))
    sample.offer("p", 1, _one_row(-1.0), 1)  # a NumberRows source in the same reservoir
    reservoir = sample._reservoirs[("p", 1)]
    assert reservoir.seen == 100_001
    assert len(reservoir.items) == 100
    assert all(len(source) <= 100 for source, _ in reservoir.items)  # no reference to the 100,000-row frame
    [line] = sample.drain()
    assert len(line["rows"]) == 100
    assert line["rows_seen"] == 100_001
    values = [row["a"] for row in line["rows"]]
    assert len(set(values)) == 100
    assert np.mean(values) == pytest.approx(50_000, rel=0.25)


def test_each_project_and_version_has_its_own_reservoir(sample_settings):
    sample_settings(rows=5)
    sample = audit.InputSample()
    sample.offer("p", 1, _one_row(1.0), 1)
    sample.offer("p", 2, _one_row(2.0), 1)
    sample.offer("q", 1, _one_row(3.0), 1)
    lines = sample.drain()
    assert sorted((line["project"], line["model_version"], line["rows_seen"]) for line in lines) == [
        ("p", 1, 1), ("p", 2, 1), ("q", 1, 1)
    ]  # fmt: skip
    assert sample.drain() == []  # drained: a new window


def test_the_window_is_due_after_its_seconds_or_at_midnight(sample_settings):
    sample_settings(rows=5, window_seconds=600)
    sample = audit.InputSample()
    assert not sample.due()  # nothing kept
    sample.offer("p", 1, _one_row(1.0), 1)
    started = sample._window_started
    assert not sample.due(started + 10)
    assert sample.due(started + 601)
    midnight = (pd.Timestamp(started, unit="s", tz="UTC").normalize() + pd.Timedelta(days=1)).timestamp()
    assert sample.due(midnight + 1)


def test_past_the_days_bytes_a_window_only_counts_its_rows(sample_settings):
    sample_settings(rows=200, max_bytes_per_day=20_000)
    sample = audit.InputSample()
    written = []
    for window in range(10):
        for i in range(200):
            sample.offer("p", 1, _one_row(float(window * 1000 + i)), 1)
        written.extend(sample.drain(now=time.time()))
    sizes = [len(audit.json_line(line)) for line in written if line["rows"]]
    assert sum(sizes) <= 20_000
    assert len(sizes) >= 2
    skipped = [line for line in written if not line["rows"]]
    assert skipped
    assert all(line["skipped"] == "max_bytes_per_day" and line["rows_seen"] == 200 for line in skipped)


def test_no_sample_is_kept_when_switched_off(sample_settings):
    sample_settings(rows=0)
    sample = audit.InputSample()
    sample.offer("p", 1, _one_row(1.0), 1)
    assert sample.drain() == []


def test_row_keys_become_columns_when_written():
    rows = pd.DataFrame(
        {"date": pd.to_datetime(["2026-12-01", "2026-12-02"]), "symbol": ["BTC", "ETH"], "open": [1.5, np.nan]}
    )
    keyed = audit.RowKeys(rows, "date", "symbol", "open", np.asarray([2.0, 3.0]))
    assert json.loads(audit.json_line({"k": keyed}))["k"] == {
        "time": ["2026-12-01T00:00:00", "2026-12-02T00:00:00"],
        "group": ["BTC", "ETH"],
        "target": [1.5, None],
        "predicted": [2.0, 3.0],
    }
