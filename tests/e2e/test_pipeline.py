"""The whole pipeline on the local emulator: S3 upload -> EventBridge -> Step Functions -> Lambdas ->
Glue crawler -> Glue job -> DuckDB -> SNS. Expectations come from loading the same file with the
CLI into a separate warehouse, and from the file itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from stacks import admission_backlog

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.core import schema
from airline_pipeline.core.defaults import SAMPLES
from airline_pipeline.local.demo import LocalPipeline
from airline_pipeline.local.deployed import StackRunError

SAMPLE = SAMPLES / "flights_2013-01-15.csv"
DAY = date(2013, 1, 15)
CLI = Path(sys.executable).parent / "airline-pipeline"


def cli_ingest(path: Path, warehouse: Path) -> dict[str, object]:
    """The same file through `airline-pipeline ingest` into its own warehouse: the expected outcome."""
    uri = f"duckdb://{warehouse}"
    airports = SAMPLES / "airports.csv"
    subprocess.run([CLI, "load-airports", airports, "--warehouse", uri], check=True, capture_output=True)
    done = subprocess.run([CLI, "ingest", path, "--warehouse", uri], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def fact_rows(warehouse: Path, source_suffix: str) -> list[tuple[object, ...]]:
    rows = DuckDBWarehouse(str(warehouse)).query(
        f"""SELECT carrier, dep_airport, arr_airport, dep_city, arr_city, dep_state, arr_state, dep_delay, arr_delay
            FROM {schema.FACT} WHERE source_file LIKE :suffix
            ORDER BY ALL""",
        {"suffix": f"%{source_suffix}"},
    )
    return [tuple(r.values()) for r in rows]


def test_good_day_with_bad_rows_loads_exactly_what_ingest_loads(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # Given a real day of flights with three broken rows and one unknown airport
    local = tmp_path / "daily-flights" / f"date={DAY}" / "happy.csv"
    local.parent.mkdir(parents=True)
    local.write_bytes(SAMPLE.read_bytes())
    expected = cli_ingest(local, tmp_path / "expected.duckdb")

    # When it lands in the data bucket
    result = pipeline.run_file(SAMPLE, DAY, name="happy.csv")

    # Then the execution succeeds, and the warehouse holds exactly what `ingest` loads
    assert result.status == "SUCCEEDED", result
    assert (result.rows_loaded, result.rows_rejected, result.unknown_airports) == (
        expected["rows_loaded"],
        expected["rows_rejected"],
        expected["unknown_airports"],
    )
    assert result.rows_loaded == 895
    assert fact_rows(pipeline.warehouse_path, "/happy.csv") == fact_rows(tmp_path / "expected.duckdb", "/happy.csv")
    # and the job - not a stub - wrote them: rows_loaded counts the rows carrying this execution's batch id
    assert "StartLoadJob" in result.states
    # and the success notification says what happened
    assert result.notification is not None
    # (LATE: the sample day is years older than LateAfterDays, 3 by default - the flag reaches the topic)
    assert result.notification["subject"].startswith(f"[airline-pipeline] LOADED {DAY} LATE happy.csv: 895 rows")
    summary = result.notification["summary"]
    assert summary["rows_loaded"] == 895
    assert summary["rows_rejected"] == 3
    assert {r["reason"] for r in summary["top_rejection_reasons"]} == {
        "not_integer",
        "not_whole_number",
        "wrong_field_count",
    }


def test_wrong_header_fails_with_a_notification_that_says_why(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # Given a file with the seeds' column names in snake case
    bad = tmp_path / "bad-header.csv"
    bad.write_text("carrier,origin_airport_id,dest_airport_id,dep_delay,arr_delay\nDL,10397,12478,5,-3\n")

    # When it lands
    result = pipeline.run_file(bad, DAY)

    # Then the execution fails, the notification names the problem, and nothing is loaded
    assert result.status == "FAILED"
    assert result.notification is not None
    summary = result.notification["summary"]
    assert (summary["failed_state"], summary["error"]) == ("ValidateFile", "InvalidHeader")
    assert "expected 'Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay'" in summary["cause"]
    assert "found 'carrier,origin_airport_id" in summary["cause"]
    assert "InvalidHeader in ValidateFile" in result.notification["subject"]
    assert fact_rows(pipeline.warehouse_path, "/bad-header.csv") == []
    assert "StartLoadJob" not in result.states


def test_the_same_file_twice_keeps_one_copy(pipeline: LocalPipeline) -> None:
    # Given a file that has been loaded
    first = pipeline.run_file(SAMPLE, date(2013, 1, 16), name="twice.csv")
    assert first.status == "SUCCEEDED"

    # When the same bytes are uploaded again (a retried upload: same key, same etag)
    since = datetime.now(timezone.utc)
    key = pipeline.upload(SAMPLE, date(2013, 1, 16), name="twice.csv")

    # Then the admission starter acknowledges the duplicate (the ledger says LOADED): no execution,
    # so no second load and no notification
    deadline = time.monotonic() + 60
    while admission_backlog(pipeline):
        assert time.monotonic() < deadline, "the duplicate's event was never taken from the admission queue"
        time.sleep(0.5)
    with pytest.raises(StackRunError, match="no execution started"):
        pipeline.find_execution(key, since, timeout=3)
    # and the warehouse holds one copy
    assert len(fact_rows(pipeline.warehouse_path, "date=2013-01-16/twice.csv")) == first.rows_loaded == 895


def test_a_corrected_file_replaces_the_rows_of_the_first(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # Given a day loaded from a file with three broken rows
    first = pipeline.run_file(SAMPLE, date(2013, 1, 17), name="fixed-later.csv")
    assert first.rows_loaded == 895

    # When a corrected version (broken rows removed, one flight added) is uploaded under the same key
    lines = SAMPLE.read_text().splitlines()
    corrected = [line for line in lines if "not-an-id" not in line and "12.5" not in line]
    corrected = [line for line in corrected if line != "AA,10570,11000,4"] + ["DL,10570,11000,1,2"]
    fixed = tmp_path / "fixed.csv"
    fixed.write_text("\n".join(corrected) + "\n")
    second = pipeline.run_file(fixed, date(2013, 1, 17), name="fixed-later.csv")

    # Then it is loaded (new etag) and replaces the first copy: no duplicates, nothing rejected
    assert second.status == "SUCCEEDED"
    assert (second.rows_loaded, second.rows_rejected) == (896, 0)
    assert len(fact_rows(pipeline.warehouse_path, "date=2013-01-17/fixed-later.csv")) == 896


@pytest.mark.parametrize("name", ["has space.csv", "plus+sign.csv"])
def test_keys_that_need_url_encoding_load(pipeline: LocalPipeline, name: str) -> None:
    # Given an object key with characters S3 notifications URL-encode
    # When it lands
    result = pipeline.run_file(SAMPLE, date(2013, 1, 18), name=name)

    # Then the validate step finds the object and the file loads
    assert result.status == "SUCCEEDED", result
    assert result.rows_loaded == 895
