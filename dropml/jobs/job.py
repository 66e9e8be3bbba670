"""The jobs dropml runs, ``train``, ``score`` and ``monitor``: what every launcher, trigger and event names.

Training reads one ``train/`` file, scoring one ``test/`` file; monitoring
reads a day of the audit trail (its subject is that day's kept traffic,
``audit/samples/date=<day>/[<p>/]``). All run the same entry point
(``python -m training_job.main <job>``), in the same image.
"""

from __future__ import annotations

from typing import Literal

from dropml.storage import keys

Job = Literal["train", "score", "monitor"]
JOBS: tuple[Job, ...] = ("train", "score", "monitor")
DATA_KIND: dict[Job, Literal["train", "test"]] = {"train": "train", "score": "test"}  # a data file's prefix
NOUN: dict[Job, str] = {"train": "training", "score": "scoring", "monitor": "monitoring"}  # how messages name it


def job_project(job: Job, key: str) -> str | None:
    """The project a job's key is about (None: a monitoring job of every project).

    Raises:
        BadInput: the key is not one of the job's.
    """
    if job == "monitor":
        return keys.parse_monitoring_day_key(key)[1]
    return keys.project_of(key, kind=DATA_KIND[job])  # a dataset key (datasets/<p>/) trains too
