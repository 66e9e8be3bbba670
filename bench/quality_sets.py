"""The data sets bench/quality.py compares on: the zoo's real sets that publish, whole, and its time-ordered one.

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

from support.zoo import REAL, TIME_ORDERED, ZooCase  # noqa: E402

CASES: list[ZooCase] = [*(case for case in REAL if case.publishes), *TIME_ORDERED]
