"""Regenerate the sample data sets in examples/ from what scikit-learn ships (no downloads).

- breast_cancer.csv: classification, 569 rows, 30 numeric features, target malignant/benign.
- diabetes.csv: regression, 442 rows, a categorical ``sex`` column, target disease progression.
- crypto_ohlcv.csv: synthetic daily OHLCV for 4 symbols; project ``crypto`` predicts the next day's open.

Deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

HERE = Path(__file__).resolve().parent
SYMBOLS = {"BTC": 30000.0, "ETH": 2000.0, "SOL": 60.0, "ADA": 0.5}
DAYS = 500


def breast_cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["target"] = np.where(data.target == 0, "malignant", "benign")
    return frame.round(6)


def diabetes() -> pd.DataFrame:
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame.copy()
    frame["sex"] = np.where(frame["sex"] == 1, "F", "M")
    return frame.round(4)


def crypto_ohlcv() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    frames = []
    for symbol, start in SYMBOLS.items():
        log_returns = rng.normal(0.0005, 0.03, DAYS)
        close = start * np.exp(np.cumsum(log_returns))
        open_ = np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0, 0.002, DAYS))
        spread = np.abs(rng.normal(0, 0.015, DAYS))
        high = np.maximum(open_, close) * (1 + spread)
        low = np.minimum(open_, close) * (1 - spread)
        volume = rng.lognormal(mean=np.log(start) + 8, sigma=0.4, size=DAYS)
        frames.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "symbol": symbol,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True).sort_values(["date", "symbol"], kind="stable")
    return frame.round({"open": 6, "high": 6, "low": 6, "close": 6, "volume": 2}).reset_index(drop=True)


def main() -> None:
    for name, build in {"breast_cancer": breast_cancer, "diabetes": diabetes, "crypto_ohlcv": crypto_ohlcv}.items():
        frame = build()
        path = HERE / f"{name}.csv"
        frame.to_csv(path, index=False)
        print(f"{path.relative_to(HERE.parent)}: {len(frame)} rows x {frame.shape[1]} columns")


if __name__ == "__main__":
    main()
