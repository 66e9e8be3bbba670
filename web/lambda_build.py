"""Zappa's prebuild step for the web stage: bytecode compiled at build time, shipped in the package.

Lambda's code directory is read-only, so a package without usable ``.pyc`` files compiles every module it
imports, in memory, on every cold start (Flask, pydantic, numpy, pandas, dropml: much of the import time).
Zappa copies files without their times and zips them dated 1980, so the timestamp-based ``.pyc`` that pip
writes are stale inside the package. This step gives the active venv's site-packages and the project's
``dropml/`` and ``web/`` checked-hash ``.pyc`` instead: at import Python compares them with the source's
hash, not its time, so they stay valid in the package and a file edited after the build is never served
from a stale ``.pyc``. A ``.pyc`` already checked-hash and matching its source is left alone, so only the
first build of a venv compiles everything.

Zappa loads this file by path (``prebuild_script`` in ``zappa_settings.json``) from the project directory, in
the deploy venv's interpreter (the stage's runtime), so it uses the standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

PROJECT_PACKAGES = ("dropml", "web")
CHECKED_HASH_FLAGS = 0b11  # PEP 552: hash-based, checked against the source


def compile_bytecode() -> None:
    """Give the active venv's site-packages and the project's packages checked-hash ``.pyc`` (see above).

    Raises:
        SystemExit: no virtualenv is active (Zappa packages the active one).
    """
    venv = os.environ.get("VIRTUAL_ENV")
    if not venv:
        raise SystemExit("compile_bytecode: activate the deploy venv first (Zappa packages the active venv)")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    roots = [Path(venv) / "lib" / version / "site-packages", *(Path.cwd() / name for name in PROJECT_PACKAGES)]
    stale = [str(path) for root in roots for path in root.rglob("*.py") if not _fresh(path)]
    # py_compile.compile itself, by reference: workers import it whatever loaded this file (Zappa loads it by path)
    compile_one = partial(
        py_compile.compile, doraise=False, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )
    with ProcessPoolExecutor() as pool:
        written = list(pool.map(compile_one, stale, chunksize=64))
    # a file that is not valid Python (e.g. a template shipped as .py) stays source only
    print(f"compile_bytecode: {len(stale)} files compiled, {written.count(None)} not compilable (left as source)")


def _fresh(source: Path) -> bool:
    """Whether ``source`` already has a checked-hash ``.pyc`` of its current content."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    try:
        header = cached.read_bytes()[:16]
        data = source.read_bytes()
    except OSError:
        return False
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == CHECKED_HASH_FLAGS
        and header[8:16] == importlib.util.source_hash(data)
    )
