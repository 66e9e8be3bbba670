"""Whether an upload's predictions are written: what `dropml predict` waits for, asked of real S3 (moto over HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FAST_TRAINING

from dropml import registry, storage
from dropml.errors import BadInput
from dropml.scoring.files import predictions_written
from dropml.usecases.score_file import score_file
from dropml.usecases.train import run_training

DIABETES = Path(__file__).resolve().parents[2] / "examples" / "diabetes.csv"
TEST_KEY = "test/diabetes/batch.csv"
PREDICTIONS_KEY = "predictions/diabetes/batch.csv"


@pytest.fixture
def live_diabetes(aws) -> None:
    storage.put_bytes("train/diabetes/diabetes.csv", DIABETES.read_bytes(), "text/csv")
    manifest = run_training("train/diabetes/diabetes.csv", overrides=FAST_TRAINING)
    if registry.live_version("diabetes") is None:
        registry.promote("diabetes", manifest.version)


def _upload(rows: int) -> str:
    """Upload the first ``rows`` rows under test/ as a user would; the new object's ETag."""
    lines = DIABETES.read_text().splitlines()
    storage.put_bytes(TEST_KEY, ("\n".join(lines[: rows + 1]) + "\n").encode(), "text/csv")
    return storage.head(TEST_KEY).etag


def test_predictions_are_written_once_the_upload_is_scored(live_diabetes):
    etag = _upload(10)
    assert not predictions_written(TEST_KEY, etag, None)  # nothing under predictions/ yet
    score_file(TEST_KEY)
    assert predictions_written(TEST_KEY, etag, None)

    first = storage.head(PREDICTIONS_KEY).etag
    changed = _upload(12)
    assert not predictions_written(TEST_KEY, changed, first)  # the old file's predictions are still there
    score_file(TEST_KEY)
    assert predictions_written(TEST_KEY, changed, first)

    again = _upload(12)  # the same bytes again: scoring skips it, the predictions already match
    assert again == changed
    assert predictions_written(TEST_KEY, again, storage.head(PREDICTIONS_KEY).etag)


def test_only_test_keys_have_predictions(aws):
    with pytest.raises(BadInput, match="must start with test/"):
        predictions_written("train/diabetes/batch.csv", "etag", None)
