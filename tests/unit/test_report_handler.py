"""ReportFunction: the batch's numbers read back from the warehouse (a DuckDB file here).

The Glue job's SUCCEEDED only says the script exited 0; the report proves the rows are there, so
its numbers must be exactly the load's, and a batch that is missing or failed must fail the step.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Optional

import duckdb
import pytest
import sqlglot
from lambda_support import BAD_HEADER_CSV, SAMPLE_AIRPORTS, SAMPLE_FLIGHTS, load_event

from airline_pipeline.adapters.warehouse import Row, open_warehouse
from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.core import schema
from airline_pipeline.core.errors import LoadFailed, WarehouseError
from airline_pipeline.core.outcome import Batch, LoadSummary, utcnow
from airline_pipeline.engine.ingest import ingest
from airline_pipeline.engine.load import audit_row
from airline_pipeline.steps.verify_load import batch_report

# A report that raises publishes no metric; Powertools warns about the empty flush.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

Invoke = Callable[..., Any]
BATCH = load_event("report")["batch_id"]


@pytest.fixture
def warehouse(warehouse_uri: str) -> str:
    """Given a warehouse with the schema and the shipped airports."""
    with open_warehouse(warehouse_uri) as opened:
        opened.init_schema()
        opened.load_airports(str(SAMPLE_AIRPORTS))
    return warehouse_uri


def load(warehouse_uri: str, tmp_path: Path, body: bytes, *, day: str, batch_id: str) -> LoadSummary:
    """What the Glue job does for one file: ``ingest`` with the execution name as batch id."""
    path = tmp_path / "daily-flights" / f"date={day}" / f"flights_{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    with open_warehouse(warehouse_uri) as opened:
        return ingest(str(path), opened, batch_id=batch_id)


def test_report_numbers_equal_the_load(warehouse: str, tmp_path: Path, invoke: Invoke, aws_credentials: None) -> None:
    # Given the sample day loaded as the execution's batch (bad rows and an unknown airport included)
    summary = load(warehouse, tmp_path, SAMPLE_FLIGHTS.read_bytes(), day="2013-01-15", batch_id=BATCH)
    assert summary.status == "LOADED"

    # When the Report state invokes the function
    report = invoke("report", load_event("report"))

    # Then every number is the load's own
    assert report["batch_id"] == BATCH
    assert report["status"] == "LOADED"
    assert report["source_file"] == summary.source_file
    assert report["flight_date"] == "2013-01-15"
    for name in ("rows_read", "rows_loaded", "rows_rejected", "rows_filtered", "unknown_airports"):
        assert report[name] == getattr(summary, name), name
    assert report["unknown_airport_ids"] == summary.unknown_airport_ids
    assert report["fact_rows"] == summary.rows_loaded
    assert sum(reason["rows"] for reason in report["top_rejection_reasons"]) == summary.rows_rejected
    assert BATCH in report["rejected_rows_location"]
    assert report["duration_seconds"] >= 0
    # and they are the numbers events/notify_success.json carries (the same sample, loaded in the demo)
    carried = load_event("notify_success")["pipeline"]["report"]
    assert set(report) == set(carried), "$.report keeps its flat shape: the same keys, no more"
    for name in ("rows_read", "rows_loaded", "rows_rejected", "unknown_airports", "unknown_airport_ids", "fact_rows"):
        assert report[name] == carried[name], name
    assert report["top_rejection_reasons"] == carried["top_rejection_reasons"]


def test_clean_file_has_no_rejected_rows_location(
    warehouse: str, tmp_path: Path, invoke: Invoke, aws_credentials: None
) -> None:
    # Given a file without a bad row
    clean = b"".join(line for line in SAMPLE_FLIGHTS.read_bytes().splitlines(keepends=True)[:101])
    load(warehouse, tmp_path, clean, day="2013-01-15", batch_id=BATCH)

    # When it is reported
    report = invoke("report", load_event("report"))

    # Then there is nothing to point at
    assert (report["rows_read"], report["rows_loaded"], report["rows_rejected"]) == (100, 100, 0)
    assert report["top_rejection_reasons"] == []
    assert report["rejected_rows_location"] is None


def test_missing_batch_fails_the_step(warehouse: str, invoke: Invoke, aws_credentials: None) -> None:
    # Given a warehouse in which the job recorded nothing for this execution
    # When the Report state invokes the function
    # Then it raises (Catch -> ReportFailed -> NotifyFailure), naming the batch
    with pytest.raises(LoadFailed, match=f"no load recorded for batch {BATCH}"):
        invoke("report", load_event("report"))


def test_failed_batch_fails_the_step_with_its_error(
    warehouse: str, tmp_path: Path, invoke: Invoke, aws_credentials: None
) -> None:
    # Given the job recorded a FAILED attempt for this batch
    summary = load(warehouse, tmp_path, BAD_HEADER_CSV, day="2013-01-16", batch_id=BATCH)
    assert summary.status == "FAILED"

    # When the Report state invokes the function
    # Then it raises with the audit row's error
    with pytest.raises(LoadFailed, match=f"batch {BATCH} failed: InvalidHeader"):
        invoke("report", load_event("report"))


def test_replaced_batch_fails_the_step(warehouse: str, tmp_path: Path, invoke: Invoke, aws_credentials: None) -> None:
    # Given the batch loaded, then the same file loaded again by a later batch (which replaced its rows)
    body = SAMPLE_FLIGHTS.read_bytes()
    load(warehouse, tmp_path, body, day="2013-01-15", batch_id=BATCH)
    load(warehouse, tmp_path, body, day="2013-01-15", batch_id="a7c41f0e-2b9d-4c6a-8e3f-5d1b0c9a7e26")

    # When the first batch is reported
    # Then the report refuses to claim rows that are no longer this batch's
    with pytest.raises(WarehouseError, match="audit says 895 rows loaded, the fact table has 0"):
        invoke("report", load_event("report"))


def test_report_reads_a_copy_of_the_warehouse(
    warehouse: str, tmp_path: Path, invoke: Invoke, aws_credentials: None
) -> None:
    # Given a loaded warehouse file moved elsewhere (WAREHOUSE_URI is the only thing that says where)
    load(warehouse, tmp_path, SAMPLE_FLIGHTS.read_bytes(), day="2013-01-15", batch_id=BATCH)
    moved = tmp_path / "elsewhere" / "warehouse.duckdb"
    moved.parent.mkdir()
    shutil.copyfile(warehouse.removeprefix("duckdb://"), moved)

    # When the function runs with WAREHOUSE_URI pointing at the copy
    report = invoke("report", load_event("report"), WAREHOUSE_URI=f"duckdb://{moved}")

    # Then it reads the copy
    assert report["rows_loaded"] == 895


# --- an attempt that recorded no outcome (killed: SIGKILL, out of memory, job timeout) -----------------


class RedshiftOrdering(DuckDBWarehouse):
    """The DuckDB file read with Redshift's semantics: each query transpiled by sqlglot from Redshift,
    which keeps Redshift's NULL ordering explicit (NULLs sort first in DESC there, last in DuckDB)."""

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        return super().query(sqlglot.transpile(sql, read="redshift", write="duckdb")[0], params)


def killed_attempt(warehouse_uri: str, *, minutes_ago: int) -> None:
    """The STARTED row a load commits before its work, left behind by a process that was killed."""
    batch = Batch(
        batch_id=BATCH,
        source_file="s3://data/daily-flights/date=2013-01-15/flights_2013-01-15.csv",
        flight_date=date(2013, 1, 15),
        started_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    con = duckdb.connect(warehouse_uri.removeprefix("duckdb://"))
    row = audit_row(batch, batch.summary(schema.STARTED), finished_at=None)
    con.execute(f"INSERT INTO {schema.AUDIT} VALUES ({', '.join('?' for _ in row)})", row)
    con.close()


def test_an_attempt_that_only_started_fails_the_step_saying_it_was_killed(warehouse: str) -> None:
    # Given the batch's only audit row is a STARTED one: the job was killed before it recorded an outcome
    killed_attempt(warehouse, minutes_ago=5)
    # When the batch is reported / Then it fails, saying what happened and what to do
    with pytest.raises(LoadFailed, match=f"batch {BATCH} started at .* recorded no outcome: the load was killed"):
        batch_report(open_warehouse(warehouse), BATCH)


def test_a_retried_job_is_reported_by_its_finished_attempt_under_redshift_null_ordering(
    warehouse: str, tmp_path: Path
) -> None:
    # Given a first job run killed after its STARTED row, and the retry (same batch id) LOADED
    killed_attempt(warehouse, minutes_ago=5)
    summary = load(warehouse, tmp_path, SAMPLE_FLIGHTS.read_bytes(), day="2013-01-15", batch_id=BATCH)
    assert summary.status == "LOADED"
    # When the batch is reported with Redshift's NULL ordering (the STARTED row has no finished_at)
    report = batch_report(RedshiftOrdering(warehouse.removeprefix("duckdb://")), BATCH)
    # Then the finished attempt counts, not the killed one
    assert (report.status, report.rows_loaded, report.fact_rows) == ("LOADED", 895, 895)
