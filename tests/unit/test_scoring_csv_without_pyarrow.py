"""Where pyarrow is not installed (the Lambda package), serving.fast_csv_read false reads big bodies without it."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
sys.modules["pyarrow"] = None  # as in the Zappa package, which excludes pyarrow: importing it fails
from dropml.manifest import ColumnSchema, InputSchema
from dropml.scoring.csv_input import FAST_READ_MIN_BYTES, read_scoring_csv
schema = InputSchema(columns=[ColumnSchema(name=f"x{i}", dtype="float64", kind="numeric") for i in range(4)])
body = b"x0,x1,x2,x3\\n" + b"1.5,2,3,4\\n" * 120_000
assert len(body) >= FAST_READ_MIN_BYTES
frame = read_scoring_csv(body, schema, "the CSV body")
print(frame.shape)
"""


def _read_big_body(fast_csv_read: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DROPML__")}
    env["DROPML__SERVING__FAST_CSV_READ"] = fast_csv_read
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_big_body_is_read_without_pyarrow_when_the_fast_path_is_off():
    result = _read_big_body("false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(120000, 4)"


def test_the_fast_path_needs_pyarrow():
    """The same body with the fast path on imports pyarrow: what a 500 on Lambda was made of."""
    result = _read_big_body("true")
    assert result.returncode == 1
    assert "pyarrow" in result.stderr
