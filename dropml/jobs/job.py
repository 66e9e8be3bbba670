"""The two jobs dropml runs, ``train`` and ``score``: the one description every launcher, trigger and event uses.

A job reads one data file: training a ``train/`` file, scoring a ``test/``
file. Both run the same entry point (``python -m training_job.main <job>``).
"""

from __future__ import annotations

from typing import Literal

Job = Literal["train", "score"]
JOBS: tuple[Job, ...] = ("train", "score")
DATA_KIND: dict[Job, Literal["train", "test"]] = {"train": "train", "score": "test"}  # the prefix its data lies under
NOUN: dict[Job, str] = {"train": "training", "score": "scoring"}  # how announcements and messages name it
