"""A property over generated files: every row read is loaded, rejected or filtered, exactly as an
independent computation says.

Part of the bad-input suite (``test_bad_input_corpus.py``), in a module of its own so the Glue
Python 3.9 venv, which runs only ``-m glue39`` tests and has no hypothesis, can still collect the
corpus. Calls the Python API on a DuckDB warehouse in a temporary folder (faster than the CLI).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any, Optional

import pytest
from corpus import GOOD, HEADER
from flights_oracle import Airports, expected_load
from ingest_helpers import Db, place

# The project venv always has hypothesis (a dev dependency); the Glue 3.9 venv does not need it.
pytest.importorskip("hypothesis")
import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# --- a property over generated files -----------------------------------------------------------------

KNOWN_IDS = [10570, 10841, 11000, 10904, 11131, 10342]
_FILE_NUMBERS = itertools.count()


def _good_row() -> st.SearchStrategy[str]:
    number = st.integers(-(2**63), 2**63 - 1)
    delay = st.one_of(st.just(""), st.integers(-120, 600).map(str), number.map(str))
    airport = st.one_of(st.sampled_from(KNOWN_IDS), st.integers(-5, 99999)).map(str)
    carrier = st.text(alphabet="ABCDEFGHJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=10)
    plain = st.tuples(carrier, airport, airport, delay, delay).map(",".join)
    styled = st.tuples(carrier, airport, airport, delay, delay).map(
        lambda f: ",".join((f" {f[0]} ", f'"{f[1]}"', f"+{f[2]}", f"{f[3]}.0" if f[3] else "", f"\t{f[4]}"))
    )
    return st.one_of(plain, plain, styled, st.sampled_from(GOOD))


_BAD_ROWS = [
    "DL,10570,10841,1",  # short
    "DL,10570,10841,1,2,3",  # long
    ",10570,10841,1,2",  # empty carrier
    "ABCDEFGHIJK,10570,10841,1,2",  # carrier too long
    "DL,ATL,10841,1,2",  # non-numeric id
    "DL,10570,,1,2",  # missing id
    "DL,10570,10841,1.5,2",  # fraction
    "DL,10570,10841,1,99999999999999999999",  # beyond BIGINT
    "DL,10570,10841,1e3,2",  # exponent
    '"DL,10570,10841,1,2',  # unclosed quote
    'DL,"10570"x,10841,1,2',  # text after a closing quote
]


def _line() -> st.SearchStrategy[bytes]:
    return st.one_of(
        _good_row().map(str.encode),
        _good_row().map(str.encode),
        _good_row().map(str.encode),
        st.sampled_from(_BAD_ROWS).map(str.encode),
        st.sampled_from([b"", b"   ", b"\t"]),
        st.sampled_from([b"D\xff,10570,10841,1,2", b"\xe9t\xe9,1,2,3,4", b"UA,10570,10841,\x80,1"]),
    )


@st.composite
def flight_files(draw: st.DrawFn) -> tuple[bytes, Optional[int]]:
    rows = draw(st.lists(_line(), min_size=1, max_size=30))
    ends = draw(st.sampled_from(["lf", "crlf", "mixed"]))
    if ends == "mixed":
        breaks = draw(
            st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=len(rows) + 1, max_size=len(rows) + 1)
        )
    else:
        breaks = [b"\n" if ends == "lf" else b"\r\n"] * (len(rows) + 1)
    data = HEADER.encode() + b"".join(br + row for br, row in zip(breaks, rows)) + breaks[-1]
    # A file without a single data row is a file-level error, covered by the corpus.
    if not any(row.strip(b" \t") for row in rows):
        data += GOOD[0].encode() + breaks[-1]
    min_dep_delay = draw(st.one_of(st.none(), st.none(), st.integers(-10, 60)))
    return data, min_dep_delay


@pytest.fixture(scope="module")
def property_warehouse(template_warehouse, tmp_path_factory) -> Db:
    """Given one seeded warehouse for all examples (each example loads a file of its own)."""
    target = tmp_path_factory.mktemp("property") / "warehouse.duckdb"
    shutil.copyfile(template_warehouse[0], target)
    return Db(target)


#: Each example loads a real file into a real warehouse: slow, and never replayed from a database.
_EXAMPLES: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _ingest(warehouse_db: Db, data: bytes, min_dep_delay: Optional[int], name: str) -> tuple[Path, Any]:
    """Place ``data`` as a day's file and load it through the Python API: (its path, the summary)."""
    from airline_pipeline.adapters.warehouse import open_warehouse
    from airline_pipeline.engine.ingest import ingest

    source = place(warehouse_db.path.parent / "in", data, name=f"{name}{next(_FILE_NUMBERS)}.csv")
    with open_warehouse(warehouse_db.uri) as warehouse:
        return source, ingest(str(source), warehouse, min_dep_delay=min_dep_delay)


@settings(max_examples=25, **_EXAMPLES)
@given(generated=flight_files())
def test_every_row_is_loaded_or_rejected(generated, property_warehouse: Db, airports: Airports) -> None:
    data, min_dep_delay = generated
    # Given a generated file mixing good, bad, blank and non-UTF-8 rows and line-break styles
    # When it is loaded (sometimes with a MinDepDelay)
    source, summary = _ingest(property_warehouse, data, min_dep_delay, "f")
    # Then every row read is loaded, rejected or filtered: nothing is lost or invented
    assert summary.status == "LOADED", summary
    assert summary.rows_read == summary.rows_loaded + summary.rows_rejected + summary.rows_filtered
    if min_dep_delay is None:
        assert summary.rows_read == summary.rows_loaded + summary.rows_rejected
    # And the counts, the rows and the rejects equal an independent computation
    expected = expected_load(data, airports, min_dep_delay)
    assert summary.rows_read == expected.rows_read
    assert summary.rows_loaded == expected.rows_loaded
    assert summary.rows_rejected == expected.rows_rejected
    assert summary.blank_lines == expected.blank_lines
    assert property_warehouse.facts(str(source)) == expected.facts
    assert property_warehouse.rejects(str(source)) == expected.rejects


# --- the same property on files the typed reader takes (engine.plain) ---------------------------------


#: Ways to break a good row that keep (or nearly keep) a plain file's bytes: each is a rule the typed
#: reader must not get wrong, or a byte the guard must see.
_BREAKS = (
    lambda r: r + ",",  # a sixth, empty field (the typed reader takes it for a trailing delimiter)
    lambda r: r + ",5",
    lambda r: r.rsplit(",", 1)[0],  # four fields
    lambda r: "," + r.split(",", 1)[1],  # empty carrier
    lambda r: "ABCDEFGHIJK" + r[r.index(",") :],
    lambda r: r.replace(",", ",.", 1),  # a bare dot
    lambda r: r.replace(",", ",-.", 1),
    lambda r: r + ".5",  # a fraction
    lambda r: r + ".00",
    lambda r: r + ".000",
    lambda r: r + "e3",  # an exponent
    lambda r: r.replace(",", ",0x", 1),  # hexadecimal
    lambda r: r.replace(",", ",,", 1),
    lambda r: r.replace(",", ",-", 1),
    lambda r: r + "-",
    lambda r: r + "99999999999999999999",
)


def _plain_row() -> st.SearchStrategy[str]:
    """Rows over a plain file's bytes: good ones (BTS's .00 too), some broken in a way :data:`_BREAKS` lists."""
    whole = st.integers(-(2**63), 2**63 - 1).map(str)
    delay = st.one_of(st.just(""), st.integers(-120, 600).map(str), st.integers(-120, 600).map(lambda n: f"{n}.00"))
    airport = st.one_of(st.sampled_from(KNOWN_IDS).map(str), st.integers(-5, 99999).map(str), whole)
    carrier = st.text(alphabet="ABEVX69", min_size=1, max_size=10)
    good = st.one_of(st.tuples(carrier, airport, airport, delay, delay).map(",".join), st.sampled_from(GOOD))
    broken = st.tuples(good, st.sampled_from(_BREAKS)).map(lambda pair: pair[1](pair[0]))
    return st.one_of(good, good, good, broken, st.just(""))


@st.composite
def plain_files(draw: st.DrawFn) -> tuple[bytes, Optional[int]]:
    rows = draw(st.lists(_plain_row(), min_size=1, max_size=30))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = (end.join([HEADER, *rows, GOOD[0]]) + draw(st.sampled_from([end, ""]))).encode()
    return data, draw(st.one_of(st.none(), st.none(), st.integers(-10, 60)))


@settings(max_examples=60, **_EXAMPLES)
@given(generated=plain_files())
def test_every_row_of_a_plain_file_is_loaded_or_rejected(generated, property_warehouse: Db, airports: Airports) -> None:
    from airline_pipeline.engine.scan import scan_file

    data, min_dep_delay = generated
    # Given a generated file of a plain file's bytes (most are plain: the typed reader loads them)
    # When it is loaded
    source, summary = _ingest(property_warehouse, data, min_dep_delay, "p")
    hypothesis.event(f"plain: {scan_file(str(source)).plain}")
    # Then the counts, the rows and the rejects equal the independent computation
    assert summary.status == "LOADED", summary
    expected = expected_load(data, airports, min_dep_delay)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected, summary.blank_lines) == (
        expected.rows_read,
        expected.rows_loaded,
        expected.rows_rejected,
        expected.blank_lines,
    )
    assert property_warehouse.facts(str(source)) == expected.facts
    assert property_warehouse.rejects(str(source)) == expected.rejects
