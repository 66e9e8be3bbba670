"""One rule for record keys, wherever rows meet: the latest version of a key wins, rows without a key are kept,
and the Dask path places every row of a row key on one side of its split, in whatever partition it lies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dropml.training.dedup import latest_by_keys, replaced_rows
from dropml.training.distributed import canonical_keys, split_draws


def test_the_last_row_of_a_key_wins_and_rows_without_a_key_are_all_kept():
    frame = pd.DataFrame({"id": ["a", "b", "a", None, None, "b"], "v": [1, 2, 3, 4, 5, 6]})
    kept, count = latest_by_keys(frame, ["id"])
    assert kept["v"].tolist() == [3, 4, 5, 6]
    assert count == 2


def test_an_order_column_decides_which_row_is_latest_and_ties_keep_the_frames_order():
    frame = pd.DataFrame({"id": ["a", "a", "a", "b"], "at": [3, 1, 3, 0], "v": [1, 2, 3, 4]})
    assert replaced_rows(frame, ["id"], ["at"]).tolist() == [True, True, False, False]


def test_no_key_means_no_row_is_a_version_of_another():
    frame = pd.DataFrame({"answer": ["yes"] * 4})
    assert latest_by_keys(frame, [])[1] == 0
    assert latest_by_keys(frame, [], ["answer"])[0] is frame


def test_a_key_read_as_a_number_or_as_text_is_one_key():
    left = pd.DataFrame({"k": [3, 4]})
    right = pd.DataFrame({"k": ["3", None]})
    assert canonical_keys(left, ["k"])["k"].tolist()[0] == canonical_keys(right, ["k"])["k"].tolist()[0]
    assert canonical_keys(right, ["k"])["k"].isna().tolist() == [False, True]


def test_every_row_of_a_row_key_draws_the_same_split_in_any_partition():
    rng = np.random.default_rng(0)
    one = pd.DataFrame({"member": [f"m{i}" for i in rng.integers(0, 50, 400)], "x": rng.random(400)})
    two = pd.DataFrame({"member": [f"m{i}" for i in rng.integers(0, 50, 400)], "x": rng.random(400)})
    draws = pd.concat(
        [
            pd.DataFrame({"member": one["member"], "draw": split_draws(one, ["member"], 42, 0)}),
            pd.DataFrame({"member": two["member"], "draw": split_draws(two, ["member"], 42, 1)}),
        ]
    )
    assert (draws.groupby("member")["draw"].nunique() == 1).all()
    assert draws["draw"].min() >= 0.0
    assert draws["draw"].max() < 1.0
    assert draws.groupby("member")["draw"].first().std() > 0.2  # keys spread over [0, 1)
    keyless = split_draws(one.assign(member=None), ["member"], 42, 0)
    assert len(np.unique(keyless)) == len(one)  # a row with no key draws alone
