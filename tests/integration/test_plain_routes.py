"""The corpus by route: which files DuckDB's typed reader loads (:mod:`airline_pipeline.engine.plain`), and
that every file it would load wrong takes the exact path.

``test_bad_input_corpus.py`` checks each case's outcome on the route it takes; here the route itself
is checked, and the typed reader is forced on every loading case to see which it would misread.
Runs under Python 3.9 / DuckDB 1.2.2 as well (``-m glue39``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from corpus import CASES, Case
from ingest_helpers import SAMPLE_AIRPORTS

from airline_pipeline.core import schema
from airline_pipeline.engine import facts, scan

pytestmark = pytest.mark.glue39

LOADING = [case for case in CASES if case.loads]

#: The loading cases whose bytes are all plain, by the rules of engine.plain (written by hand): the
#: header may be anything (it is not read by the typed reader), rows hold only letters (in the
#: carrier), digits, "-", BTS's ".00" and LF breaks; broken rows the typed reader leaves out itself
#: (short rows, numbers beyond BIGINT) do not stop it.
PLAIN = {
    "lower-case header",
    "padded quoted header",
    "UTF-8 BOM",
    "no line break at the end",
    "short rows",
    "huge integers",
    "unknown airports",
    "duplicate rows",
    "compact date folder",
    "glob characters in the file name (a*.csv)",
    "glob brackets in the file name ([x].csv)",
    "nested date folders",
}


@pytest.fixture(scope="module")
def con() -> Any:
    connection = duckdb.connect()
    for statement in schema.create_statements("duckdb"):
        connection.execute(statement)
    connection.execute(f"INSERT INTO {schema.AIRPORTS} SELECT * FROM read_csv('{SAMPLE_AIRPORTS}')")
    yield connection
    connection.close()


def _load(con: Any, file: scan.PreparedFile) -> Any:
    """(counts, fact rows, rejected rows) of ``file`` on ``con``, or the error that stopped it."""
    con.execute(f"DELETE FROM {schema.FACT}")

    def insert(select_sql: str, params: list[Any]) -> int:
        return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    try:
        counts = facts.load_rows(
            con, file, insert, dim_table=schema.AIRPORTS, min_dep_delay=None, lineage=[None, "f", "b", None]
        )
    except Exception as exc:  # a misread may also end in an error
        return type(exc).__name__
    rows = con.execute(f"SELECT * EXCLUDE (loaded_at) FROM {schema.FACT} ORDER BY ALL").fetchall()
    return counts, rows, con.execute(facts.rejected_rows_sql()).fetchall()


def test_the_hand_written_plain_cases_exist() -> None:
    assert {case.kind for case in LOADING} >= PLAIN


@pytest.mark.parametrize("case", LOADING, ids=[case.kind for case in LOADING])
def test_each_corpus_case_takes_its_route(case: Case, tmp_path: Path, con: Any) -> None:
    # Given a corpus file that loads
    path = tmp_path / "flights.csv"
    path.write_bytes(case.data)
    # When it is prepared as ingest prepares it
    with scan.prepare(str(path)) as file:
        # Then it goes to the typed reader exactly when the rules of plain files say so
        assert file.plain is (case.kind in PLAIN)
        # And when the typed reader, forced on it, would load it differently, it takes the exact path
        forced = _load(con, scan.PreparedFile(file.path, file.lines, file.delimiter, plain=True))
        exact = _load(con, scan.PreparedFile(file.path, file.lines, file.delimiter, plain=False))
        if forced != exact:
            assert not file.plain


def test_the_typed_reader_would_misread_many_corpus_cases(tmp_path: Path, con: Any) -> None:
    # Given the corpus cases the guard sends to the exact path
    misread = []
    for number, case in enumerate(LOADING):
        if case.kind in PLAIN or len(case.data) > 2 * 1024 * 1024:
            continue
        path = tmp_path / f"f{number}.csv"
        path.write_bytes(case.data)
        with scan.prepare(str(path)) as file:
            # When the typed reader is forced on them
            forced = _load(con, scan.PreparedFile(file.path, file.lines, file.delimiter, plain=True))
            exact = _load(con, scan.PreparedFile(file.path, file.lines, file.delimiter, plain=False))
        if forced != exact:
            misread.append(case.kind)
    # Then it would load these wrong (the guard is what keeps them exact)
    assert {
        "decimals",  # 1.5 read as 2
        "non-numeric ids",  # 0x28C1 read as 10433
        "non-numeric delays",  # 1e2 read as 100
        "long rows",  # a sixth, empty field taken for a trailing delimiter
        "trailing spaces",  # " DL " kept with its spaces
        "empty and over-long carriers",  # '""' kept with its quotes
        "CR-only line ends",
        "NUL bytes inside rows",
    } <= set(misread)
