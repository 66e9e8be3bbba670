"""Detecting how a CSV is written: encoding, delimiter and decimal mark, on the files spreadsheets produce."""

from __future__ import annotations

import pytest

from dropml.storage.csv_format import PLAIN, CsvFormat, detect_csv_format, detect_delimiter

ROWS = [("Genève", "1234.5", "oui"), ("Köln", "12.25", "non"), ("Málaga", "-3.5", "oui"), ("Smørrebrød", "0.75", "non")]


def _csv(delimiter: str = ",", decimal: str = ".", rows: int = 40) -> str:
    lines = [delimiter.join(["city", "price", "target"])]
    for i in range(rows):
        city, price, label = ROWS[i % len(ROWS)]
        lines.append(delimiter.join([f"{city} {i}", price.replace(".", decimal), label]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_csv().encode("utf-8"), PLAIN),
        (_csv().encode("utf-8-sig"), CsvFormat(encoding="utf-8-sig")),
        (_csv("\t").encode("utf-16"), CsvFormat(encoding="utf-16", delimiter="\t")),
        (_csv(";", ",").encode("cp1252"), CsvFormat(encoding="cp1252", delimiter=";", decimal=",")),
        (_csv("\t").encode("latin-1"), CsvFormat(encoding="cp1252", delimiter="\t")),
        (_csv("|").encode("utf-8"), CsvFormat(delimiter="|")),
        (_csv(";").encode("utf-8"), CsvFormat(delimiter=";")),
        (
            "a;b\n1.234,5;2\n10,25;3\n".encode("cp1252"),
            CsvFormat(encoding="utf-8", delimiter=";", decimal=",", thousands="."),
        ),
    ],
    ids=[
        "utf8",
        "utf8-bom",
        "utf16-tab",
        "cp1252-semicolon-decimal-comma",
        "latin1-tab",
        "pipe",
        "semicolon",
        "dot-thousands",
    ],
)
def test_formats_are_detected(body, expected):
    assert detect_csv_format(body) == expected


def test_french_cp1252_is_not_misread_as_central_european():
    # charset-normalizer's detector calls this cp1250 or cp1257, which reads 'Genčve'
    body = "ville;note\nGenève à l'été;1\nÇa coûte 5 €;2\nélève très déjà;3\n".encode("cp1252")
    found = detect_csv_format(body)
    assert found.encoding == "cp1252"
    assert body.decode(found.encoding).startswith("ville;note\nGenève à l'été")


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("id,note,v\n" + "".join(f"{i},a;b;c,{i}.5\n" for i in range(50)), ","),  # ';' inside comma-file text
        ("note;v;w\n" + "".join(f'"x, y";{i},5;{i},25\n' for i in range(50)), ";"),  # quoted commas, decimal commas
        ("x;y\n" + "".join(f"{i},5;{i},75\n" for i in range(50)), ";"),  # more commas than semicolons per row
        ("a\tb\n" + "".join(f"hello, world\t{i}\n" for i in range(50)), "\t"),
        ("x\n1\n2\n3\n", ","),  # one column
        ('"a;b",c\n1,2\n3,4\n', ","),
    ],
)
def test_delimiter_is_found_in_messy_files(text, delimiter):
    assert detect_delimiter(text) == delimiter


def test_a_plain_file_is_detected_without_a_dialect_search(monkeypatch):
    import clevercsv

    def no_search(*_args, **_kwargs):
        raise AssertionError("a plain comma file must not cost a dialect search")

    monkeypatch.setattr(clevercsv.Detector, "detect", no_search)
    body = ("a,b,c\n" + "1,2,3\n" * 200_000).encode()
    assert detect_csv_format(body) == PLAIN


def test_a_file_with_bytes_undefined_in_cp1252_is_latin_1():
    body = "a,b\ncaf\u00e9 \u0081,1\n".encode("latin-1")
    assert detect_csv_format(body).encoding == "latin-1"
