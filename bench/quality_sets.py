"""The data sets bench/quality.py compares on: the zoo's real sets that publish, whole, and the crypto example.

The zoo (``tests/support/zoo.py``) is the one list of real data sets shipped
inside packages (scikit-learn, ``statsmodels.datasets``, ``vega_datasets``'
local files, ``palmerpenguins``); ``make test`` trains them cut to a few
thousand rows, this bench at their full size (``load(rows=None)``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.zoo import REAL, ZooCase  # noqa: E402

CRYPTO = {"task": "regression", "time_column": "date", "group_column": "symbol", "horizon": 1}


def _crypto(rows: int | None = None) -> bytes:
    return (ROOT / "examples" / "crypto_ohlcv.csv").read_bytes()


CASES: list[ZooCase] = [
    *(case for case in REAL if case.publishes),
    ZooCase("crypto-ohlcv", "examples/", _crypto, "open", "regression", covers="time-ordered", overrides=CRYPTO),
]
