"""How a CSV file is written: its text encoding, delimiter and decimal mark, detected from its bytes.

Files come from spreadsheets as well as programs: UTF-8 with or without a
byte order mark, UTF-16 ("Unicode text" from Excel), Windows code pages from
a European Excel (cp1252), ``;`` or tab delimiters, decimal commas. Training
and scoring read every file through :func:`detect_csv_format`, so one file is
read the same way in both, and the training report records what was found.

Choices, measured on our cases (see tests/unit/test_csv_format.py):

- Encoding: a byte order mark decides; else text that decodes as UTF-8 is
  UTF-8 (checked incrementally over the whole body, no copy of it). Anything
  else is cp1252, the code page of Excel in Western Europe and the Americas
  (latin-1 when a byte is undefined in cp1252; latin-1 decodes any byte). No
  detector served here: on CSV-shaped text charset-normalizer's ``from_bytes``
  names French, German, Spanish and Danish cp1252 files cp1250 or cp1257
  (reading "Genève" as "Genčve") and Russian cp1251 as cp949; chardet calls
  French cp1252 MacCyrillic and German cp862; charset-normalizer's mess ratio
  over candidate pages rates correct French as messier than its cp1250 misreading.
  Files in other legacy code pages (Cyrillic, Greek, East Asian) are read as
  cp1252, shown as such in the report: save them as UTF-8.
- Delimiter: a header that has commas and none of ``;``, tab or ``|`` is a
  comma file (the common case, decided in microseconds). Otherwise clevercsv's
  data-consistency detector picks among those four on a 16 KiB sample; it and
  the standard library's sniffer agreed on every case we tried, but clevercsv
  is built for messy files and the standard sniffer raises on one-column ones.
- Decimal mark: no library detects it. With a non-comma delimiter, number
  cells written like ``3,14`` (and ``1.234,5``) outnumbering ``3.14`` ones mean
  a decimal comma (with ``.`` thousands), as a European spreadsheet writes.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import asdict, dataclass
from typing import Any

SAMPLE_BYTES = 64 * 1024  # what the encoding and decimal checks look at
DIALECT_SAMPLE_CHARS = 16 * 1024  # clevercsv's cost grows with the sample: ~50 ms at this size
UTF8_CHUNK_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
DECIMAL_COMMA = re.compile(r"[-+]?(\d{1,3}(\.\d{3})+|\d+),\d+")
DECIMAL_POINT = re.compile(r"[-+]?\d*\.\d+([eE][-+]?\d+)?")
DOT_THOUSANDS = re.compile(r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?")


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file's bytes are to be read: text encoding, delimiter, decimal and thousands marks."""

    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None

    @property
    def is_plain(self) -> bool:
        """UTF-8 (no BOM), comma-delimited, decimal point: what every reader here reads without options."""
        return self == PLAIN

    def read_csv_options(self) -> dict[str, Any]:
        """The ``pandas.read_csv`` arguments that read this format."""
        options: dict[str, Any] = {"encoding": self.encoding, "sep": self.delimiter, "decimal": self.decimal}
        if self.thousands:
            options["thousands"] = self.thousands
        return options

    def describe(self) -> dict[str, Any]:
        """The format as the data-quality report records it."""
        return asdict(self)


PLAIN = CsvFormat()


def detect_encoding(body: bytes) -> str:
    """The text encoding of ``body`` (a Python codec name): BOM, else UTF-8 if valid, else a legacy code page."""
    if body.startswith(UTF8_BOM):
        return "utf-8-sig"
    if body.startswith(UTF16_BOMS):
        return "utf-16"
    if decodes(body, "utf-8"):
        return "utf-8"
    return "cp1252" if decodes(body, "cp1252") else "latin-1"  # latin-1 decodes any byte


def decodes(body: bytes, encoding: str) -> bool:
    """Whether all of ``body`` decodes in ``encoding``, in 1 MiB steps (a 200 MB file is never copied into a str)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(body)
    try:
        for start in range(0, len(body), UTF8_CHUNK_BYTES):
            decoder.decode(view[start : start + UTF8_CHUNK_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sample_text(body: bytes, encoding: str) -> str:
    """The first whole lines of ``body`` (about 64 KiB) as text."""
    sample = body[:SAMPLE_BYTES]
    if len(body) > SAMPLE_BYTES:
        end = sample.rfind(b"\n")
        sample = sample[: end + 1] if end > 0 else sample
    return sample.decode(encoding, errors="replace").removeprefix("\ufeff")


def detect_delimiter(text: str) -> str:
    """The delimiter of CSV ``text`` among ``, ; tab |`` (a comma when there is only one column)."""
    header = text.split("\n", 1)[0]
    others = [d for d in DELIMITERS[1:] if d in header]
    if "," in header and not others:
        return ","
    if not others and "," not in header and not any(d in text for d in DELIMITERS):
        return ","  # one column: nothing to choose
    import clevercsv

    sample = text[:DIALECT_SAMPLE_CHARS]
    if len(text) > DIALECT_SAMPLE_CHARS and "\n" in sample:
        sample = sample[: sample.rfind("\n") + 1]  # a cut last row would look inconsistent
    try:
        dialect = clevercsv.Detector().detect(sample, delimiters=list(DELIMITERS))
    except Exception:  # the detector's own parse errors: fall back to the common case
        return others[0] if others else ","
    return dialect.delimiter if dialect is not None and dialect.delimiter in DELIMITERS else ","


def detect_decimal(text: str, delimiter: str) -> tuple[str, str | None]:
    """(decimal mark, thousands mark) of number cells in ``text``: ``,`` and ``.`` as a European spreadsheet writes."""
    if delimiter == ",":
        return ".", None
    commas = points = grouped = 0
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)  # newline="": a lone \r ends a row
    try:
        for row in rows:
            for cell in row:
                value = cell.strip()
                if DECIMAL_COMMA.fullmatch(value):
                    commas += 1
                    grouped += bool(DOT_THOUSANDS.fullmatch(value))
                elif DECIMAL_POINT.fullmatch(value):
                    points += 1
    except csv.Error:  # e.g. a field over csv's size limit: the cells counted so far decide; pandas names the fault
        pass
    if commas > points:
        return ",", "." if grouped else None
    return ".", None


def detect_csv_format(body: bytes) -> CsvFormat:
    """Detect how ``body`` is written; a plain UTF-8 comma file costs one UTF-8 check and a header look."""
    encoding = detect_encoding(body)
    text = _sample_text(body, encoding)
    delimiter = detect_delimiter(text)
    decimal, thousands = detect_decimal(text, delimiter)
    return CsvFormat(encoding=encoding, delimiter=delimiter, decimal=decimal, thousands=thousands)
