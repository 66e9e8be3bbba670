"""The data sets bench/quality.py compares on: ONE list, ``CASES``, to be replaced by the zoo's real sets.

The training zoo (``tests/support/zoo.py``, built on another branch) lists real
data sets shipped inside packages as ``ZooCase`` objects: ``name``, ``load()``
(the CSV bytes a user would upload), ``target``, ``task``, ``overrides`` and
``publishes``. Until it lands, this module lists the same kind of sets with
the same interface, at their full size; then ``CASES`` becomes
``[case for case in zoo.REAL if case.publishes]`` and nothing else changes.
Class labels are written as text here (``class_0``) because integer labels
are what the zoo's branch fixes in cleaning.

The sets come from scikit-learn, ``statsmodels.datasets``,
``vega_datasets.local_data`` and ``palmerpenguins``, all read offline.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class QualityCase:
    """One real data set: its CSV bytes, target and task (the zoo's ``ZooCase`` interface)."""

    name: str
    source: str
    load: Callable[[], bytes]
    target: str
    task: str
    overrides: dict[str, Any] = field(default_factory=dict)
    publishes: bool = True


def _csv(frame: pd.DataFrame, target: str, task: str) -> bytes:
    if task == "classification" and pd.api.types.is_numeric_dtype(frame[target]):
        frame = frame.assign(**{target: [f"class_{int(v)}" if pd.notna(v) else v for v in frame[target]]})
    return frame.to_csv(index=False).encode()


def _sklearn(loader: str, task: str) -> Callable[[], bytes]:
    def load() -> bytes:
        from sklearn import datasets

        return _csv(getattr(datasets, loader)(as_frame=True).frame, "target", task)

    return load


def _statsmodels(name: str, target: str, task: str) -> Callable[[], bytes]:
    def load() -> bytes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
        return _csv(frame, target, task)

    return load


def _vega(name: str, target: str, task: str, drop: tuple[str, ...] = ()) -> Callable[[], bytes]:
    def load() -> bytes:
        from vega_datasets import local_data

        frame = getattr(local_data, name.replace("-", "_"))()
        return _csv(frame.drop(columns=list(drop)), target, task)

    return load


def _penguins() -> bytes:
    from palmerpenguins import load_penguins

    return _csv(load_penguins(), "species", "classification")


def _example(name: str) -> Callable[[], bytes]:
    return (EXAMPLES / name).read_bytes


CRYPTO = {"target": "open", "task": "regression", "time_column": "date", "group_column": "symbol", "horizon": 1}

CASES: list[QualityCase] = [
    QualityCase("sk-iris", "scikit-learn", _sklearn("load_iris", "classification"), "target", "classification"),
    QualityCase("sk-wine", "scikit-learn", _sklearn("load_wine", "classification"), "target", "classification"),
    QualityCase("sk-breast-cancer", "scikit-learn", _sklearn("load_breast_cancer", "classification"), "target",
                "classification"),
    QualityCase("sk-digits", "scikit-learn", _sklearn("load_digits", "classification"), "target", "classification"),
    QualityCase("sk-diabetes", "scikit-learn", _sklearn("load_diabetes", "regression"), "target", "regression"),
    QualityCase("sm-anes96", "statsmodels", _statsmodels("anes96", "PID", "classification"), "PID", "classification"),
    QualityCase("sm-fair", "statsmodels", _statsmodels("fair", "affairs", "regression"), "affairs", "regression"),
    QualityCase("sm-modechoice", "statsmodels", _statsmodels("modechoice", "choice", "classification"), "choice",
                "classification"),
    QualityCase("sm-randhie", "statsmodels", _statsmodels("randhie", "mdvis", "regression"), "mdvis", "regression"),
    QualityCase("sm-star98", "statsmodels", _statsmodels("star98", "NABOVE", "regression"), "NABOVE", "regression"),
    QualityCase("sm-grunfeld", "statsmodels", _statsmodels("grunfeld", "invest", "regression"), "invest",
                "regression"),
    QualityCase("sm-spector", "statsmodels", _statsmodels("spector", "GRADE", "classification"), "GRADE",
                "classification"),
    QualityCase("sm-heart", "statsmodels", _statsmodels("heart", "survival", "regression"), "survival", "regression"),
    QualityCase("sm-engel", "statsmodels", _statsmodels("engel", "foodexp", "regression"), "foodexp", "regression"),
    QualityCase("sm-macrodata", "statsmodels", _statsmodels("macrodata", "realgdp", "regression"), "realgdp",
                "regression"),
    QualityCase("sm-statecrime", "statsmodels", _statsmodels("statecrime", "murder", "regression"), "murder",
                "regression"),
    QualityCase("sm-sunspots", "statsmodels", _statsmodels("sunspots", "SUNACTIVITY", "regression"), "SUNACTIVITY",
                "regression"),
    QualityCase("vega-cars", "vega_datasets", _vega("cars", "Origin", "classification"), "Origin", "classification"),
    QualityCase("vega-seattle-weather", "vega_datasets", _vega("seattle-weather", "weather", "classification"),
                "weather", "classification"),
    QualityCase("vega-la-riots", "vega_datasets", _vega("la-riots", "gender", "classification"), "gender",
                "classification"),
    QualityCase("vega-barley", "vega_datasets", _vega("barley", "yield", "regression"), "yield", "regression"),
    QualityCase("vega-airports", "vega_datasets", _vega("airports", "latitude", "regression", drop=("country",)),
                "latitude", "regression"),
    QualityCase("vega-stocks", "vega_datasets", _vega("stocks", "price", "regression"), "price", "regression"),
    QualityCase("penguins", "palmerpenguins", _penguins, "species", "classification"),
    QualityCase("crypto-ohlcv", "examples/", _example("crypto_ohlcv.csv"), "open", "regression", overrides=CRYPTO),
]  # fmt: skip
