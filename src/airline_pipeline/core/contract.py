"""The input contract: how a daily flights file must look and how its key names the day.

File-level checks live here and run on the *head* of a file only, so the validate Lambda (an S3
range GET) and ``ingest`` (a local read) apply exactly the same rules. Row-level rules are SQL and
live in :mod:`airline_pipeline.engine.scan`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import Optional

from airline_pipeline.core.errors import (
    CompressedFile,
    EmptyFile,
    InvalidEncoding,
    InvalidHeader,
    InvalidKey,
    NoDataRows,
)

#: The version of this input contract (header, key layout, row rules) a load applied; recorded in each
#: audit row, so a row loaded under older rules can be told apart. Raise it when a rule changes.
CONTRACT_VERSION = "1"

EXPECTED_HEADER = ("Carrier", "OriginAirportID", "DestAirportID", "DepDelay", "ArrDelay")
EXPECTED_HEADER_LINE = ",".join(EXPECTED_HEADER)

#: ``daily_flights_fact.carrier`` is VARCHAR(10); Redshift counts bytes, so we do too.
CARRIER_MAX_BYTES = 10
#: How much of a file the head check reads: the header must end within it.
HEAD_BYTES = 64 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
#: Line breaks as the loader counts them (universal newlines: CRLF, LF or a lone CR), see
#: :func:`airline_pipeline.scan.prepare`.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_UTF8_BOM = "\ufeff"


def flight_date_from_key(key: str) -> date:
    """The flight date named by the ``date=YYYY-MM-DD`` or ``date=YYYYMMDD`` folder of a key or path.

    The folder nearest the file decides: ``.../date=2020-06-30/backfill/date=2013-01-16/x.csv`` is
    a file of 2013-01-16 (an outer ``date=`` folder is an archive or a backfill batch, not the day).
    Only folders count, never the file name.
    """
    folders = [segment for segment in key.split("/")[:-1] if segment.startswith("date=")]
    if not folders:
        raise InvalidKey(f"'{key}' has no date=YYYY-MM-DD (or date=YYYYMMDD) folder: cannot tell the flight date")
    value = folders[-1][len("date=") :]
    # [0-9], not \d: \d also matches other scripts' digits ("date=٢٠١٣٠١١٥" is not a key we write).
    match = re.fullmatch(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})", value)
    if not match or (len(value) not in (8, 10)) or (len(value) == 10 and value.count("-") != 2):
        raise InvalidKey(f"'{key}': date={value} is not YYYY-MM-DD or YYYYMMDD")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise InvalidKey(f"'{key}': date={value} is not a calendar date ({exc})") from None


def flight_date_or_none(key: str) -> Optional[date]:
    """The key's date, or None: for messages about a file that is not (yet) known to be valid."""
    try:
        return flight_date_from_key(key)
    except InvalidKey:
        return None


def check_key(key: str, prefix: str = "") -> date:
    """Check the layout rules for an object key (or local path) and return its flight date."""
    if key.endswith("/"):
        raise InvalidKey(f"'{key}' is a folder, not a file")
    name = PurePosixPath(key).name
    if name.lower().endswith((".gz", ".gzip", ".zip", ".bz2", ".zst")):
        raise CompressedFile(
            f"'{key}' is compressed; upload plain .csv text (the S3 trigger and the loader read only .csv)"
        )
    if not name.lower().endswith(".csv"):
        raise InvalidKey(f"'{key}' is not a .csv file")
    if prefix and not key.startswith(prefix):
        raise InvalidKey(f"'{key}' is outside the data prefix '{prefix}'")
    return flight_date_from_key(key)


def parse_header(line: str) -> tuple[str, ...]:
    """Split a header line the way a CSV reader would (quotes allowed), trimmed."""
    try:
        fields = next(csv.reader([line]), [])
    except csv.Error:  # NUL bytes (Python < 3.11 refuses them, e.g. UTF-16 without a BOM): not the header
        return (line.strip(),)
    return tuple(field.strip() for field in fields)


def check_header(line: str) -> None:
    """Raise :class:`InvalidHeader` unless ``line`` is the expected header (case-insensitive, trimmed)."""
    found = parse_header(line.lstrip(_UTF8_BOM).rstrip("\r\n"))
    if tuple(f.lower() for f in found) != tuple(e.lower() for e in EXPECTED_HEADER):
        raise InvalidHeader(expected=EXPECTED_HEADER_LINE, found=line.lstrip(_UTF8_BOM).rstrip("\r\n"))


@dataclass(frozen=True)
class HeadCheck:
    """What the head of a valid file told us."""

    flight_date: date
    header: str
    has_bom: bool
    #: False when the head ends before the first data row (only possible for files larger than the head).
    saw_data_row: bool


def check_head(head: bytes, *, total_size: int, key: str, prefix: str = "") -> HeadCheck:
    """Apply every file-level rule that the first ``HEAD_BYTES`` of a file can decide.

    ``total_size`` is the object's full size, so a file that fits in ``head`` can also be checked for
    having at least one data row. Raises a subclass of :class:`~airline_pipeline.core.errors.InvalidFile`.
    """
    flight_date = check_key(key, prefix)
    if total_size == 0 or not head:
        raise EmptyFile(f"'{key}' is empty (0 bytes)")
    if head.startswith(_GZIP_MAGIC):
        raise CompressedFile(f"'{key}' holds gzip-compressed bytes; upload plain .csv text")
    complete = total_size <= len(head)
    line_break = _LINE_BREAK.search(head)
    header_bytes, rest = (head[: line_break.start()], head[line_break.end() :]) if line_break else (head, b"")
    if not line_break and not complete:
        raise InvalidHeader(
            expected=EXPECTED_HEADER_LINE,
            found=header_bytes[: InvalidHeader.SHOWN_CHARS * 4].decode("utf-8", errors="replace"),
            note=f"no line break in the first {len(head)} bytes: is this a CSV file?",
        )
    header_line = _decode_header(header_bytes, key=key)
    has_bom = header_line.startswith(_UTF8_BOM)
    check_header(header_line)
    # Data rows are only looked at for being there: their encoding is a row-level matter
    # (a bad byte quarantines its row, wherever in the file it is).
    saw_data_row = any(line.strip() for line in rest.splitlines())
    if complete and not saw_data_row:
        raise NoDataRows(f"'{key}' has the header but no data rows; nothing to load")
    return HeadCheck(
        flight_date=flight_date,
        header=header_line.lstrip(_UTF8_BOM).rstrip("\r"),
        has_bom=has_bom,
        saw_data_row=saw_data_row,
    )


def _decode_header(header: bytes, *, key: str) -> str:
    """Decode the header line strictly as UTF-8, with a hint for the usual culprits."""
    try:
        return header.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = "it looks like UTF-16" if header[:2] in (b"\xff\xfe", b"\xfe\xff") else "re-export it as UTF-8"
        raise InvalidEncoding(
            f"'{key}': the header line is not UTF-8 (byte 0x{header[exc.start]:02x} at offset {exc.start}); {hint}"
        ) from None
