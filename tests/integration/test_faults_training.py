"""The training process killed at each step: nothing half-made is published, the failure is announced,
and the next run succeeds."""

from __future__ import annotations

import time

import pytest
from fakes import FAST_TRAINING

from dropml import notify, registry, storage
from dropml.faults import FAILPOINT_ENV
from dropml.jobs import launcher
from dropml.local import jobs
from dropml.storage import keys

ROWS = 240


@pytest.fixture
def small_training_csv(aws) -> str:
    from conftest import EXAMPLES

    lines = (EXAMPLES / "breast_cancer.csv").read_text().splitlines()[: ROWS + 1]
    storage.put_bytes("train/crashy/cancer.csv", ("\n".join(lines) + "\n").encode())
    return "train/crashy/cancer.csv"


def _run_job(key: str, run_id: str, timeout: float = 240) -> int:
    launcher.launch("train", key, FAST_TRAINING, correlation_id=run_id)
    job = next(j for j in jobs.local_jobs() if j.run_id == run_id)
    return job.process.wait(timeout=timeout)


def _announcement(run_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in notify.recent(50) if m.get("run_id") == run_id]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no announcement for {run_id}")


@pytest.mark.slow
@pytest.mark.parametrize("step", ["after_ingest", "after_first_pickle", "before_manifest"])
def test_killed_at_a_step_publishes_nothing_and_the_next_run_succeeds(small_training_csv, step, tmp_path, monkeypatch):
    monkeypatch.setenv("DROPML_JOB_LOG_DIR", str(tmp_path))
    assert _run_job(small_training_csv, f"before-{step}") == 0
    registry.publish(keys.manifest_key("crashy", 1))

    monkeypatch.setenv(FAILPOINT_ENV, step)
    assert _run_job(small_training_csv, f"crash-{step}") == -9
    died = _announcement(f"crash-{step}")
    assert died["outcome"] == "failed"
    assert "killed by signal 9" in died["subject"]
    assert registry.list_versions("crashy") == [1]  # a half-written version is invisible
    assert registry.live_version("crashy").version == 1
    half_written = list(storage.list_keys("models/crashy/v2/"))
    if step == "after_ingest":
        assert half_written == []  # no version number taken before the work is done
    else:
        assert half_written  # pickles were uploaded ...
        assert not storage.exists(keys.manifest_key("crashy", 2))  # ... but no manifest: never published

    monkeypatch.delenv(FAILPOINT_ENV)
    assert _run_job(small_training_csv, f"after-{step}") == 0
    newest = registry.list_versions("crashy")[-1]
    manifest, changed = registry.publish(keys.manifest_key("crashy", newest))
    assert changed
    assert manifest.run_id == f"after-{step}"
    assert registry.live_version("crashy").version == newest
