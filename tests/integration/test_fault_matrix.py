"""A load stopped in the worst place: {SIGKILL, SIGINT, SIGTERM, disk full (twice)} x {first load, reload}.

Each cell runs ``airline-pipeline ingest`` as a subprocess and hits it while it is inside its
transaction - the file's old rows deleted, its new rows inserted, nothing committed:

* signals: the load reports (test-only hook ``AIRLINE_PIPELINE_TEST_PAUSE_IN_LOAD``) that it is there
  and keeps DuckDB busy; the signal is sent once that marker exists - no sleeps, no races.
* disk full: ``RLIMIT_FSIZE`` (``setrlimit`` in ``preexec_fn``, SIGXFSZ ignored so a write fails with
  EFBIG "File too large"), far below the warehouse's size: no database block can be written, while
  the write-ahead log still takes the small audit rows. Two places it bites: a file larger than one
  row group makes DuckDB write its rows to the database file before the commit ("disk full"); a
  small file's rows go to the write-ahead log at COMMIT, which fails there ("disk full at commit" -
  where a plain ROLLBACK used to raise "no transaction is active" over the cause). No root needed.

Every cell runs twice: a load in place (the default) and a staged load (``?staging=true``, hit inside
its short apply transaction). After every cell: the warehouse opens; the file has 0 rows (first
load) or its earlier N (reload), never a part; the other day is untouched; the audit says what
happened (a killed process leaves its STARTED row, which ``history`` shows as such); and ingesting
the file again leaves exactly one copy.
"""

from __future__ import annotations

import itertools
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from corpus import GOOD, HEADER
from ingest_helpers import CLI, SAMPLE_FLIGHTS, CliResult, Db, assert_clean_failure, last_json, place, run_cli

#: The test-only hook of the DuckDB warehouse (``airline_pipeline.adapters.warehouse.duckdb_sink.PAUSE_ENV``).
PAUSE_ENV = "AIRLINE_PIPELINE_TEST_PAUSE_IN_LOAD"

SIGNALS = ("SIGKILL", "SIGINT", "SIGTERM")
DISK_FULL = ("disk full", "disk full at commit")
FAULTS = SIGNALS + DISK_FULL
SCENARIOS = ("first load", "reload")
#: How the warehouse loads: in place (the default), or staged and applied in one short transaction.
MODES = {"in-place": "", "staged": "?staging=true"}
MATRIX = list(itertools.product(FAULTS, SCENARIOS, MODES))
#: Rows in the disk-full file: more than one DuckDB row group (122,880), so rows are written before COMMIT.
DISK_FULL_ROWS = 150_000
#: The largest file a disk-full load may write: no database block past it; a few audit rows of log fit.
DISK_FULL_LIMIT = 64 * 1024


@dataclass
class Cell:
    fault: str
    scenario: str
    db: Db
    #: The warehouse URI the loads use (the cell's mode).
    uri: str
    source: Path
    expected_rows: int
    baseline: Any


def _big_file(root: Path) -> Path:
    """Real rows (the sample day's first ten flights) repeated to ``DISK_FULL_ROWS``."""
    rows = (GOOD * (DISK_FULL_ROWS // len(GOOD) + 1))[:DISK_FULL_ROWS]
    return place(root / "in", ("\n".join((HEADER, *rows)) + "\n").encode(), folder="date=2013-01-16")


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _signal_inside_the_transaction(cell: Cell, marker: Path) -> CliResult:
    env = {**os.environ, PAUSE_ENV: str(marker)}
    proc = subprocess.Popen(
        [CLI, "ingest", str(cell.source), "--warehouse", cell.uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, f"the load ended before its transaction: {proc.communicate()}"
            assert time.monotonic() < deadline, "the load never reached its transaction"
            time.sleep(0.02)
        proc.send_signal(getattr(signal, cell.fault))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return CliResult(proc.returncode, last_json(out), out, err)


def _run_fault(cell: Cell, tmp_path: Path) -> CliResult:
    if cell.fault in DISK_FULL:
        # Below the warehouse's size: a reload may reuse free blocks inside the file, which a limit just
        # above it would allow. The write-ahead log of the audit rows stays below it.
        assert cell.db.path.stat().st_size > DISK_FULL_LIMIT
        limit = _file_size_limit(DISK_FULL_LIMIT)
        return run_cli("ingest", str(cell.source), "--warehouse", cell.uri, preexec_fn=limit)
    return _signal_inside_the_transaction(cell, tmp_path / "inside-the-transaction")


@pytest.fixture(params=MATRIX, ids=["-".join(param).replace(" ", "-") for param in MATRIX])
def cell(request: pytest.FixtureRequest, db: Db, tmp_path: Path, baseline_file: str) -> Cell:
    """Given the seeded warehouse and the file to load (for a reload: loaded once already)."""
    fault, scenario, mode = request.param
    uri = db.uri + MODES[mode]
    source = _big_file(tmp_path) if fault == "disk full" else place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes())
    expected_rows = 0
    if scenario == "reload":
        first = run_cli("ingest", str(source), "--warehouse", uri)
        assert first.returncode == 0, first.stderr
        expected_rows = first.summary["rows_loaded"]
        assert expected_rows > 0
    return Cell(fault, scenario, db, uri, source, expected_rows, db.facts(baseline_file))


def test_a_load_stopped_inside_its_transaction_keeps_all_or_nothing(
    cell: Cell, tmp_path: Path, baseline_file: str
) -> None:
    source = str(cell.source)
    # When the load is stopped inside its transaction
    result = _run_fault(cell, tmp_path)

    # Then the process ends as the fault says, with its message and JSON line (a killed one cannot)
    if cell.fault == "SIGKILL":
        assert result.returncode == -signal.SIGKILL
    elif cell.fault in DISK_FULL:
        assert_clean_failure(result, "WarehouseUnavailable", "File too large")
        for cleanup_complaint in ("aborted", "no transaction is active"):  # the cause, not what cleanup said
            assert cleanup_complaint not in result.summary["message"]
    else:
        number = getattr(signal, cell.fault)
        assert result.returncode == 128 + number
        assert_clean_failure(result, "Interrupted", f"stopped by {'Ctrl-C (SIGINT)' if number == 2 else 'SIGTERM'}")
        assert result.summary["signal"] == cell.fault
        assert result.summary["source_file"] == source

    # And the warehouse opens, with all of the file's earlier rows or none of the new ones: never a part
    rows = cell.db.scalar("SELECT count(*) FROM airlines.daily_flights_fact WHERE source_file = ?", [source])
    assert rows == cell.expected_rows
    assert cell.db.scalar("SELECT count(*) FROM airlines.rejected_rows WHERE source_file = ?", [source]) == (
        3 if cell.expected_rows and cell.fault != "disk full" else 0
    )
    assert cell.db.facts(baseline_file) == cell.baseline

    # And the audit names what happened to the attempt
    attempt = cell.db.audit(source)[-1]
    if cell.fault == "SIGKILL":
        assert (attempt["status"], attempt["finished_at"]) == ("STARTED", None)
        shown = run_cli("history", "--warehouse", cell.uri)
        assert shown.summary["started"] == 1
        assert "STARTED" in shown.stdout
        assert "no outcome recorded: still running, or killed" in shown.stdout
    else:
        assert attempt["status"] == "FAILED"
        assert attempt["batch_id"] == result.summary["batch_id"]
        cause = "File too large" if cell.fault in DISK_FULL else "Interrupted: stopped by"
        assert cause in attempt["error"]
        assert [a["status"] for a in cell.db.audit(source)].count("STARTED") == 0

    # And loading the file again leaves exactly one copy of it
    again = run_cli("ingest", source, "--warehouse", cell.uri)
    assert again.returncode == 0, again.stderr
    assert (
        cell.db.scalar("SELECT count(*) FROM airlines.daily_flights_fact WHERE source_file = ?", [source])
        == (again.summary["rows_loaded"])
    )
    assert cell.db.rows(
        "SELECT DISTINCT batch_id FROM airlines.daily_flights_fact WHERE source_file = ?", [source]
    ) == [(again.summary["batch_id"],)]
    assert cell.db.audit(source)[-1]["status"] == "LOADED"
