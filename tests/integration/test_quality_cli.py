"""`airline-pipeline ingest` with a load policy, as a subprocess on a real DuckDB file.

Quality thresholds (refuse or warn), the date replace scope (a corrected file under another name)
and the late flag. Expected counts come from :mod:`flights_oracle`, never from the warehouse.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from flights_oracle import Airports, Expected, expected_load
from ingest_helpers import SAMPLE_FLIGHTS, Db, place, run_cli

DAY = "date=2013-01-15"
#: The shipped day has 3 broken rows of 898 (0.33%): over a 0.3% limit, within a 0.5% one.
LIMIT = "0.003"


@pytest.fixture(params=["in-place", "staged"])
def db(db: Db, request: pytest.FixtureRequest) -> Db:
    """Every policy test on both DuckDB load paths: one transaction on the warehouse, and the staged
    load (``?staging=true``: the rows are staged privately and applied in one short transaction)."""
    if request.param == "staged":
        db.uri += "?staging=true"
    return db


@pytest.fixture
def day(tmp_path: Path) -> Path:
    """Given the shipped real day under date=2013-01-15/."""
    return place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes(), folder=DAY, name="flights.csv")


@pytest.fixture
def expected(airports: Airports) -> Expected:
    return expected_load(SAMPLE_FLIGHTS.read_bytes(), airports)


def fact_count(db: Db, where: str, value: str) -> int:
    return int(db.scalar(f"SELECT count(*) FROM airlines.daily_flights_fact WHERE {where} = ?", [value]))


def rejected_count(db: Db, where: str, value: str) -> int:
    return int(db.scalar(f"SELECT count(*) FROM airlines.rejected_rows WHERE {where} = ?", [value]))


# --- quality thresholds -------------------------------------------------------------------------------------


def test_a_file_over_the_threshold_with_fail_is_refused_and_its_rejected_rows_kept(
    db: Db, day: Path, expected: Expected, baseline_file: str
) -> None:
    before = db.snapshot()
    # When the day is ingested with a 0.3% limit and the fail policy
    result = run_cli("ingest", str(day), "--warehouse", db.uri, "--max-rejected-share", LIMIT, "--on-threshold", "fail")

    # Then the command fails (exit 1) with status REJECTED and the exact counts, which still add up
    assert result.returncode == 1, result.stderr
    summary = result.summary
    assert summary["status"] == "REJECTED"
    assert summary["error"] == "QualityThresholdExceeded"
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_rejected"], summary["rows_refused"]) == (
        expected.rows_read,
        0,
        expected.rows_rejected,
        expected.rows_loaded,
    )
    assert (expected.rows_read, expected.rows_rejected) == (898, 3)
    assert summary["message"] == (
        "refused: 0.33% of rows rejected (3 of 898), over the 0.3% limit; nothing loaded; "
        f"3 rows in airlines.rejected_rows WHERE batch_id = '{summary['batch_id']}'"
    )
    assert "refused: 0.33% of rows rejected" in result.stderr
    assert "Traceback" not in result.stderr
    # And nothing is in the fact table: not this file, and every other row as it was
    assert fact_count(db, "source_file", str(day)) == 0
    assert db.snapshot() == before
    assert fact_count(db, "source_file", baseline_file) > 0
    # And its rejected rows are quarantined, at their lines, with their reasons
    assert db.rejects(str(day)) == expected.rejects
    # And the audit row says REJECTED, with the counts, the reason and the contract version
    (audit,) = db.audit(str(day))
    assert (audit["status"], audit["rows_read"], audit["rows_loaded"], audit["rows_rejected"]) == (
        "REJECTED",
        898,
        0,
        3,
    )
    assert audit["error"] == f"QualityThresholdExceeded: {summary['message']}"
    assert audit["contract_version"] == "1"


def test_a_refused_file_leaves_its_earlier_load_as_it_was(db: Db, day: Path, expected: Expected) -> None:
    # Given the day loaded once without a limit
    first = run_cli("ingest", str(day), "--warehouse", db.uri)
    assert first.summary["status"] == "LOADED", first.stderr
    facts = db.facts(str(day))
    # When the same file is ingested again and refused
    again = run_cli("ingest", str(day), "--warehouse", db.uri, "--max-rejected-share", LIMIT)
    # Then the earlier rows are intact (a refused file replaces nothing) ...
    assert again.summary["status"] == "REJECTED"
    assert db.facts(str(day)) == facts == expected.facts
    # ... and the refused attempt's rejected rows are kept next to the earlier ones, by batch
    batches = db.rows(
        "SELECT batch_id, count(*) FROM airlines.rejected_rows WHERE source_file = ? GROUP BY 1 ORDER BY 1",
        [str(day)],
    )
    assert sorted(batches) == sorted([(first.summary["batch_id"], 3), (again.summary["batch_id"], 3)])
    assert [row["status"] for row in db.audit(str(day))] == ["LOADED", "REJECTED"]


def test_a_file_over_the_threshold_with_warn_loads_with_a_warning(db: Db, day: Path, expected: Expected) -> None:
    # When the day is ingested with the same limit and the warn policy
    result = run_cli("ingest", str(day), "--warehouse", db.uri, "--max-rejected-share", LIMIT, "--on-threshold", "warn")

    # Then it loads (exit 0, LOADED) with the warning set, and every count exact
    assert result.returncode == 0, result.stderr
    summary = result.summary
    assert summary["status"] == "LOADED"
    assert summary["warning"] == (
        "over the quality threshold, loaded anyway (on-threshold warn): "
        "0.33% of rows rejected (3 of 898), over the 0.3% limit"
    )
    assert (summary["rows_loaded"], summary["rows_rejected"], summary["rows_refused"]) == (
        expected.rows_loaded,
        expected.rows_rejected,
        0,
    )
    assert db.facts(str(day)) == expected.facts
    assert db.rejects(str(day)) == expected.rejects
    (audit,) = db.audit(str(day))
    assert (audit["status"], audit["warning"]) == ("LOADED", summary["warning"])


def test_a_file_within_the_threshold_loads_without_a_warning(db: Db, day: Path, expected: Expected) -> None:
    # When the limit is 0.5% (the day's 0.33% is within it) and a minimum of exactly its valid rows
    valid = expected.rows_read - expected.rows_rejected
    result = run_cli(
        "ingest", str(day), "--warehouse", db.uri, "--max-rejected-share", "0.005", "--min-rows", str(valid)
    )
    # Then it loads as usual
    assert (result.returncode, result.summary["status"], result.summary["warning"]) == (0, "LOADED", None)
    assert db.facts(str(day)) == expected.facts


def test_fewer_valid_rows_than_the_minimum_is_refused(db: Db, day: Path, expected: Expected) -> None:
    valid = expected.rows_read - expected.rows_rejected
    result = run_cli("ingest", str(day), "--warehouse", db.uri, "--min-rows", str(valid + 1))
    assert (result.returncode, result.summary["status"]) == (1, "REJECTED")
    assert f"{valid:,} valid rows, fewer than the minimum of {valid + 1:,}" in result.summary["message"]
    assert fact_count(db, "source_file", str(day)) == 0


@pytest.mark.parametrize("value", ["5", "5%", "-0.1", "nan", "abc"])
def test_a_share_that_is_not_a_fraction_is_refused_as_usage(db: Db, day: Path, value: str) -> None:
    result = run_cli("ingest", str(day), "--warehouse", db.uri, "--max-rejected-share", value)
    assert result.returncode == 2
    assert (result.summary["status"], result.summary["error"]) == ("FAILED", "UsageError")
    assert "0.05 means 5%" in result.summary["message"]


# --- replace scope ----------------------------------------------------------------------------------------


def two_names_for_one_day(tmp_path: Path) -> tuple[Path, Path]:
    """Given the day's file, and a corrected copy of it under another name in the same date folder."""
    data = SAMPLE_FLIGHTS.read_bytes()
    first = place(tmp_path / "in", data, folder=DAY, name="flights.csv")
    second = place(tmp_path / "in", data, folder=DAY, name="flights-corrected.csv")
    return first, second


def test_the_date_scope_leaves_one_copy_of_a_date_after_two_differently_named_files(
    db: Db, tmp_path: Path, expected: Expected, baseline_file: str
) -> None:
    first, second = two_names_for_one_day(tmp_path)
    baseline_rows = fact_count(db, "source_file", baseline_file)
    # When both are ingested with --replace-scope date
    for path in (first, second):
        result = run_cli("ingest", str(path), "--warehouse", db.uri, "--replace-scope", "date")
        assert (result.returncode, result.summary["replace_scope"]) == (0, "date"), result.stderr
    # Then the date holds one copy: the second file's rows (facts and rejected rows), none of the first's
    assert fact_count(db, "flight_date", "2013-01-15") == expected.rows_loaded
    assert db.facts(str(second)) == expected.facts
    assert fact_count(db, "source_file", str(first)) == 0
    assert rejected_count(db, "flight_date", "2013-01-15") == expected.rows_rejected
    assert rejected_count(db, "source_file", str(first)) == 0
    # And another date (the baseline 2013-01-14) is untouched; the audit records the scope
    assert fact_count(db, "source_file", baseline_file) == baseline_rows
    assert db.audit(str(second))[-1]["replace_scope"] == "date"


def test_the_file_scope_leaves_two_copies_after_two_differently_named_files(
    db: Db, tmp_path: Path, expected: Expected
) -> None:
    first, second = two_names_for_one_day(tmp_path)
    # When both are ingested with the default scope (file)
    for path in (first, second):
        result = run_cli("ingest", str(path), "--warehouse", db.uri)
        assert (result.returncode, result.summary["replace_scope"]) == (0, "file"), result.stderr
    # Then each file keeps its rows: the date is there twice
    assert fact_count(db, "flight_date", "2013-01-15") == 2 * expected.rows_loaded
    assert rejected_count(db, "flight_date", "2013-01-15") == 2 * expected.rows_rejected


def test_a_refused_date_scope_load_keeps_the_date_as_it_was(db: Db, tmp_path: Path, expected: Expected) -> None:
    first, second = two_names_for_one_day(tmp_path)
    run_cli("ingest", str(first), "--warehouse", db.uri, "--replace-scope", "date")
    # When the corrected file is refused
    result = run_cli(
        "ingest", str(second), "--warehouse", db.uri, "--replace-scope", "date", "--max-rejected-share", LIMIT
    )
    # Then the first file's rows still stand for the date
    assert result.summary["status"] == "REJECTED"
    assert db.facts(str(first)) == expected.facts
    assert fact_count(db, "flight_date", "2013-01-15") == expected.rows_loaded


# --- late files ---------------------------------------------------------------------------------------------


def test_a_file_for_a_date_long_past_is_flagged_late(db: Db, day: Path) -> None:
    # When a 2013 file is loaded now (more than 3 days after its date)
    result = run_cli("ingest", str(day), "--warehouse", db.uri)
    # Then the JSON line and the audit row say it is late
    assert (result.returncode, result.summary["late"]) == (0, True)
    assert db.audit(str(day))[-1]["late"] is True
    assert "late file: flight date 2013-01-15" in result.stderr


def test_a_file_for_today_is_not_late_nor_an_old_one_with_a_wide_allowance(db: Db, tmp_path: Path) -> None:
    today = datetime.now(timezone.utc).date()
    fresh = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes(), folder=f"date={today.isoformat()}", name="f.csv")
    old = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes(), folder=DAY, name="f.csv")
    assert run_cli("ingest", str(fresh), "--warehouse", db.uri).summary["late"] is False
    wide = run_cli("ingest", str(old), "--warehouse", db.uri, "--late-after-days", "36500")
    assert (wide.returncode, wide.summary["late"]) == (0, False)
    assert db.audit(str(old))[-1]["late"] is False


# --- an earlier release's warehouse -------------------------------------------------------------------------


def test_a_warehouse_of_an_earlier_release_gets_the_new_audit_columns(db: Db, day: Path) -> None:
    # Given an audit table without the columns added for the load policy (as an earlier release made it)
    import duckdb

    con = duckdb.connect(str(db.path))
    for column in ("warning", "late", "contract_version", "replace_scope"):
        con.execute(f"ALTER TABLE airlines.load_audit DROP COLUMN {column}")
    con.close()
    # When a file is ingested
    result = run_cli("ingest", str(day), "--warehouse", db.uri)
    # Then the columns are added (ADD COLUMN IF NOT EXISTS) and filled
    assert result.returncode == 0, result.stderr
    audit = db.audit(str(day))[-1]
    assert (audit["late"], audit["contract_version"], audit["replace_scope"]) == (True, "1", "file")
