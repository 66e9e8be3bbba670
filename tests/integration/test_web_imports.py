"""What the web app imports at start and on a compiled version's first requests, in a fresh interpreter.

The dev venv has scikit-learn, scipy and pandas installed, so here a stray import does not fail: it creeps in,
and costs every cold start its import time (scikit-learn and scipy about a second on this box). This test
catches that in seconds, where tests/integration/test_zappa_runtime.py proves the lean Lambda package (which
leaves them out) answering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from tests.conftest import EXAMPLES, ROOT

NEVER_FOR_COMPILED = {"sklearn", "scipy", "joblib", "onnx", "skl2onnx", "matplotlib", "dask", "distributed"}
WATCHED = sorted({*NEVER_FOR_COMPILED, "pandas", "pyarrow", "onnxruntime", "botocore", "jinja2"})

CHILD = """
import json, sys
watched = json.loads(sys.argv[3])
def imported():
    return sorted({name.split(".")[0] for name in sys.modules} & set(watched))
from web.app import app
seen = {"start": imported()}
client = app.test_client()
record = json.loads(sys.argv[1])
answer = client.post("/api/v1/predict", json=record)
assert answer.status_code == 200, answer.data
seen["json"] = imported()
answer = client.post("/api/v1/predict", data=sys.argv[2], content_type="text/csv")
assert answer.status_code == 200, answer.data
seen["csv"] = imported()
answer = client.post("/", data={f"col:{k}": v for k, v in record.items()})
assert answer.status_code == 200, answer.data[:500]
seen["form"] = imported()
print(json.dumps(seen))
"""


def test_a_compiled_versions_json_path_imports_no_scikit_learn_scipy_or_pandas(aws, trained_versions):
    manifest = trained_versions.write()
    assert all(model.compiled is not None for model in manifest.models)
    frame = pd.read_csv(EXAMPLES / "breast_cancer.csv").drop(columns=["target"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(ROOT), DROPML__SERVING__MODEL_TTL_SECONDS="0")
    ran = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(frame.iloc[0].to_dict()), frame.head(3).to_csv(index=False),
         json.dumps(WATCHED)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    # the app's start: Flask, pydantic, numpy; no AWS SDK, model runtime, pandas or templates yet
    assert not {"pandas", "onnxruntime", "botocore", *NEVER_FOR_COMPILED} & set(seen["start"]), seen["start"]
    # a JSON record of numbers, every model compiled: onnxruntime reads one float matrix, no DataFrame
    assert not {"pandas", "pyarrow", *NEVER_FOR_COMPILED} & set(seen["json"]), seen["json"]
    assert "onnxruntime" in seen["json"]
    # a CSV body and the form page read through pandas, still without scikit-learn or scipy
    for channel in ("csv", "form"):
        assert not NEVER_FOR_COMPILED & set(seen[channel]), (channel, seen[channel])
