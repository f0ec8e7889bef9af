"""The load engine hands one file's rows to a sink port; the warehouses differ only in their sink."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from airline_pipeline.core import schema, status
from airline_pipeline.core.errors import NoDataRows
from airline_pipeline.core.outcome import Batch
from airline_pipeline.core.quality import THRESHOLD_ERROR, LoadPolicy
from airline_pipeline.engine import load, scan
from airline_pipeline.engine.sink import Sink

#: Engine / core code: runs in the Glue job, so it is tested under Python 3.9 too (make glue39).
pytestmark = pytest.mark.glue39

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n"


class RecordingSink(Sink):
    """Keeps what the engine hands over, in order, in tables of its own connection."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.calls: list[str] = []
        self.facts: list[tuple[Any, ...]] = []
        self.rejected: list[tuple[Any, ...]] = []
        self.audit: list[Any] = []

    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        self.calls.append("facts")
        rows = self.con.execute(select_sql, params).fetchall()
        self.facts.extend(rows)
        return len(rows)

    def refuse(self) -> None:
        self.calls.append("refuse")
        self.facts = []

    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        self.calls.append("rejected")
        self.rejected.extend(self.con.execute(select_sql, params).fetchall())

    def unknown_airports(self) -> int:
        self.calls.append("unknown")
        names = schema.column_names(schema.FACT_COLUMNS)
        dep, arr = names.index("dep_airport"), names.index("arr_airport")
        return sum(1 for row in self.facts if row[dep] is None or row[arr] is None)

    def write_audit(self, row: list[Any]) -> None:
        self.calls.append("audit")
        self.audit = row

    def apply(self) -> None:
        self.calls.append("apply")


@pytest.fixture
def con() -> Any:
    connection = duckdb.connect()
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.AIRPORTS_COLUMNS)
    connection.execute(f"CREATE TABLE dim ({columns})")
    connection.execute("INSERT INTO dim VALUES (10397, 'Atlanta', 'GA', 'Hartsfield-Jackson')")
    yield connection
    connection.close()


def prepared(path: Path) -> scan.PreparedFile:
    """A uniform file as :func:`scan.prepare` hands it to ``load_file`` (read in place here; routed alike)."""
    found = scan.scan_file(str(path))
    return scan.PreparedFile(str(path), found.lines, plain=found.plain)


def test_the_engine_hands_facts_rejected_and_audit_to_the_sink_and_leaves_apply_to_the_caller(
    con: Any, tmp_path: Path
) -> None:
    # Given a file with two good flights (one to an airport the dimension lacks) and one broken row
    path = tmp_path / "flights.csv"
    path.write_text(HEADER + "DL,10397,10397,-3,4\nDL,10397,99999,5,\nDL,abc,10397,1,2\n")
    batch = Batch(batch_id="b-1", source_file="s3://bucket/daily-flights/date=2013-01-15/f.csv")
    batch = batch.replace(flight_date=date(2013, 1, 15))
    sink = RecordingSink(con)

    # When the engine loads it into the sink
    summary = load.load_file(con, prepared(path), batch, sink, dim_table="dim")

    # Then the sink got the rows in table order, and nothing was applied yet
    assert sink.calls[-3:] == ["rejected", "unknown", "audit"]
    assert set(sink.calls[:-3]) == {"facts"}
    assert "apply" not in sink.calls
    # and the counts add up, in the summary and in the audit row the sink was given
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (3, 2, 1)
    assert summary.unknown_airports == 1
    assert summary.unknown_airport_ids == [99999]
    assert len(sink.facts) == 2
    rejected = [dict(zip(schema.column_names(schema.REJECTED_COLUMNS), row)) for row in sink.rejected]
    assert [(row["line_number"], row["raw_line"]) for row in rejected] == [(4, "DL,abc,10397,1,2")]
    audit = dict(zip(schema.column_names(schema.AUDIT_COLUMNS), sink.audit))
    assert audit["status"] == schema.LOADED
    assert (audit["rows_loaded"], audit["rows_rejected"], audit["unknown_airports"]) == (2, 1, 1)


def test_a_file_without_data_rows_writes_no_rejected_or_audit_row(con: Any, tmp_path: Path) -> None:
    # Given a header-only file
    path = tmp_path / "empty.csv"
    path.write_text(HEADER)
    sink = RecordingSink(con)

    # When the engine loads it, Then it refuses, before any rejected or audit row reaches the sink
    with pytest.raises(NoDataRows):
        load.load_file(con, prepared(path), Batch(batch_id="b-2", source_file=str(path)), sink, dim_table="dim")
    assert "rejected" not in sink.calls
    assert "audit" not in sink.calls


def _three_rows_one_bad(tmp_path: Path) -> scan.PreparedFile:
    path = tmp_path / "flights.csv"
    path.write_text(HEADER + "DL,10397,10397,-3,4\nDL,10397,99999,5,\nDL,abc,10397,1,2\n")
    return prepared(path)


def test_a_file_over_the_threshold_with_fail_is_refused_before_its_rejected_rows(con: Any, tmp_path: Path) -> None:
    # Given a file with one bad row of three (33.3%) and a 25% limit that fails the load
    policy = LoadPolicy(max_rejected_share=0.25, on_threshold="fail")
    batch = Batch(batch_id="b-3", source_file="f.csv", flight_date=date(2013, 1, 15), policy=policy)
    sink = RecordingSink(con)

    # When the engine loads it
    summary = load.load_file(con, _three_rows_one_bad(tmp_path), batch, sink, dim_table="dim")

    # Then the sink was told to refuse after the facts and before the rejected rows, which it still got
    assert sink.calls[-4:] == ["refuse", "rejected", "unknown", "audit"]
    assert sink.facts == []
    assert len(sink.rejected) == 1
    # and the outcome is REJECTED with counts that still add up
    assert summary.status == status.REJECTED
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected, summary.rows_refused) == (3, 0, 1, 2)
    assert summary.error == THRESHOLD_ERROR
    assert summary.message == (
        "refused: 33.33% of rows rejected (1 of 3), over the 25% limit; nothing loaded; "
        "1 rows in airlines.rejected_rows WHERE batch_id = 'b-3'"
    )
    audit = dict(zip(schema.column_names(schema.AUDIT_COLUMNS), sink.audit))
    assert (audit["status"], audit["rows_loaded"], audit["rows_rejected"]) == ("REJECTED", 0, 1)
    assert audit["error"] == f"{THRESHOLD_ERROR}: {summary.message}"


def test_a_file_over_the_threshold_with_warn_loads_and_records_the_warning(con: Any, tmp_path: Path) -> None:
    # Given the same file and limit, with the warn policy
    policy = LoadPolicy(max_rejected_share=0.25, on_threshold="warn")
    batch = Batch(batch_id="b-4", source_file="f.csv", flight_date=date(2013, 1, 15), policy=policy)
    sink = RecordingSink(con)

    # When the engine loads it
    summary = load.load_file(con, _three_rows_one_bad(tmp_path), batch, sink, dim_table="dim")

    # Then nothing is refused: both good rows are loaded, with the warning in the outcome and the audit row
    assert "refuse" not in sink.calls
    assert (summary.status, summary.rows_loaded, summary.rows_refused) == (status.LOADED, 2, 0)
    assert summary.warning == (
        "over the quality threshold, loaded anyway (on-threshold warn): "
        "33.33% of rows rejected (1 of 3), over the 25% limit"
    )
    audit = dict(zip(schema.column_names(schema.AUDIT_COLUMNS), sink.audit))
    assert (audit["status"], audit["warning"]) == ("LOADED", summary.warning)


def test_the_audit_row_records_contract_version_scope_and_lateness(con: Any, tmp_path: Path) -> None:
    # Given a date-scope load of a file for a day long past
    batch = Batch(
        batch_id="b-5", source_file="f.csv", flight_date=date(2013, 1, 15), policy=LoadPolicy(replace_scope="date")
    )

    # When the engine loads it
    load.load_file(con, _three_rows_one_bad(tmp_path), batch, sink := RecordingSink(con), dim_table="dim")

    # Then its audit row says which contract, which scope, and that it came late
    audit = dict(zip(schema.column_names(schema.AUDIT_COLUMNS), sink.audit))
    assert (audit["contract_version"], audit["replace_scope"], audit["late"]) == ("1", "date", True)
