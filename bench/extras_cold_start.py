"""What the bring-your-own-model extras cost the web app: its start, and the runtime import at the first such load.

Run in a fresh process each time (imports are cached per process):
    .venv/bin/python bench/extras_cold_start.py none|keras|onnx
"""

from __future__ import annotations

import importlib
import os
import sys
import time

RUNTIMES = {"none": None, "keras": "keras", "onnx": "onnxruntime"}


def main(what: str) -> None:
    started = time.perf_counter()
    from web import create_app

    create_app()
    app_seconds = time.perf_counter() - started
    heavy = [name for name in ("keras", "jax", "onnxruntime", "h5py") if name in sys.modules]
    started = time.perf_counter()
    if RUNTIMES[what]:
        os.environ.setdefault("KERAS_BACKEND", "numpy")  # as dropml.scoring.keras_models sets it
        importlib.import_module(RUNTIMES[what])
    runtime_seconds = time.perf_counter() - started
    imported = heavy or "none"
    print(f"create_app {app_seconds:.2f} s (runtimes it imported: {imported}); import {what} {runtime_seconds:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "none")
