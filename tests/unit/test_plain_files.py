"""Plain files (:mod:`airline_pipeline.engine.plain`): which files the typed reader may load, and that it
loads them exactly as the row rules do.

The routes are written from the rules: a file goes to the typed reader only when none of its bytes
could be read differently there (a space, a quote, ``+``, ``1.5``, ``0x10``, ``1e3``, a sixth field,
another line break...). Runs under DuckDB 1.2.2 / Python 3.9 as well (``-m glue39``).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any, Optional

import duckdb
import pytest

from airline_pipeline.core import schema
from airline_pipeline.core.contract import EXPECTED_HEADER_LINE
from airline_pipeline.core.errors import UnaccountedLines
from airline_pipeline.engine import facts, plain, rules, scan

pytestmark = pytest.mark.glue39

HEADER = EXPECTED_HEADER_LINE.encode()
GOOD = b"DL,10397,12478,-3,5"

#: (name, rows after the header, plain?): the typed reader takes a file only when it cannot misread it.
ROUTES = [
    ("canonical rows", [GOOD, b"AA,12478,10397,120,97", b"UA,11298,10397,,"], True),
    ("carriers with digits and the letters of hex and exponents", [b"9E,1,2,3,4", b"B6,1,2,,", b"EV,1,2,-1,0"], True),
    ("BTS whole numbers", [b"DL,10397,12478,-5.00,12.00", b"AA,1,2,0.00,-0.00", b"UA,1,2,,7.00"], True),
    ("the last line without a line break, ending in .00", [GOOD, b"DL,1,2,3,4.00"], True),
    # broken rows the typed reader leaves out by itself (they go through the rules)
    ("short rows and blank lines", [GOOD, b"DL,1,2,3", b"", b"DL", GOOD], True),
    ("empty carrier and airport ids", [b",1,2,3,4", b"DL,,2,3,4", b"DL,1,,3,4", GOOD], True),
    ("carrier over 10 bytes", [b"ABCDEFGHIJK,1,2,3,4", GOOD], True),
    ("numbers beyond BIGINT", [b"DL,1,2,99999999999999999999,1", b"DL,1,2,1-2,--1", GOOD], True),
    # anything the typed reader reads differently from the rules
    ("a space", [GOOD, b"DL, 1,2,3,4"], False),
    ("a tab", [GOOD, b"DL,1,2,3\t,4"], False),
    ("a quote", [GOOD, b'"DL",1,2,3,4'], False),
    ("a plus sign", [GOOD, b"DL,1,2,+3,4"], False),
    ("an underscore", [GOOD, b"DL,1,2,1_000,4"], False),
    ("a fraction", [GOOD, b"DL,1,2,1.5,4"], False),
    ("a fraction ending in zeros", [GOOD, b"DL,1,2,1.50,4"], False),
    ("a small fraction", [GOOD, b"DL,1,2,1.001,4"], False),
    ("a bare .00", [GOOD, b"DL,1,2,.00,4"], False),
    ("a bare -.00", [GOOD, b"DL,1,2,-.00,4"], False),
    ("a zero fraction other than .00", [GOOD, b"DL,1,2,12.0,4"], False),
    ("two fractions", [GOOD, b"DL,1,2,1.00.00,4"], False),
    ("hexadecimal", [GOOD, b"DL,0x28C1,2,3,4"], False),
    ("binary", [GOOD, b"DL,1,2,0b101,4"], False),
    ("an exponent", [GOOD, b"DL,1,2,1e3,4"], False),
    ("an exponent with a sign", [GOOD, b"DL,1,2,1E-3,4"], False),
    ("a word in an airport id", [GOOD, b"DL,ATL,2,3,4"], False),
    ("six fields, the sixth empty", [GOOD, b"DL,1,2,3,4,"], False),
    ("six fields", [GOOD, b"DL,1,2,3,4,5"], False),
    ("a non-ASCII byte", [GOOD, "DÉ,1,2,3,4".encode()], False),
    ("a control byte", [GOOD, b"DL,1,2,3\x1f,4"], False),
    ("a NUL byte", [GOOD, b"D\x00L,1,2,3,4"], False),
]
IDS = [name for name, _, _ in ROUTES]
#: Chunk sizes for the pre-scan: 8 MiB (all in one chunk), and tiny ones that split every pattern.
CHUNKS = [None, 1, 2, 3, 5, 7]


def _write(path: Path, rows: list[bytes], end: bytes = b"\n", *, last_break: bool = True) -> Path:
    path.write_bytes(end.join([HEADER, *rows]) + (end if last_break else b""))
    return path


@pytest.mark.parametrize("chunk", CHUNKS, ids=lambda c: f"chunk-{c or 'default'}")
@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_the_guard_routes_each_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: tuple[str, list[bytes], bool], chunk: Optional[int]
) -> None:
    name, rows, expected = route
    # Given a file of one kind, scanned in chunks that split it anywhere
    if chunk:
        monkeypatch.setattr(scan, "_CHUNK_BYTES", chunk)
    path = _write(tmp_path / "f.csv", rows, last_break="without a line break" not in name)
    # When the pre-scan looks at its bytes
    found = scan.scan_file(str(path))
    # Then it is read by the typed reader exactly when nothing in it could be read differently there
    assert found.plain is expected


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("CRLF line ends", b"\r\n".join([HEADER, GOOD, b"DL,1,2,-5.00,7.00", b""]), True),
        ("CR-only line ends", b"\r".join([HEADER, GOOD, GOOD, b""]), False),
        ("mixed line ends", HEADER + b"\n" + GOOD + b"\r\n" + GOOD + b"\n", False),
        ("a lone CR inside LF lines", HEADER + b"\n" + GOOD + b"\r" + GOOD + b"\n", False),
        ("a line over the limit", HEADER + b"\nDL,1,2,3," + b"9" * (scan.MAX_LINE_BYTES + 1) + b"\n", False),
    ],
)
def test_line_breaks_and_long_lines_route(tmp_path: Path, name: str, data: bytes, expected: bool) -> None:
    # Given a file with this kind of line breaks (or lines)
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    # When it is scanned, and prepared for the load as ingest prepares it (a copy for mixed breaks)
    found = scan.scan_file(str(path))
    with scan.prepare(str(path)) as file:
        # Then only one kind of break (LF or CRLF), and no line over the limit, allows the typed reader
        assert (found.plain, file.plain) == (expected, expected)


# --- the typed reader and the exact path agree ------------------------------------------------------

_AIRPORTS = {10397: ("Atlanta", "GA", "ATL"), 12478: ("New York", "NY", "JFK"), 1: ("One", "ON", "Uno")}


@pytest.fixture
def con() -> Any:
    connection = duckdb.connect()
    for statement in schema.create_statements("duckdb"):
        connection.execute(statement)
    connection.executemany(
        f"INSERT INTO {schema.AIRPORTS} VALUES (?, ?, ?, ?)", [(i, *info) for i, info in _AIRPORTS.items()]
    )
    yield connection
    connection.close()


def _load(con: Any, file: scan.PreparedFile, min_dep_delay: Optional[int] = None) -> Any:
    """Load ``file`` into an empty fact table: (counts, fact rows, rejected rows)."""
    con.execute(f"DELETE FROM {schema.FACT}")

    def insert(select_sql: str, params: list[Any]) -> int:
        return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    counts = facts.load_rows(
        con,
        file,
        insert,
        dim_table=schema.AIRPORTS,
        min_dep_delay=min_dep_delay,
        lineage=facts.fact_params(None, file.path, "b", None),
    )
    rows = con.execute(f"SELECT * EXCLUDE (loaded_at) FROM {schema.FACT} ORDER BY ALL").fetchall()
    return counts, rows, con.execute(facts.rejected_rows_sql()).fetchall()


def _both_routes(con: Any, path: Path, min_dep_delay: Optional[int] = None) -> tuple[Any, Any]:
    found = scan.scan_file(str(path))
    assert found.plain, "the test needs a plain file"
    typed = _load(con, scan.PreparedFile(str(path), found.lines, plain=True), min_dep_delay)
    exact = _load(con, scan.PreparedFile(str(path), found.lines, plain=False), min_dep_delay)
    return typed, exact


def test_a_plain_file_with_broken_rows_loads_its_good_rows_typed_and_the_rest_by_the_rules(
    con: Any, tmp_path: Path
) -> None:
    # Given a plain file: good rows (BTS decimals too) and rows the typed reader leaves out
    rows = [
        GOOD,
        b"DL,10397,12478,-5.00,12.00",
        b"DL,1,2,3",  # wrong_field_count
        b"",  # blank
        b",1,2,3,4",  # empty_carrier
        b"ABCDEFGHIJK,1,2,3,4",  # carrier_too_long
        b"DL,,2,3,4",  # missing_value
        b"DL,1,2,99999999999999999999,1",  # out_of_range
        b"DL,1-2,2,3,4",  # not_integer
        b"UA,1,12478,,",
    ]
    path = _write(tmp_path / "f.csv", rows)
    # When it is loaded by the typed reader (the route it takes) and line by line
    typed, exact = _both_routes(con, path)
    # Then both give the same counts, fact rows and rejected rows (line numbers and reasons)
    assert typed == exact
    counts, _, rejected = typed
    assert (counts.rows_read, counts.rows_loaded, counts.rows_rejected, counts.blank_lines) == (9, 3, 6, 1)
    assert [(line, reason) for line, _, reason, _ in rejected] == [
        (4, "wrong_field_count"),
        (6, "empty_carrier"),
        (7, "carrier_too_long"),
        (8, "missing_value"),
        (9, "out_of_range"),
        (10, "not_integer"),
    ]


@pytest.mark.parametrize("min_dep_delay", [None, 0])
def test_the_filter_applies_to_typed_rows_alike(con: Any, tmp_path: Path, min_dep_delay: Optional[int]) -> None:
    # Given a plain file with negative and positive delays and a broken row
    path = _write(tmp_path / "f.csv", [GOOD, b"AA,12478,10397,120,97", b"DL,1,2,-5.00,", b"DL,1,2"])
    # When it is loaded on both routes, with and without MinDepDelay
    typed, exact = _both_routes(con, path, min_dep_delay)
    # Then they agree (filtered rows counted the same)
    assert typed == exact


#: Ways to break a good row, each a rule the typed reader must not get wrong or a byte the guard must see.
_BREAKS = (
    lambda r: r + ",",  # a sixth, empty field (the typed reader takes it for a trailing delimiter)
    lambda r: r + ",5",
    lambda r: r.rsplit(",", 1)[0],  # four fields
    lambda r: "," + r.split(",", 1)[1],  # empty carrier
    lambda r: "ABCDEFGHIJK" + r[r.index(",") :],  # carrier over 10 bytes
    lambda r: r.replace(",", ",.", 1),  # a bare dot
    lambda r: r.replace(",", ",-.", 1),
    lambda r: _with_delay(r, ".00"),  # a bare .00 the typed reader reads as 0
    lambda r: _with_delay(r, "-.00"),
    lambda r: r + ".5",  # a fraction
    lambda r: r + ".000",
    lambda r: r + "e3",  # an exponent
    lambda r: r.replace(",", ",0x", 1),  # hexadecimal
    lambda r: r.replace(",", ",0b", 1),  # binary
    lambda r: r.replace(",", ",,", 1),  # an empty airport id
    lambda r: r.replace(",", ",-", 1),
    lambda r: r + "-",
    lambda r: r + "99999999999999999999",  # beyond BIGINT
    lambda r: "",  # blank
)


def _with_delay(row: str, delay: str) -> str:
    fields = row.split(",")
    return ",".join([*fields[:3], delay, *fields[4:]])


_GOOD_ROWS = ("DL,10397,12478,-3,5", "9E,1,12478,,", "B6,12478,1,-5.00,0.00", "EV,10397,1,12.00,-0.00", "A.00,1,1,7,")


def _random_plain_file(rng: random.Random) -> bytes:
    """Rows over (nearly) a plain file's bytes: mostly good, some broken in one of the :data:`_BREAKS`."""
    rows = [rng.choice(_GOOD_ROWS) for _ in range(rng.randint(1, 25))]
    for index in rng.sample(range(len(rows)), k=min(len(rows), rng.choice([0, 1, 1, 2]))):
        rows[index] = rng.choice(_BREAKS)(rows[index])
    end = rng.choice(["\n", "\r\n"])
    return (end.join([EXPECTED_HEADER_LINE, *rows]) + rng.choice([end, ""])).encode()


def test_plain_files_load_alike_on_both_routes(con: Any, tmp_path: Path) -> None:
    # Given 300 generated files (fixed seed) of good rows and a broken one or two; most are plain
    rng = random.Random(14)  # noqa: S311 - test data, not secrets
    compared = 0
    for number in range(300):
        path = tmp_path / f"f{number}.csv"
        path.write_bytes(_random_plain_file(rng))
        found = scan.scan_file(str(path))
        if not found.plain or not found.lines:
            continue
        # When each is loaded by the typed reader and line by line
        typed, exact = _both_routes(con, path)
        # Then the counts, rows and rejected rows are the same
        assert typed == exact, path.read_bytes()
        compared += 1
    assert compared >= 120  # the plain ones, with and without broken rows


def test_typed_line_takes_exactly_the_lines_the_typed_reader_loads(con: Any, tmp_path: Path) -> None:
    # Given every number field of up to 5 characters of "0", "5", "-" and "." (and BIGINT's edges),
    # each in a line of its own (its line index as the destination id)
    texts = ["".join(chars) for size in range(6) for chars in itertools.product("05-.", repeat=size)]
    texts += ["9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809"]
    texts += ["9223372036854775807.00", "00000000000000000000000001", "-0.00", "12.000"]
    path = tmp_path / "f.csv"
    path.write_text("h\n" + "".join(f"DL,{text},{index},{text},0\n" for index, text in enumerate(texts)))
    file = scan.PreparedFile(str(path), len(texts))
    # When the typed reader reads the file, and TYPED_LINE picks lines from the line reader
    read = plain.typed_rows_sql(str(path), scan.MAX_LINE_BYTES)
    typed = con.execute(f"SELECT dest_id, origin_id, dep_delay FROM {read}").fetchall()
    picked = con.execute(
        f"""SELECT CAST(split_part(line, ',', 3) AS BIGINT), TRY_CAST(split_part(line, ',', 2) AS BIGINT),
                   TRY_CAST(NULLIF(split_part(line, ',', 4), '') AS BIGINT)
            FROM {rules.lines_sql(file, keep_rejects=False)} WHERE {plain.TYPED_LINE}"""
    ).fetchall()
    # Then both take the same lines, with the same values (the slow path takes each other line once)
    assert len(typed) > 200
    assert sorted(typed) == sorted(picked)


def test_a_line_taken_by_both_paths_fails_the_load_instead_of_loading_twice(
    con: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a plain file with a broken row (so the slow path runs), and a TYPED_LINE that forgets a typed line
    path = _write(tmp_path / "f.csv", [GOOD, b"AA,12478,10397,120,97", b"DL,1,2"])
    monkeypatch.setattr(plain, "TYPED_LINE", f"{plain.TYPED_LINE} AND line NOT LIKE 'AA%'")
    found = scan.scan_file(str(path))
    # When it is loaded
    # Then the load fails rather than load the AA row twice
    with pytest.raises(UnaccountedLines, match="3 rows read, but 3 loaded and 1 rejected"):
        _load(con, scan.PreparedFile(str(path), found.lines, plain=True))
