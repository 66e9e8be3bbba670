"""Step 1: reading the training CSV: size checked with HEAD first, unreadable files refused by name."""

from __future__ import annotations

import pytest

from dropml import storage
from dropml.config import reset_settings_cache
from dropml.errors import BadInput, TooLarge
from dropml.training import ingest


def test_parses_csv_and_strips_byte_order_mark():
    frame, found = ingest.parse_training_csv(b"\xef\xbb\xbfa,b\n1,x\n2,y\n", "train/x.csv")
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]
    assert found.describe() == {"encoding": "utf-8-sig", "delimiter": ",", "decimal": ".", "thousands": None}


def test_a_european_excel_file_is_read_with_its_code_page_delimiter_and_decimal_comma():
    body = "Stadt;Preis;target\nGenève;1.234,5;oui\nKöln;12,25;non\nMálaga;-3,5;oui\n".encode("cp1252")
    frame, found = ingest.parse_training_csv(body, "train/x.csv")
    assert frame["Stadt"].tolist() == ["Genève", "Köln", "Málaga"]
    assert frame["Preis"].tolist() == [1234.5, 12.25, -3.5]
    assert (found.encoding, found.delimiter, found.decimal, found.thousands) == ("cp1252", ";", ",", ".")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "train/x.csv is empty"),
        (b"  \n\n", "train/x.csv is empty"),
        (b"a,b,target\n", "train/x.csv has a header (3 columns) but no data rows"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR",
            "train/x.csv is not a text CSV file (it contains binary NUL bytes); save it as CSV text",
        ),
        (
            b"target\n1\n2\n",
            "train/x.csv has 1 column (target); a training file needs at least one feature column and a target column",
        ),
    ],
)
def test_unreadable_files_are_refused_with_a_named_reason(body, message):
    with pytest.raises(BadInput) as caught:
        ingest.parse_training_csv(body, "train/x.csv")
    assert str(caught.value) == message
    assert caught.value.field == "file"


def test_size_is_checked_before_downloading(monkeypatch):
    monkeypatch.setenv("DROPML__STORAGE__MAX_TRAINING_BYTES", str(200 * 1024 * 1024))  # the default is 64 GiB
    reset_settings_cache()
    downloads = []
    monkeypatch.setattr(storage, "head", lambda key: storage.ObjectInfo(key, 300 * 1024 * 1024, "etag", {}))
    monkeypatch.setattr(storage, "get_bytes", downloads.append)
    with pytest.raises(TooLarge) as caught:
        ingest.load_training_data("train/huge.csv")
    assert "314,572,800 bytes, over the training limit of 209,715,200 bytes" in str(caught.value)
    assert downloads == []
    monkeypatch.delenv("DROPML__STORAGE__MAX_TRAINING_BYTES")
    reset_settings_cache()


def test_load_records_key_etag_and_sha256(monkeypatch):
    body = b"x,target\n1,a\n2,b\n"
    monkeypatch.setattr(storage, "head", lambda key: storage.ObjectInfo(key, len(body), "e1", {}))
    monkeypatch.setattr(
        storage, "get_bytes", lambda key: storage.ObjectBytes(key, body, "e1", storage.sha256_hex(body), {})
    )
    data = ingest.load_training_data("train/small.csv")
    assert (data.key, data.etag, data.sha256, data.size) == ("train/small.csv", "e1", storage.sha256_hex(body), 17)
    assert data.frame.shape == (2, 2)
