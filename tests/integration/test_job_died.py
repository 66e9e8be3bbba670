"""A local job that dies without announcing it (killed, out of memory) is announced by its launcher."""

from __future__ import annotations

import time

from dropml import notify, storage
from dropml.jobs import launcher
from dropml.local import jobs


def test_a_killed_local_job_is_announced_as_failed(aws, tmp_path, monkeypatch):
    monkeypatch.setenv("DROPML_JOB_LOG_DIR", str(tmp_path))
    storage.put_bytes("train/glass/glass.csv", b"a,target\n1,x\n2,y\n")
    started = launcher.launch("train", "train/glass/glass.csv", correlation_id="killed-run")
    job = next(j for j in jobs.local_jobs() if j.run_id == "killed-run")
    assert started == f"local:{job.process.pid}"
    job.process.kill()
    deadline = time.monotonic() + 20
    died = []
    while not died and time.monotonic() < deadline:
        died = [m for m in notify.recent(20) if m.get("run_id") == "killed-run"]
        time.sleep(0.2)
    assert died, "no announcement of the killed job"
    message = died[0]
    assert message["outcome"] == "failed"
    assert message["subject"] == "[dropml FAILED] train job for train/glass/glass.csv died (killed by signal 9)"
    assert message["project"] == "glass"
    assert str(tmp_path / "killed-run.log") in message["error"]
