"""bench/serve.py's zoo rows: single-record latency on every data set of the zoo, and how many models compiled.

Each data set (``tests/support/zoo.py``: the real sets that publish, whole as
bench/quality.py takes them; the generated edge files; the time-ordered crypto
example) is trained by the real training job with the config's default models
(cross-validation cut to 2 folds, which changes the leaderboard's estimates,
not the models served), made live, then asked one JSON record (a row of its
own file, every column as a user's client sends it) by one client, 1 keep-alive
connection, through one gunicorn (2 workers x 4 threads) serving every
project: the champion only, and every model, each p50 the median of 3 rounds
over every set. ``--quick`` takes the zoo's 1,500-row cuts; ``--only`` some sets.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.zoo import EDGE, REAL, TIME_ORDERED, ZooCase  # noqa: E402

from dropml import registry, storage  # noqa: E402
from dropml.scoring.csv_input import read_scoring_csv  # noqa: E402
from dropml.storage import keys  # noqa: E402
from dropml.usecases.train import run_training  # noqa: E402

if TYPE_CHECKING:
    from dropml.manifest import Manifest

ZOO_TRAINING: dict[str, Any] = {"cv_folds": 2}  # the config's default models, as bench/versions.py trains them
TARGET_P50_SECONDS = 0.0015
TARGET_COMPILED_SHARE = 0.95
ROUNDS = 3


@dataclass
class ZooVersion:
    """One zoo set's live version and the JSON body of the record it is asked."""

    case: ZooCase
    manifest: Manifest
    body: bytes
    rows: int
    train_seconds: float
    p50: dict[str, float] = field(default_factory=dict)  # "champion" / "all" -> seconds

    @property
    def compiled(self) -> int:
        """How many of its models have a compiled form."""
        return sum(entry.compiled is not None for entry in self.manifest.models)


def zoo_cases(only: list[str] | None) -> list[ZooCase]:
    """The zoo's sets that publish (real ones, edge files, time-ordered), or those of them named in ``only``."""
    cases = [case for case in [*REAL, *EDGE, *TIME_ORDERED] if case.publishes]
    if only:
        unknown = sorted(set(only) - {case.name for case in cases})
        if unknown:
            raise SystemExit(f"--only: no such zoo set {', '.join(unknown)}; known: {', '.join(c.name for c in cases)}")
        cases = [case for case in cases if case.name in only]
    return cases


def train_zoo(cases: list[ZooCase], quick: bool) -> list[ZooVersion]:
    """Every set trained by the real training job and made live (whole real sets unless ``quick``)."""
    versions = []
    for case in cases:
        body = case.load() if quick or case in EDGE else case.load(rows=None)
        data_key = keys.data_key("train", case.name, f"{case.name}.csv")
        storage.put_bytes(data_key, body, "text/csv")
        started = time.perf_counter()
        manifest = run_training(data_key, overrides={**ZOO_TRAINING, "target": case.target, **case.overrides})
        seconds = time.perf_counter() - started
        registry.promote(case.name, manifest.version)
        raw = read_scoring_csv(body, manifest.input_schema, case.name)
        record = raw.iloc[[len(raw) // 2]].astype(object)
        record = record.where(record.notna(), None).to_dict(orient="records")[0]  # every digit, gaps as null
        versions.append(ZooVersion(case, manifest, json.dumps(record).encode(), len(raw), seconds))
        print(f"  trained {case.name}: {len(raw):,} rows, {seconds:.1f} s, {len(manifest.models)} models "
              f"({sum(m.compiled is not None for m in manifest.models)} compiled), champion {manifest.champion}",
              flush=True)  # fmt: skip
    return versions


def measure(versions: list[ZooVersion], port: int, n: int, hammer: Any) -> None:
    """Each version's single-record p50, champion only and every model, one client (``hammer`` from serve.py).

    :data:`ROUNDS` rounds over every set, and each p50 is the median of its rounds: on a shared machine a
    few seconds of someone else's work would otherwise decide one set's figure.
    """
    found: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for version in versions:
            for label, query in (("champion", "&models=champion"), ("all", "")):
                path = f"/api/v1/predict?project={version.case.name}{query}"
                hammer(port, path, version.body, 1, 10)  # load the version and warm the connection
                latencies, _, failed = hammer(port, path, version.body, 1, n)
                if failed:
                    raise RuntimeError(f"{version.case.name}: {failed} of {n} requests failed")
                found.setdefault((version.case.name, label), []).append(statistics.median(latencies))
    for version in versions:
        version.p50 = {label: statistics.median(found[(version.case.name, label)]) for label in ("champion", "all")}


def table(versions: list[ZooVersion]) -> list[str]:
    """The markdown rows of the zoo table, worst every-model p50 first."""
    lines = [
        "| data set | rows | columns (kinds) | champion | models compiled | p50 champion | p50 every model |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for version in sorted(versions, key=lambda v: -v.p50.get("all", 0.0)):
        schema = version.manifest.input_schema
        kinds: dict[str, int] = {}
        for column in schema.columns:
            kinds[column.kind] = kinds.get(column.kind, 0) + 1
        shown = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        uncompiled = "; ".join(f"{name}: {reason}" for name, reason in version.manifest.uncompiled.items())
        compiled = f"{version.compiled} of {len(version.manifest.models)}" + (f" ({uncompiled})" if uncompiled else "")
        lines.append(
            f"| {version.case.name} | {version.rows:,} | {len(schema.columns)} ({shown}) | {version.manifest.champion} "
            f"| {compiled} | {version.p50['champion'] * 1000:.2f} ms | {version.p50['all'] * 1000:.2f} ms |"
        )
    return lines


def figures(versions: list[ZooVersion]) -> dict[str, Any]:
    """What the targets table needs: the worst every-model p50 and its set, and the share of models compiled."""
    if not versions:
        return {}
    worst = max(versions, key=lambda v: v.p50["all"])
    models = sum(len(v.manifest.models) for v in versions)
    return {
        "zoo worst all p50": worst.p50["all"],
        "zoo worst set": worst.case.name,
        "zoo sets": len(versions),
        "zoo models": models,
        "zoo compiled": sum(v.compiled for v in versions),
        "zoo train seconds": sum(v.train_seconds for v in versions),
    }
