"""Lambda SnapStart: what the web app does at a snapshot Init, and that restored environments hand out their own ids.

A fresh interpreter imports ``web.app`` as Zappa's handler does at Init, with Lambda's
``AWS_LAMBDA_INITIALIZATION_TYPE`` set or not. The snapshot is its memory after Init: the test restores the
generator state of that moment twice and runs the after-restore hooks the runtime runs (snapshot_restore_py's
registry), as two environments restored from one snapshot would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

CHILD = """
import json, random, sys
import snapshot_restore_py
from web.app import app
from web.state import request_id
snapshot = random.getstate()  # what every environment restored from this snapshot starts with
ids = []
for _ in range(2):
    random.setstate(snapshot)
    for hook, args, kwargs in snapshot_restore_py._after_restore_registry:
        hook(*args, **kwargs)
    with app.test_request_context("/"):
        ids.append(request_id())
print(json.dumps({"ids": ids, "hooks": len(snapshot_restore_py._after_restore_registry),
                  "imported": sorted({"pandas", "onnxruntime", "botocore"} & set(sys.modules))}))
"""


def _init(initialization_type: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_LAMBDA_INITIALIZATION_TYPE")}
    env["PYTHONPATH"] = str(ROOT)
    if initialization_type:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization_type
    ran = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout.strip().splitlines()[-1])


def test_a_snapshot_init_primes_the_first_requests_and_reseeds_ids_after_each_restore():
    snapshot = _init("snap-start")
    assert snapshot["imported"] == ["botocore", "onnxruntime", "pandas"]  # in the snapshot, not on a cold start
    assert snapshot["hooks"] == 1
    first, second = snapshot["ids"]
    assert first != second  # two environments restored from one snapshot: ids of their own


def test_an_on_demand_init_does_neither():
    on_demand = _init("on-demand")
    assert on_demand["imported"] == []  # a JSON record's first answer needs no pandas: not imported at start
    assert on_demand["hooks"] == 0
    first, second = on_demand["ids"]
    assert first == second  # what a snapshot would do without the hook: the same ids in every environment
