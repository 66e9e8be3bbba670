"""How much smaller OHLCV data is as Parquet than as CSV (the storage figure in docs/scaling.md).

    python bench/storage.py            # 200k random-walk rows, 100 symbols

Random-walk prices with six decimals are a pessimistic case for compression
(real prices repeat digits more). Not part of pytest.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
import pandas as pd


def sample(rows: int, symbols: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=rows, freq="min").strftime("%Y-%m-%d %H:%M"),
            "symbol": rng.choice([f"S{i:04d}" for i in range(symbols)], rows),
            "open": close * (1 + rng.normal(0, 0.001, rows)),
            "high": close * 1.002,
            "low": close * 0.998,
            "close": close,
            "volume": rng.lognormal(10, 1, rows),
        }
    ).round(6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=100)
    args = parser.parse_args()
    frame = sample(args.rows, args.symbols)
    csv_bytes = len(frame.to_csv(index=False).encode())
    print(f"{args.rows:,} rows, {args.symbols} symbols")
    print(f"{'format':<16}{'bytes':>14}{'bytes/row':>11}{'vs CSV':>8}")
    print(f"{'csv':<16}{csv_bytes:>14,}{csv_bytes / args.rows:>11.1f}{1.0:>7.2f}x")
    for codec in ("snappy", "zstd"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, compression=codec, index=False)
        size = buffer.tell()
        print(f"{'parquet ' + codec:<16}{size:>14,}{size / args.rows:>11.1f}{csv_bytes / size:>7.2f}x")


if __name__ == "__main__":
    main()
