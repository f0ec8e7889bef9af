"""The input contract: header, key layout and the head check.

Pure Python, no engine: runs under the project venv and the Glue Python shell interpreter (3.9).
"""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from airline_pipeline.core import contract
from airline_pipeline.core.contract import EXPECTED_HEADER_LINE, HEAD_BYTES, check_head, check_header, check_key
from airline_pipeline.core.errors import (
    CompressedFile,
    EmptyFile,
    InvalidEncoding,
    InvalidFile,
    InvalidHeader,
    InvalidKey,
    NoDataRows,
    readable,
)

pytestmark = pytest.mark.glue39

KEY = "daily-flights/date=2013-01-15/flights.csv"
ROW = "DL,10397,12478,-3,5"


@pytest.fixture
def head_of():
    """Run :func:`check_head` on a whole small file given as bytes."""

    def run(data: bytes, key: str = KEY) -> contract.HeadCheck:
        return check_head(data[:HEAD_BYTES], total_size=len(data), key=key)

    return run


# --- header ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(EXPECTED_HEADER_LINE, id="exact"),
        pytest.param(EXPECTED_HEADER_LINE.lower(), id="lower-case"),
        pytest.param(EXPECTED_HEADER_LINE.upper(), id="upper-case"),
        pytest.param(" Carrier , OriginAirportID,DestAirportID ,\tDepDelay,ArrDelay  ", id="padded"),
        pytest.param("\ufeff" + EXPECTED_HEADER_LINE, id="utf8-bom"),
        pytest.param(EXPECTED_HEADER_LINE + "\r\n", id="crlf"),
        pytest.param('"Carrier","OriginAirportID","DestAirportID","DepDelay","ArrDelay"', id="quoted"),
        pytest.param('"Carrier",OriginAirportID,"DestAirportID",DepDelay,"ArrDelay"', id="partly-quoted"),
    ],
)
def test_header_accepted(line: str) -> None:
    # Given a header that differs from the contract only in case, padding, BOM, line end or quoting
    # When it is checked
    # Then it passes (no exception)
    check_header(line)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("Carrier,OriginAirportID,DestAirportID,DepDelay", id="column-missing"),
        pytest.param(EXPECTED_HEADER_LINE + ",Extra", id="column-extra"),
        pytest.param("Carrier,DestAirportID,OriginAirportID,DepDelay,ArrDelay", id="columns-swapped"),
        pytest.param("Carrier;OriginAirportID;DestAirportID;DepDelay;ArrDelay", id="semicolons"),
        pytest.param("Carrier,Origin Airport ID,DestAirportID,DepDelay,ArrDelay", id="renamed"),
        pytest.param(ROW, id="data-row-first"),
        pytest.param("", id="empty"),
        pytest.param("C\x00a\x00r\x00r\x00i\x00e\x00r\x00", id="nul-bytes"),
    ],
)
def test_wrong_header_names_expected_and_found(line: str) -> None:
    # Given a first line that is not the contract's header
    # When it is checked
    with pytest.raises(InvalidHeader) as raised:
        check_header(line)
    # Then the error names both the expected header and what was found
    assert raised.value.expected == EXPECTED_HEADER_LINE
    assert raised.value.found == line
    message = str(raised.value)
    assert EXPECTED_HEADER_LINE in message
    assert f"found '{readable(line, InvalidHeader.SHOWN_CHARS)}'" in message  # control characters escaped
    assert raised.value.code == "InvalidHeader"


def test_very_long_wrong_header_is_cut_in_the_message() -> None:
    # Given a wrong header of 5,000 characters
    line = "x" * 5000
    # When it is checked
    with pytest.raises(InvalidHeader) as raised:
        check_header(line)
    # Then the message shows its start only, but the error keeps all of it
    assert len(str(raised.value)) < 400
    assert raised.value.found == line


# --- the key and its date ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("daily-flights/date=2013-01-15/flights.csv", date(2013, 1, 15)),
        ("daily-flights/date=20130115/flights.csv", date(2013, 1, 15)),
        ("/tmp/x/date=2024-02-29/f.csv", date(2024, 2, 29)),
        ("date=1999-12-31/f.csv", date(1999, 12, 31)),
        ("a/date=2013-01-15/b/c/FLIGHTS.CSV", date(2013, 1, 15)),
        ("a/date=2013-01-15/b/date=2014-02-02/f.csv", date(2014, 2, 2)),
        ("daily-flights/date=2020-06-30/backfill/date=2013-01-16/f.csv", date(2013, 1, 16)),
        ("daily-flights/date=2013-01-15/date=2014-02-02.csv", date(2013, 1, 15)),
    ],
)
def test_flight_date_comes_from_the_key(key: str, expected: date) -> None:
    # Given a key with a date=YYYY-MM-DD or date=YYYYMMDD folder
    # When the key is checked
    # Then its flight date is that folder's: the one nearest the file when there are several,
    # never an outer archive/backfill folder, never the file name

    assert check_key(key) == expected
    assert contract.flight_date_from_key(key) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2013-02-30",  # not a calendar day
        "2013-13-01",
        "20130230",
        "2023-02-29",  # not a leap year
        "2013-1-15",
        "2013-0115",
        "201301-15",
        "13-01-15",
        "2013/01/15",
        "15-01-2013",
        "2013-01-15x",
        "",
        "٢٠١٣٠١١٥",  # Arabic-Indic digits: not ASCII YYYYMMDD
        "\uff12\uff10\uff11\uff13-\uff10\uff11-\uff11\uff15",  # fullwidth digits
    ],
)
def test_invalid_date_segment_is_refused(value: str) -> None:
    # Given a key whose date= folder is not a valid YYYY-MM-DD / YYYYMMDD calendar date
    key = f"daily-flights/date={value}/flights.csv"
    # When the key is checked
    with pytest.raises(InvalidKey) as raised:
        check_key(key)
    # Then the message names the key and the bad value
    assert key in str(raised.value)
    assert f"date={value}" in str(raised.value)


@pytest.mark.parametrize(
    "key",
    [
        "daily-flights/flights.csv",
        "daily-flights/2013-01-15/flights.csv",
        "daily-flights/dt=2013-01-15/flights.csv",
        "daily-flights/mydate=2013-01-15/flights.csv",
        "daily-flights/flights_date=2013-01-15.csv",
    ],
)
def test_key_without_date_folder_is_refused(key: str) -> None:
    # Given a key with no date=... folder of its own
    # When it is checked
    with pytest.raises(InvalidKey, match="no date=YYYY-MM-DD") as raised:
        check_key(key)
    # Then the message names the key
    assert key in str(raised.value)


@pytest.mark.parametrize("name", ["flights.txt", "flights.csv.bak", "flights", "flights.tsv", "flights.parquet"])
def test_only_csv_keys_are_accepted(name: str) -> None:
    # Given a key that does not end in .csv
    key = f"daily-flights/date=2013-01-15/{name}"
    # When it is checked
    # Then it is refused as a key error naming the key
    with pytest.raises(InvalidKey, match=r"not a \.csv file"):
        check_key(key)


@pytest.mark.parametrize("name", ["flights.csv.gz", "flights.CSV.GZ", "f.gzip", "f.zip", "f.csv.bz2", "f.zst"])
def test_compressed_keys_are_refused(name: str) -> None:
    # Given a key of a compressed file
    # When it is checked
    # Then it is refused as compressed, with a hint to upload plain .csv
    with pytest.raises(CompressedFile, match=r"compressed; upload plain \.csv"):
        check_key(f"daily-flights/date=2013-01-15/{name}")


def test_a_folder_key_is_refused() -> None:
    # Given the key of a folder marker whose name looks like a file ("flights.csv/")
    # When the key is checked
    # Then it is refused as a folder
    with pytest.raises(InvalidKey, match="is a folder, not a file"):
        check_key("daily-flights/date=2013-01-15/flights.csv/")


def test_key_outside_the_prefix_is_refused() -> None:
    # Given a data prefix and a key outside it
    # When the key is checked against the prefix
    # Then it is refused; a key inside the prefix passes
    with pytest.raises(InvalidKey, match="outside the data prefix"):
        check_key("other/date=2013-01-15/f.csv", prefix="daily-flights/")
    assert check_key(KEY, prefix="daily-flights/") == date(2013, 1, 15)


# --- the head check ----------------------------------------------------------------------------------


def test_valid_head(head_of) -> None:
    # Given a small valid file
    data = f"{EXPECTED_HEADER_LINE}\n{ROW}\n".encode()
    # When its head is checked
    checked = head_of(data)
    # Then the date, the header and the data row are reported
    assert checked.flight_date == date(2013, 1, 15)
    assert checked.header == EXPECTED_HEADER_LINE
    assert checked.has_bom is False
    assert checked.saw_data_row is True


def test_bom_and_crlf_head(head_of) -> None:
    # Given a file saved by a spreadsheet: UTF-8 BOM, CRLF line ends
    data = f"\ufeff{EXPECTED_HEADER_LINE}\r\n{ROW}\r\n".encode()
    # When its head is checked
    checked = head_of(data)
    # Then the BOM is noticed and stripped from the reported header, as is the CR
    assert checked.has_bom is True
    assert checked.header == EXPECTED_HEADER_LINE


def test_cr_only_line_ends_are_line_breaks(head_of) -> None:
    # Given a file with old-Mac line ends (a lone CR ends every line)
    data = f"{EXPECTED_HEADER_LINE}\r{ROW}\r".encode()
    # When its head is checked
    checked = head_of(data)
    # Then the header is the first line and the row is seen
    assert checked.header == EXPECTED_HEADER_LINE
    assert checked.saw_data_row is True


def test_empty_file(head_of) -> None:
    # Given a 0-byte file
    # When its head is checked
    # Then it is refused as empty, naming the key
    with pytest.raises(EmptyFile, match="empty") as raised:
        head_of(b"")
    assert KEY in str(raised.value)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(EXPECTED_HEADER_LINE.encode(), id="no-newline"),
        pytest.param(f"{EXPECTED_HEADER_LINE}\n".encode(), id="lf"),
        pytest.param(f"{EXPECTED_HEADER_LINE}\r\n\r\n   \n\t\n".encode(), id="blank-lines-after"),
    ],
)
def test_header_only_file_has_no_data_rows(head_of, data: bytes) -> None:
    # Given a file with the header and nothing but (maybe) blank lines
    # When its head is checked
    # Then it is refused: a truncated upload must not replace the day's rows
    with pytest.raises(NoDataRows, match="no data rows"):
        head_of(data)


def test_whitespace_only_file_is_a_wrong_header(head_of) -> None:
    # Given a file of blank lines only
    # When its head is checked
    # Then the (empty) first line is reported as the wrong header
    with pytest.raises(InvalidHeader, match="found ''"):
        head_of(b"\n\n  \n")


def test_missing_header(head_of) -> None:
    # Given a file that starts with a data row
    # When its head is checked
    with pytest.raises(InvalidHeader) as raised:
        head_of(f"{ROW}\n{ROW}\n".encode())
    # Then the message shows the row that was found in the header's place
    assert raised.value.found == ROW


def test_gzip_bytes_are_refused_even_with_a_csv_key(head_of) -> None:
    # Given gzip-compressed CSV bytes under a .csv key
    data = gzip.compress(f"{EXPECTED_HEADER_LINE}\n{ROW}\n".encode())
    # When its head is checked
    # Then it is refused as compressed (not as a confusing header or encoding error)
    with pytest.raises(CompressedFile, match="gzip"):
        head_of(data)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_refused(head_of, encoding: str) -> None:
    # Given the file saved as UTF-16 (with or without a byte-order mark)
    data = f"{EXPECTED_HEADER_LINE}\n{ROW}\n".encode(encoding)
    # When its head is checked
    # Then it is a file-level error: an encoding error with the UTF-16 hint when a BOM says so,
    # else a wrong header (the NULs between the letters) -- never an unexpected exception
    with pytest.raises((InvalidEncoding, InvalidHeader)) as raised:
        head_of(data)
    if encoding == "utf-16":
        assert isinstance(raised.value, InvalidEncoding)
        assert "UTF-16" in str(raised.value)


def test_latin1_header_is_an_encoding_error(head_of) -> None:
    # Given a header with a Latin-1 byte (not UTF-8)
    data = b"Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\xe9\n" + ROW.encode() + b"\n"
    # When its head is checked
    # Then the error names the byte and its offset
    with pytest.raises(InvalidEncoding, match=r"byte 0xe9 at offset 55"):
        head_of(data)


def test_bad_bytes_in_data_rows_do_not_fail_the_head(head_of) -> None:
    # Given a valid header followed by a row with a byte that is not UTF-8
    data = f"{EXPECTED_HEADER_LINE}\n".encode() + b"D\xff,1,2,3,4\n"
    # When its head is checked
    # Then it passes: a bad row is a row-level matter (quarantined by the loader)
    assert head_of(data).saw_data_row is True


def test_partial_multibyte_character_at_the_head_boundary() -> None:
    # Given a file larger than the head whose HEAD_BYTES-th byte splits a 2-byte UTF-8 character
    row = "É9,10397,12478,-3,5\n".encode()  # "É" is 2 bytes
    data = f"{EXPECTED_HEADER_LINE}\n".encode() + row * (2 * HEAD_BYTES // len(row))
    cut = HEAD_BYTES
    while data[cut - 1] != 0xC3:  # make the head end right after the first byte of an "É"
        cut -= 1
    head = data[:cut]
    assert len(data) > len(head)
    with pytest.raises(UnicodeDecodeError):
        head.decode("utf-8")
    # When the head is checked
    checked = check_head(head, total_size=len(data), key=KEY)
    # Then it passes: only the header line is decoded
    assert checked.saw_data_row is True


def test_header_not_ended_within_the_head() -> None:
    # Given a file larger than the head whose first line is longer than the head
    data = b"x" * (HEAD_BYTES + 10) + b"\n" + ROW.encode()
    # When the head is checked
    # Then it is a wrong header that says no line break was found
    with pytest.raises(InvalidHeader, match=f"no line break in the first {HEAD_BYTES} bytes"):
        check_head(data[:HEAD_BYTES], total_size=len(data), key=KEY)


def test_large_file_whose_head_holds_only_the_header_passes() -> None:
    # Given a file larger than the head with the header then only blank lines in the head
    data = f"{EXPECTED_HEADER_LINE}\n".encode() + b"\n" * HEAD_BYTES + ROW.encode()
    # When the head is checked
    checked = check_head(data[:HEAD_BYTES], total_size=len(data), key=KEY)
    # Then it passes (the loader decides about data rows) and says no row was seen yet
    assert checked.saw_data_row is False


def test_key_rules_come_first(head_of) -> None:
    # Given a valid file under a key without a date folder
    data = f"{EXPECTED_HEADER_LINE}\n{ROW}\n".encode()
    # When its head is checked
    # Then the key error is reported
    with pytest.raises(InvalidKey):
        head_of(data, key="daily-flights/flights.csv")


def test_every_file_error_is_an_invalid_file() -> None:
    # Given the file-level error classes
    # Then they share the InvalidFile base the loader catches, and their code is the class name
    for cls in (InvalidKey, EmptyFile, NoDataRows, InvalidEncoding, CompressedFile):
        assert issubclass(cls, InvalidFile)
        assert cls("x").code == cls.__name__
    assert issubclass(InvalidHeader, InvalidFile)
