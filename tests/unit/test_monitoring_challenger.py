"""Champion against challenger on the same labelled rows (dropml.monitoring.challenger)."""

from __future__ import annotations

import pytest

from dropml.monitoring.challenger import head_to_head, relative_gain, shared
from dropml.monitoring.realized import LabelledPairs, metrics_of


def _pairs(rows: list[tuple[str, str, str, str]]) -> LabelledPairs:
    pairs = LabelledPairs()
    for key, label, guess, made in rows:
        pairs.add(key, label, guess, made)
    return pairs


def test_only_the_rows_both_versions_predicted_are_compared_in_the_same_order():
    champion = _pairs([("r:1", "a", "a", "t1"), ("r:2", "b", "a", "t2"), ("r:3", "a", "a", "t3")])
    challenger = _pairs([("r:3", "a", "b", "t3"), ("r:1", "a", "a", "t1"), ("s:9", "b", "b", "t9")])
    ours, theirs = shared(champion, challenger)
    assert ours.keys == theirs.keys == ["r:1", "r:3"]
    assert (ours.y_pred, theirs.y_pred) == (["a", "a"], ["a", "b"])


def test_the_most_recent_window_of_shared_rows_decides():
    # the challenger was wrong long ago and right lately; the champion the other way round
    rows = [(f"r:{i}", "a" if i % 2 else "b", i) for i in range(100)]
    champion = _pairs([(k, label, label if i < 50 else "z", f"t{i:03d}") for k, label, i in rows])
    challenger = _pairs([(k, label, "z" if i < 50 else label, f"t{i:03d}") for k, label, i in rows])
    recent = head_to_head("classification", "holdout_accuracy", champion, challenger, window_rows=40)
    assert (recent.metric, recent.rows) == ("accuracy", 40)
    assert (recent.champion["accuracy"], recent.challenger["accuracy"]) == (0.0, 1.0)
    everything = head_to_head("classification", "accuracy", champion, challenger, window_rows=100)
    assert everything.champion["accuracy"] == everything.challenger["accuracy"] == 0.5
    assert everything.gain == 0.0
    assert recent.gain == float("inf")  # better than a champion at 0: infinitely so, a win
    assert recent.to_json()["gain"] is None  # JSON has no infinity
    assert recent.beats(margin=0.05, window_rows=40)
    assert not everything.beats(margin=0.0, window_rows=100)


def test_a_win_needs_the_margin_and_the_rows():
    champion = _pairs([(f"r:{i}", "a", "a" if i < 80 else "b", f"t{i:03d}") for i in range(100)])
    challenger = _pairs([(f"r:{i}", "a", "a" if i < 90 else "b", f"t{i:03d}") for i in range(100)])
    head = head_to_head("classification", "accuracy", champion, challenger, window_rows=100)
    assert head.gain == pytest.approx((0.9 - 0.8) / 0.8)
    assert head.beats(margin=0.1, window_rows=100)
    assert not head.beats(margin=0.2, window_rows=100)
    assert not head.beats(margin=0.1, window_rows=101)
    assert head.champion == metrics_of("classification", champion)


@pytest.mark.parametrize(
    ("metric", "champion", "challenger", "gain"),
    [("rmse", 2.0, 1.5, 0.25), ("mae", 1.0, 1.2, -0.2), ("r2", 0.5, 0.6, 0.2), ("f1_macro", 0.8, 0.8, 0.0)],
)
def test_the_gain_is_relative_and_knows_which_way_is_better(metric, champion, challenger, gain):
    assert relative_gain(metric, champion, challenger) == pytest.approx(gain)


def test_no_gain_without_both_values():
    assert relative_gain("rmse", None, 1.0) is None
    empty = head_to_head("regression", "rmse", LabelledPairs(), LabelledPairs(), window_rows=10)
    assert (empty.rows, empty.gain, empty.champion) == (0, None, {})


def test_auto_promotion_settings_are_checked_and_set_per_project():
    from pydantic import ValidationError

    from dropml.config import MonitoringSettings

    conf = MonitoringSettings.model_validate(
        {"projects": {"crypto": {"auto_promote": True, "challenger": {"window_rows": 500}}}}
    )
    assert (conf.auto_promote, conf.challenger.window_rows) == (False, 200)
    crypto = conf.for_project("crypto")
    assert (crypto.auto_promote, crypto.challenger.window_rows, crypto.challenger.margin) == (True, 500, 0.02)
    for wrong in ({"challenger": {"margin": 1.5}}, {"challenger": {"window_rows": 0}}, {"auto_promote": "often"},
                  {"challenger": {"rows": 10}}, {"projects": {"crypto": {"challenger": {"margin": -1}}}}):  # fmt: skip
        with pytest.raises(ValidationError):
            MonitoringSettings.model_validate(wrong)
