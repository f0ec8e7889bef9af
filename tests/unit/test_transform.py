"""Row rules, line numbers and the dimension join (:mod:`airline_pipeline.engine.scan`) on in-memory DuckDB.

Expectations are written from the contract (the design notes and the module's rules), never copied
from the code's output. Runs under DuckDB 1.2.2 / Python 3.9 as well (``-m glue39``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

import duckdb
import pytest

from airline_pipeline.core import schema
from airline_pipeline.core.contract import EXPECTED_HEADER_LINE
from airline_pipeline.engine import facts, rules, scan

pytestmark = pytest.mark.glue39

HEADER = (EXPECTED_HEADER_LINE + "\n").encode()
FLIGHT_DATE = date(2013, 1, 15)
LOADED_AT = datetime(2013, 1, 16, 3, 0, 0)
BATCH = "2013-01-15-test"

#: airport_id -> (city, state, name)
AIRPORTS = {
    10397: ("Atlanta", "Georgia", "Hartsfield-Jackson Atlanta International Airport"),
    12478: ("New York", "New York", "John F. Kennedy International Airport"),
    11298: ("Dallas-Fort Worth", "Texas", "Dallas/Fort Worth International Airport"),
    -5: ("Nowhere", "Nostate", "Negative Id Field"),  # airport ids are any integers
}


@dataclass
class Loaded:
    counts: facts.LoadCounts
    facts: list[tuple[Any, ...]]
    rejects: list[tuple[int, str, str, str]]  # (line_number, reason, detail, raw_line)
    source: str
    file: scan.PreparedFile


def prepared(path: Path, *, route: str = "as prepared") -> scan.PreparedFile:
    """The file as :func:`scan.prepare` hands it over for a uniform file (read in place here).

    ``route="exact"`` reads it line by line even when it is plain (:mod:`airline_pipeline.engine.plain`).
    """
    found = scan.scan_file(str(path))
    return scan.PreparedFile(str(path), found.lines, plain=found.plain and route != "exact")


@pytest.fixture
def con():
    """Given an in-memory warehouse with the project schema and a few airports."""
    connection = duckdb.connect()
    for statement in schema.create_statements("duckdb"):
        connection.execute(statement)
    connection.executemany(
        f"INSERT INTO {schema.AIRPORTS} VALUES (?, ?, ?, ?)",
        [(airport_id, *info) for airport_id, info in AIRPORTS.items()],
    )
    yield connection
    connection.close()


@pytest.fixture(params=["as prepared", "exact"])
def load(con, tmp_path: Path, request: pytest.FixtureRequest):
    """Write HEADER + ``body`` to a file, run :func:`facts.load_rows`, return what landed.

    Every test runs twice: read as the pre-scan routes the file (a plain one by the typed reader),
    and read line by line (the exact path): both must give what the test expects.
    """
    files = iter(range(1_000_000))

    def run(
        body: bytes, *, min_dep_delay: Optional[int] = None, dim_table: str = schema.AIRPORTS, header: bytes = HEADER
    ) -> Loaded:
        path = tmp_path / f"flights-{next(files)}.csv"
        path.write_bytes(header + body)
        source = str(path)

        def insert(select_sql: str, params: list[Any]) -> int:
            return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

        file = prepared(path, route=request.param)
        counts = facts.load_rows(
            con,
            file,
            insert,
            dim_table=dim_table,
            min_dep_delay=min_dep_delay,
            lineage=facts.fact_params(FLIGHT_DATE, source, BATCH, LOADED_AT),
        )
        fact_rows = con.execute(
            f"""SELECT carrier, dep_airport, arr_airport, dep_city, arr_city, dep_state, arr_state,
                       dep_delay, arr_delay
                FROM {schema.FACT} WHERE source_file = ? ORDER BY ALL""",
            [source],
        ).fetchall()
        rejects = [tuple(row) for row in con.execute(facts.rejected_rows_sql()).fetchall()]
        rejects = [(line, reason, detail, raw) for line, raw, reason, detail in rejects]
        return Loaded(counts, fact_rows, rejects, source, file)

    return run


def fact(carrier: str, origin: int, dest: int, dep: Optional[int], arr: Optional[int]) -> tuple[Any, ...]:
    """The fact row the contract says a good input row becomes (LEFT joins: unknown ids give NULLs)."""
    o_city, o_state, o_name = AIRPORTS.get(origin, (None, None, None))
    d_city, d_state, d_name = AIRPORTS.get(dest, (None, None, None))
    return (carrier, o_name, d_name, o_city, d_city, o_state, d_state, dep, arr)


def sort_facts(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


# --- good rows ---------------------------------------------------------------------------------------


def test_canonical_rows_join_both_airports(load) -> None:
    # Given canonical rows (the fast path), a cancelled flight and two identical rows
    body = b"DL,10397,12478,-3,5\nAA,12478,11298,120,97\nUA,11298,10397,,\nDL,10397,12478,-3,5\n"
    # When the file is loaded
    got = load(body)
    # Then every row lands once, identical rows as two flights, with names of both airports
    expected = [
        fact("DL", 10397, 12478, -3, 5),
        fact("AA", 12478, 11298, 120, 97),
        fact("UA", 11298, 10397, None, None),
        fact("DL", 10397, 12478, -3, 5),
    ]
    assert sort_facts(got.facts) == sort_facts(expected)
    assert got.rejects == []
    assert (got.counts.rows_read, got.counts.rows_loaded, got.counts.rows_rejected) == (4, 4, 0)
    assert (got.counts.blank_lines, got.counts.rows_filtered) == (0, 0)


def test_lineage_columns_and_column_order(con, load) -> None:
    # Given one good row
    got = load(b"DL,10397,12478,1,2\n")
    # When the fact row is read back in the table's column order
    columns = [name for name, _ in schema.FACT_COLUMNS]
    row = con.execute(f"SELECT {', '.join(columns)} FROM {schema.FACT}").fetchone()
    # Then the lineage columns carry the batch's values (Parquet COPY relies on this order)
    values = dict(zip(columns, row))
    assert values["flight_date"] == FLIGHT_DATE
    assert values["source_file"] == got.source
    assert values["batch_id"] == BATCH
    assert values["loaded_at"] == LOADED_AT
    assert values["carrier"] == "DL"
    assert values["dep_airport"] == AIRPORTS[10397][2]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("DL,10397,12478,12.0,5", ("DL", 10397, 12478, 12, 5), id="12.0-is-12"),
        pytest.param("DL,10397,12478,12.,5", ("DL", 10397, 12478, 12, 5), id="12.-is-12"),
        pytest.param("DL,10397,12478,0012.000,-3.0", ("DL", 10397, 12478, 12, -3), id="zeros"),
        pytest.param("DL,10397,12478,+5,-7", ("DL", 10397, 12478, 5, -7), id="plus-sign"),
        pytest.param("DL,0010397,012478,007,-007", ("DL", 10397, 12478, 7, -7), id="leading-zeros"),
        pytest.param("DL,10397,12478,-0,+0", ("DL", 10397, 12478, 0, 0), id="signed-zero"),
        pytest.param("DL,10397,12478,,", ("DL", 10397, 12478, None, None), id="empty-delays"),
        pytest.param("DL,10397,12478,  ,\t", ("DL", 10397, 12478, None, None), id="blank-delays"),
        pytest.param("DL,10397,12478,,7", ("DL", 10397, 12478, None, 7), id="empty-dep-delay"),
        pytest.param(" DL , 10397 , 12478 , 3 , 4 ", ("DL", 10397, 12478, 3, 4), id="padded"),
        pytest.param("DL\t,\t10397,12478,3\t,4\t", ("DL", 10397, 12478, 3, 4), id="tabs"),
        pytest.param('"DL","10397","12478","3","4"', ("DL", 10397, 12478, 3, 4), id="all-quoted"),
        pytest.param('" DL ",10397,12478," 3 ",""', ("DL", 10397, 12478, 3, None), id="quoted-padded"),
        pytest.param('"D,L",10397,12478,3,4', ("D,L", 10397, 12478, 3, 4), id="embedded-comma"),
        pytest.param('"D""L",10397,12478,3,4', ('D"L', 10397, 12478, 3, 4), id="doubled-quote"),
        pytest.param('"""",10397,12478,3,4', ('"', 10397, 12478, 3, 4), id="only-a-quote"),
        pytest.param("ABCDEFGHIJ,10397,12478,1,2", ("ABCDEFGHIJ", 10397, 12478, 1, 2), id="carrier-10-bytes"),
        pytest.param("ÉÉÉÉÉ,10397,12478,1,2", ("ÉÉÉÉÉ", 10397, 12478, 1, 2), id="carrier-10-bytes-utf8"),
        pytest.param("9E,10397,12478,1,2", ("9E", 10397, 12478, 1, 2), id="digit-carrier"),
        pytest.param("B-6,10397,12478,1,2", ("B-6", 10397, 12478, 1, 2), id="punctuated-carrier"),
        pytest.param(
            "DL,10397,12478,9223372036854775807,-9223372036854775808",
            ("DL", 10397, 12478, 2**63 - 1, -(2**63)),
            id="bigint-limits",
        ),
        pytest.param("DL,-5,12478,1,2", ("DL", -5, 12478, 1, 2), id="negative-airport-id"),
    ],
)
def test_accepted_values(load, line: str, expected: tuple[Any, ...]) -> None:
    # Given one row whose values are valid once trimmed, unquoted and read as whole numbers
    # When the file is loaded
    got = load(line.encode() + b"\n")
    # Then it loads with exactly those values
    assert got.rejects == []
    assert got.facts == [fact(*expected)]


# --- rejected rows -----------------------------------------------------------------------------------

BAD_QUOTES = "malformed quotes"


#: (line, reason, detail): one row breaking one rule each; the first broken rule (in column order) wins.
REJECTED = [
    ("DL,10397,12478,3", "wrong_field_count", "expected 5 fields, found 4"),
    ("DL,10397,12478,3,4,5", "wrong_field_count", "expected 5 fields, found 6"),
    ("DL,10397,12478,3,4,", "wrong_field_count", "expected 5 fields, found 6"),
    ("DL", "wrong_field_count", "expected 5 fields, found 1"),
    (",,,,,,,,", "wrong_field_count", "expected 5 fields, found 9"),
    (",10397,12478,1,2", "empty_carrier", "Carrier is empty"),
    ("   ,10397,12478,1,2", "empty_carrier", "Carrier is empty"),
    ('"",10397,12478,1,2', "empty_carrier", "Carrier is empty"),
    ("ABCDEFGHIJK,10397,12478,1,2", "carrier_too_long", "Carrier is longer than 10 bytes: 'ABCDEFGHIJK'"),
    ("ÉÉÉÉÉÉ,10397,12478,1,2", "carrier_too_long", "Carrier is longer than 10 bytes: 'ÉÉÉÉÉÉ'"),
    ("D\x00L,10397,12478,1,2", "invalid_carrier", "Carrier contains control characters (NUL, tab, ...)"),
    ("D\tL,10397,12478,1,2", "invalid_carrier", "Carrier contains control characters (NUL, tab, ...)"),
    ("DL,,12478,1,2", "missing_value", "OriginAirportID is empty"),
    ("DL,10397, ,1,2", "missing_value", "DestAirportID is empty"),
    ("DL,ATL,12478,1,2", "not_integer", "OriginAirportID is not an integer: 'ATL'"),
    ("DL,10397,JFK,1,2", "not_integer", "DestAirportID is not an integer: 'JFK'"),
    ("DL,10397,12478,late,2", "not_integer", "DepDelay is not an integer: 'late'"),
    ("DL,10397,12478,1,n/a", "not_integer", "ArrDelay is not an integer: 'n/a'"),
    ("DL,10397,12478,1e3,2", "not_integer", "DepDelay is not an integer: '1e3'"),
    ("DL,10397,12478,0x10,2", "not_integer", "DepDelay is not an integer: '0x10'"),
    ("DL,10397,12478,1_000,2", "not_integer", "DepDelay is not an integer: '1_000'"),
    ("DL,10397,12478,.5,2", "not_integer", "DepDelay is not an integer: '.5'"),
    ("DL,10397,12478,- 5,2", "not_integer", "DepDelay is not an integer: '- 5'"),
    ("DL,10397,12478,--5,2", "not_integer", "DepDelay is not an integer: '--5'"),
    ("DL,10397,12478,NaN,2", "not_integer", "DepDelay is not an integer: 'NaN'"),
    ("DL,10397,12478,inf,2", "not_integer", "DepDelay is not an integer: 'inf'"),
    ("DL,10397,12478,1,2.3.4", "not_integer", "ArrDelay is not an integer: '2.3.4'"),
    ("DL,10397,12478,1.5,2", "not_whole_number", "DepDelay has a fractional part: '1.5'"),
    ("DL,10397,12478,1,-0.5", "not_whole_number", "ArrDelay has a fractional part: '-0.5'"),
    ("DL,10397,12478,12.50,2", "not_whole_number", "DepDelay has a fractional part: '12.50'"),
    ("DL,10397.7,12478,1,2", "not_whole_number", "OriginAirportID has a fractional part: '10397.7'"),
    (
        "DL,10397,12478,9223372036854775808,2",
        "out_of_range",
        "DepDelay does not fit in BIGINT: '9223372036854775808'",
    ),
    (
        "DL,10397,12478,1,-9223372036854775809",
        "out_of_range",
        "ArrDelay does not fit in BIGINT: '-9223372036854775809'",
    ),
    (
        "DL,99999999999999999999999,12478,1,2",
        "out_of_range",
        "OriginAirportID does not fit in BIGINT: '99999999999999999999999'",
    ),
    ('"DL,10397,12478,1,2', "bad_quoting", BAD_QUOTES),
    ('DL,"10397"x,12478,1,2', "bad_quoting", BAD_QUOTES),
    ('D"L,10397,12478,1,2', "bad_quoting", BAD_QUOTES),
    ('"D"L",10397,12478,1,2', "bad_quoting", BAD_QUOTES),
    # the first broken rule (in column order) names the row
    (",ATL,,1.5,x", "empty_carrier", "Carrier is empty"),
    ("DL,ATL,,1.5,x", "not_integer", "OriginAirportID is not an integer: 'ATL'"),
    ("DL,10397,12478,1.5,x", "not_whole_number", "DepDelay has a fractional part: '1.5'"),
]


@pytest.fixture(scope="module")
def rejected_file(tmp_path_factory):
    """Given one file holding every REJECTED line, each between two good rows: loaded once."""
    lines = ["DL,10397,12478,1,2"]
    for line, _, _ in REJECTED:
        lines += [line, "AA,12478,10397,3,4"]
    path = tmp_path_factory.mktemp("rejected") / "flights.csv"
    path.write_bytes(HEADER + "\n".join(lines).encode() + b"\n")
    con = duckdb.connect()
    for statement in schema.create_statements("duckdb"):
        con.execute(statement)

    def insert(select_sql: str, params: list[Any]) -> int:
        return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    counts = facts.load_rows(
        con,
        prepared(path),
        insert,
        dim_table=schema.AIRPORTS,
        min_dep_delay=None,
        lineage=facts.fact_params(FLIGHT_DATE, str(path), BATCH, LOADED_AT),
    )
    rejects = {
        line: (reason, detail, raw) for line, raw, reason, detail in con.execute(facts.rejected_rows_sql()).fetchall()
    }
    carriers = sorted(row[0] for row in con.execute(f"SELECT carrier FROM {schema.FACT}").fetchall())
    con.close()
    return counts, rejects, carriers


def test_bts_whole_number_decimals_take_the_fast_path(load, monkeypatch) -> None:
    # Given a file written as BTS downloads write delays and ids: whole numbers with zero fractions
    body = b"DL,10397.00,12478,-5.00,12.00\nAA,10397,12478.0,0.00,\nUA,10397,12478,12.,-0.00\n"

    # (the slow path's line-by-line checks must not run: they are the cost of a BTS file otherwise)
    def no_slow_path(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a whole-number decimal line took the slow path")

    monkeypatch.setattr(facts, "check_lines", no_slow_path)
    # When the file is loaded
    got = load(body)
    # Then every row loads, exactly, from the fast path alone
    assert got.counts.rows_loaded == 3
    assert sort_facts(got.facts) == sort_facts(
        [fact("DL", 10397, 12478, -5, 12), fact("AA", 10397, 12478, 0, None), fact("UA", 10397, 12478, 12, 0)]
    )


@pytest.mark.parametrize("index", range(len(REJECTED)), ids=[f"{c[1]}:{c[0]}" for c in REJECTED])
def test_rejected_row_reason(rejected_file, index: int) -> None:
    line, reason, detail = REJECTED[index]
    # When the file is loaded
    _, rejects, _ = rejected_file
    # Then the bad row (at line 3 + 2 * index: the header is line 1) is quarantined
    # with its reason, a detail that names the problem, and its raw text
    got_reason, got_detail, raw = rejects[3 + 2 * index]
    assert got_reason == reason
    assert detail in got_detail
    assert raw == line


def test_rejected_rows_do_not_take_good_rows_with_them(rejected_file) -> None:
    counts, rejects, carriers = rejected_file
    # Then exactly the bad lines are rejected and every good row around them loads
    assert sorted(rejects) == [3 + 2 * i for i in range(len(REJECTED))]
    assert carriers == ["AA"] * len(REJECTED) + ["DL"]
    assert counts.rows_read == 2 * len(REJECTED) + 1
    assert (counts.rows_loaded, counts.rows_rejected) == (len(REJECTED) + 1, len(REJECTED))


def test_raw_line_is_cut_at_max_raw_chars(load) -> None:
    # Given a rejected row longer than the raw text kept
    line = "DL,10397,12478,1,2," + "x" * 5000
    # When the file is loaded
    got = load(line.encode() + b"\n")
    # Then the raw text kept is its start, MAX_RAW_CHARS long
    assert got.rejects[0][3] == line[: rules.MAX_RAW_CHARS]


# --- physical line numbers ---------------------------------------------------------------------------


def test_line_numbers_count_blank_lines(load) -> None:
    # Given bad rows after blank and whitespace-only lines (spaces, tabs, form feed)
    body = b"DL,10397,12478,1,2\n\nDL,x,12478,1,2\n   \n\t\n\x0c \nDL,10397,12478,y,2\nAA,12478,10397,3,4\n\n"
    # When the file is loaded
    got = load(body)
    # Then blank lines are ignored but counted, and the bad rows keep their physical line numbers
    assert [(r[0], r[1]) for r in got.rejects] == [(4, "not_integer"), (8, "not_integer")]
    assert got.counts.blank_lines == 5
    assert (got.counts.rows_read, got.counts.rows_loaded, got.counts.rows_rejected) == (4, 2, 2)


def test_line_numbers_with_crlf(load) -> None:
    # Given a CRLF file with a blank line and two bad rows
    body = b"DL,10397,12478,1,2\r\n\r\nDL,x,12478,1,2\r\nAA,12478,10397,3,4\r\nDL,10397,12478,1,2,3\r\n"
    # When the file is loaded
    got = load(body, header=HEADER.replace(b"\n", b"\r\n"))
    # Then the CR is not part of any value and the numbers are physical lines
    assert [(r[0], r[1], r[3]) for r in got.rejects] == [
        (4, "not_integer", "DL,x,12478,1,2"),
        (6, "wrong_field_count", "DL,10397,12478,1,2,3"),
    ]
    assert sort_facts(got.facts) == sort_facts([fact("DL", 10397, 12478, 1, 2), fact("AA", 12478, 10397, 3, 4)])
    assert got.counts.blank_lines == 1


def test_line_numbers_with_invalid_utf8_lines_before_others(load) -> None:
    # Given invalid UTF-8 lines (Latin-1 bytes) before, between and after other bad rows and blank lines
    body = (
        b"D\xff,10397,12478,1,2\n"  # 2: invalid
        b"\xff\xfe\n"  # 3: invalid
        b"DL,10397,12478,1,2\n"  # 4: good
        b"\n"  # 5: blank
        b"DL,x,12478,1,2\n"  # 6: not_integer
        b"AA,12478,10397,1,\xe9\xa0\n"  # 7: invalid (Latin-1)
        b"DL,10397,12478,1.5,2\n"  # 8: fractional
        b"\n"  # 9: blank
        b"UA,\x80,1,2,3\n"  # 10: invalid
        b"AA,12478,10397,3,4\n"  # 11: good
        b"UA,10397,12478,1\n"  # 12: short
    )
    # When the file is loaded
    got = load(body)
    # Then every rejected row has its physical line number
    assert [(r[0], r[1]) for r in got.rejects] == [
        (2, "invalid_utf8"),
        (3, "invalid_utf8"),
        (6, "not_integer"),
        (7, "invalid_utf8"),
        (8, "not_whole_number"),
        (10, "invalid_utf8"),
        (12, "wrong_field_count"),
    ]
    # And the raw text of an invalid line shows '?' for the bad byte
    assert got.rejects[0][3] == "D?,10397,12478,1,2"
    assert got.rejects[0][2] == "the line is not valid UTF-8"
    assert got.counts.blank_lines == 2
    assert (got.counts.rows_read, got.counts.rows_loaded, got.counts.rows_rejected) == (9, 2, 7)


def test_invalid_utf8_in_an_otherwise_clean_file(load) -> None:
    # Given a file whose only non-canonical line is invalid UTF-8 (the all-fast path)
    got = load(b"DL,10397,12478,1,2\nD\xff,10397,12478,1,2\nAA,12478,10397,3,4\n")
    # Then that line is rejected at its line number and the others load
    assert [(r[0], r[1], r[3]) for r in got.rejects] == [(3, "invalid_utf8", "D?,10397,12478,1,2")]
    assert len(got.facts) == 2
    assert (got.counts.rows_read, got.counts.rows_loaded, got.counts.rows_rejected) == (3, 2, 1)


def test_line_longer_than_the_maximum(load) -> None:
    # Given a line over MAX_LINE_BYTES between good rows and before a bad row
    long_line = b"DL,10397,12478,1," + b"9" * (scan.MAX_LINE_BYTES + 1)
    body = b"DL,10397,12478,1,2\n" + long_line + b"\nDL,x,12478,1,2\nAA,12478,10397,3,4\n"
    # When the file is loaded
    got = load(body)
    # Then the long line is rejected as too long and later numbers are unaffected
    assert [(r[0], r[1]) for r in got.rejects] == [(3, "line_too_long"), (4, "not_integer")]
    assert len(got.rejects[0][3]) <= rules.MAX_RAW_CHARS
    assert len(got.facts) == 2


def test_file_without_final_newline(load) -> None:
    # Given a last row without a line break
    got = load(b"DL,10397,12478,1,2\nAA,12478,10397,x,4")
    # Then it is still a row (rejected here, at line 3)
    assert [(r[0], r[1]) for r in got.rejects] == [(3, "not_integer")]


def test_only_blank_lines_read_nothing(load) -> None:
    # Given a header followed by blank lines only
    got = load(b"\n \n\t\n")
    # Then nothing is read (the warehouse turns this into NoDataRows) and the blanks are counted
    assert (got.counts.rows_read, got.counts.rows_loaded, got.counts.blank_lines) == (0, 0, 3)


# --- the joins ---------------------------------------------------------------------------------------


def test_unknown_airports_load_with_null_names(con, load) -> None:
    # Given flights with an unknown origin, an unknown destination, both unknown, and both known
    body = b"DL,99999,12478,1,2\nAA,10397,88888,3,4\nUA,77777,66666,5,6\nB6,10397,12478,7,8\n UA,55555,10397,9,10\n"
    # When the file is loaded
    got = load(body)
    # Then every flight lands (LEFT joins) with NULL names for the unknown side only
    assert sort_facts(got.facts) == sort_facts(
        [
            fact("DL", 99999, 12478, 1, 2),
            fact("AA", 10397, 88888, 3, 4),
            fact("UA", 77777, 66666, 5, 6),
            fact("B6", 10397, 12478, 7, 8),
            fact("UA", 55555, 10397, 9, 10),
        ]
    )
    assert sum(1 for f in got.facts if f[1] is None or f[2] is None) == 4
    # And the unknown ids are listed, smallest first
    ids = facts.unknown_airport_ids(con, got.file, schema.AIRPORTS, None)
    assert ids == [55555, 66666, 77777, 88888, 99999]
    assert facts.unknown_airport_ids(con, got.file, schema.AIRPORTS, None, limit=2) == [55555, 66666]


def test_unknown_airport_ids_read_the_file_once(con, load) -> None:
    # Given a loaded file whose flights name unknown airports on both sides
    got = load(b"DL,99999,12478,1,2\nAA,10397,88888,3,4\n")

    class Recording:
        def __init__(self, con: Any) -> None:
            self.con, self.statements = con, []

        def execute(self, sql: str, *args: Any) -> Any:
            self.statements.append(sql)
            return self.con.execute(sql, *args)

    recording = Recording(con)
    # When the unknown ids are looked up
    ids = facts.unknown_airport_ids(recording, got.file, schema.AIRPORTS, None)
    # Then both columns' ids come from ONE read of the file (the fact rows keep names, not ids)
    assert ids == [88888, 99999]
    assert sum(sql.count("read_csv(") for sql in recording.statements) == 1


def test_duplicate_airport_ids_never_duplicate_flights(con, load) -> None:
    # Given a dimension (no primary key, as in Redshift) where 10397 appears three times
    con.execute("CREATE TABLE dup_dim AS SELECT * FROM airlines.airports_dim")
    con.execute("INSERT INTO dup_dim VALUES (10397, 'Zeta', 'Z', 'Zeta Field'), (10397, 'Alpha', 'A', 'Alpha Field')")
    con.execute("INSERT INTO dup_dim VALUES (NULL, 'Null', 'N', 'Null Field')")
    # When flights from and to 10397 load (fast-path and slow-path lines)
    got = load(b"DL,10397,10397,1,2\nAA,10397,12478,3,4\n UA ,12478,10397,5,6\n", dim_table="dup_dim")
    # Then each flight lands exactly once, joined to one deterministic pick (the smallest name)
    assert len(got.facts) == 3
    names = {"Alpha Field", AIRPORTS[10397][2], "Zeta Field"}
    picked = min(names)
    assert sorted(f[0] for f in got.facts) == ["AA", "DL", "UA"]
    for carrier, dep, arr, *_ in got.facts:
        if carrier in ("DL", "AA"):
            assert dep == picked
        if carrier in ("DL", "UA"):
            assert arr == picked


def test_min_dep_delay_filters_after_validation(load) -> None:
    # Given delays below, at and above 60, a cancelled flight, and a bad row
    body = b"DL,10397,12478,59,1\nDL,10397,12478,60,2\nDL,10397,12478,61.0,3\nDL,10397,12478,,4\nDL,10397,12478,x,5\n"
    body += b" AA,12478,10397,+120,6\nAA,12478,10397,-60,7\n"
    # When the file is loaded keeping DepDelay >= 60
    got = load(body, min_dep_delay=60)
    # Then only those flights land; bad rows are still rejected; the rest are counted as filtered
    assert sort_facts(got.facts) == sort_facts(
        [fact("DL", 10397, 12478, 60, 2), fact("DL", 10397, 12478, 61, 3), fact("AA", 12478, 10397, 120, 6)]
    )
    assert [(r[0], r[1]) for r in got.rejects] == [(6, "not_integer")]
    assert got.counts.rows_read == 7
    assert got.counts.rows_loaded == 3
    assert got.counts.rows_rejected == 1
    assert got.counts.rows_filtered == 3


def test_min_dep_delay_on_a_clean_file(load) -> None:
    # Given a file of canonical rows only
    got = load(b"DL,10397,12478,5,1\nDL,10397,12478,15,2\nDL,10397,12478,-15,3\n", min_dep_delay=0)
    # When loaded with a threshold of 0
    # Then rows with DepDelay >= 0 land and the rest are filtered, not rejected
    assert [f[7] for f in sort_facts(got.facts)] == [15, 5]
    assert (got.counts.rows_read, got.counts.rows_loaded, got.counts.rows_rejected) == (3, 2, 0)
    assert got.counts.rows_filtered == 1


# --- line breaks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kinds"),
    [
        (b"a\nb\n", {"LF"}),
        (b"a\r\nb\r\n", {"CRLF"}),
        (b"a\rb\r", {"CR"}),
        (b"a\nb\r\n", {"LF", "CRLF"}),
        (b"a\r\nb\rc", {"CRLF", "CR"}),
        (b"a\r\r\n", {"CR", "CRLF"}),
        (b"abc", set()),
    ],
)
def test_line_break_kinds(tmp_path: Path, monkeypatch, data: bytes, kinds: set[str]) -> None:
    # Given a file with known line breaks, read in chunks small enough to split a CRLF
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    for chunk in (1, 2, 3, 1024):
        monkeypatch.setattr(scan, "_CHUNK_BYTES", chunk)
        # When its kinds of line break are counted
        # Then they are found, a CRLF split between two chunks included
        assert scan.line_break_kinds(str(path)) == kinds


@pytest.mark.parametrize(
    "data",
    [
        b"H\nA\r\nB\rC\n",
        b"H\r\nA\rB\r\n\r\nC",
        b"H\nA\r\r\nB\r",
        b"\r\n\r\r\n\n\r",
    ],
)
def test_mixed_line_breaks_are_rewritten_as_lf(tmp_path: Path, monkeypatch, data: bytes) -> None:
    # Given a file mixing CRLF, LF and lone CRs, rewritten in chunks small enough to split a CRLF
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    for chunk in (1, 2, 5, 1024):
        monkeypatch.setattr(scan, "_CHUNK_BYTES", chunk)
        # When a uniform copy is asked for
        with scan.prepare(str(path)) as file:
            readable = file.path
            # Then it is a different, LF-only file with the same universal-newline lines
            assert not Path(readable).is_symlink()
            copy = Path(readable).read_bytes()
            assert b"\r" not in copy
            assert copy.splitlines() == data.splitlines()
        # And the copy is removed afterwards
        assert not Path(readable).exists()


def test_uniform_files_are_read_in_place(tmp_path: Path) -> None:
    # Given files with one kind of line break each
    for data in (b"a\nb\n", b"a\r\nb\r\n", b"a\rb\r", b"a"):
        path = tmp_path / "f.csv"
        path.write_bytes(data)
        # When a uniform copy is asked for
        with scan.prepare(str(path)) as file:
            # Then the file itself is used (through a symlink DuckDB reads literally)
            assert Path(file.path).is_symlink()
            assert Path(file.path).resolve() == path.resolve()


# --- the pre-scan ------------------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _scan_by_hand(data: bytes, limit: int) -> tuple[set[str], int, list[tuple[int, int]], int]:
    """What the pre-scan must find, computed the slow, obvious way."""
    crlf = len(re.findall(rb"\r\n", data))
    kinds = {
        kind
        for kind, count in (
            ("CRLF", crlf),
            ("CR", len(re.findall(rb"\r(?!\n)", data))),
            ("LF", len(re.findall(rb"(?<!\r)\n", data))),
        )
        if count
    }
    long_lines = [m.span() for m in re.finditer(rb"[^\r\n]+", data) if m.end() - m.start() > limit]
    return kinds, max(len(data.splitlines()) - 1, 0), long_lines, len(data) - len(data.rstrip(b"\0"))


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"bb", b"\n", b"\r", b"\r\n", b"\0", b"\x1f", b"x" * 9]), max_size=60).map(
        b"".join
    ),
    chunk=st.sampled_from([1, 2, 3, 4, 5, 8, 16, 1024]),
)
def test_the_pre_scan_agrees_with_a_slow_reading(tmp_path_factory, data: bytes, chunk: int) -> None:
    # Given any bytes, a line limit of 8 and chunks of any size (so lines and CRLFs straddle chunks)
    path = tmp_path_factory.mktemp("scan") / "f.csv"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan, "MAX_LINE_BYTES", 8)
        patch.setattr(scan, "_WINDOW", 4)
        patch.setattr(scan, "_CHUNK_BYTES", chunk)
        # When the file is scanned
        scanned = scan.scan_file(str(path))
    # Then line breaks, lines, over-long lines and the NUL tail are exactly what a slow reading finds
    kinds, lines, long_lines, trailing_nul = _scan_by_hand(data, 8)
    assert (set(scanned.kinds), scanned.lines, list(scanned.long_lines), scanned.trailing_nul) == (
        kinds,
        lines,
        long_lines,
        trailing_nul,
    )
    # And the delimiter is a byte sequence the file does not contain
    assert scanned.delimiter.encode() not in data


def test_a_clean_files_slow_rows_table_has_the_columns_a_checked_file_gets(con, tmp_path: Path) -> None:
    # Given the slow_rows table of a file with a broken row (planned from the rules' SQL)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(HEADER + b"DL,10397,12478,1,2\nDL,x,1,2,3\n")
    rules.check_lines(con, prepared(broken, route="exact"), rules.FLIGHT_RULES, into=facts.SLOW_ROWS)
    checked = con.execute(f"DESCRIBE {facts.SLOW_ROWS}").fetchall()
    # When a clean file is loaded (its empty table is declared, not planned)
    clean = tmp_path / "clean.csv"
    clean.write_bytes(HEADER + b"DL,10397,12478,1,2\n")

    def insert(select_sql: str, params: list[Any]) -> int:
        return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    lineage = facts.fact_params(FLIGHT_DATE, str(clean), BATCH, LOADED_AT)
    facts.load_rows(con, prepared(clean), insert, dim_table=schema.AIRPORTS, min_dep_delay=None, lineage=lineage)
    # Then both tables have the same columns and types (rejected rows and unknown ids read either)
    assert [row[:2] for row in con.execute(f"DESCRIBE {facts.SLOW_ROWS}").fetchall()] == [row[:2] for row in checked]
