"""One size limit per data prefix, checked the same way by the trigger, the training job and file scoring."""

from __future__ import annotations

import pytest

from dropml.config import reset_settings_cache
from dropml.errors import BadInput, TooLarge
from dropml.storage.limits import check_data_size, data_size_limit


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setenv("DROPML__STORAGE__MAX_TRAINING_BYTES", "1000")
    monkeypatch.setenv("DROPML__STORAGE__MAX_SCORING_BYTES", "500")
    reset_settings_cache()
    yield
    monkeypatch.undo()
    reset_settings_cache()


def test_a_training_file_over_the_limit_names_size_limit_setting_and_remedy(small_limits):
    with pytest.raises(TooLarge) as caught:
        check_data_size("train/big.csv", 2_000)
    assert str(caught.value) == (
        "train/big.csv is 2,000 bytes, over the training limit of 1,000 bytes (storage.max_training_bytes): "
        "sample the file, or raise the limit (DROPML__STORAGE__MAX_TRAINING_BYTES) with the stack's TrainingMemory "
        "to match"
    )
    assert (caught.value.field, caught.value.http_status) == ("file", 413)
    check_data_size("train/ok.csv", 1_000)


def test_a_scoring_file_has_its_own_limit(small_limits):
    assert (data_size_limit("train"), data_size_limit("test")) == (1000, 500)
    check_data_size("test/p/ok.csv", 500)
    with pytest.raises(TooLarge, match=r"test/p/big.csv is 501 bytes, over the scoring limit of 500 bytes "):
        check_data_size("test/p/big.csv", 501)


def test_a_key_outside_the_data_prefixes_is_refused_by_name():
    with pytest.raises(BadInput, match="must start with train/ or test/"):
        check_data_size("models/x.csv", 1)
