"""How a batch is cut for Dask: every row exactly once, in order; a task per worker thread at least."""

from __future__ import annotations

import pytest

from dropml.scoring.dask_executor import _partitions


@pytest.mark.parametrize(
    ("rows", "threads", "most", "sizes"),
    [
        (1_000_000, 2, 250_000, [250_000] * 4),
        (100_000, 2, 250_000, [50_000, 50_000]),
        (11, 2, 250_000, [6, 5]),
        (1, 4, 250_000, [1]),
        (10, 1, 3, [2, 3, 3, 2]),
    ],
)
def test_partitions_cover_every_row_once(rows, threads, most, sizes):
    starts, stops = _partitions(rows, threads, most)
    assert [stop - start for start, stop in zip(starts, stops, strict=True)] == sizes
    assert starts[0] == 0
    assert stops[-1] == rows
    assert starts[1:] == stops[:-1]
