"""Ten `airline-pipeline ingest` processes at once against one DuckDB warehouse.

DuckDB lets one process write a file at a time; the warehouse waits for the lock (jittered
backoff) instead of failing, and each load replaces its file's rows in one transaction. So ten
events for the same object end with one copy of its rows, and ten different objects all land.
Wall times are printed and recorded as test properties (``record_property``) for the report.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from flights_oracle import Airports, expected_load
from ingest_helpers import CLI, SAMPLE_FLIGHTS, Db, place

WORKERS = 10


def _ingest_all(paths: list[Path], uri: str) -> tuple[float, list[subprocess.CompletedProcess[str]]]:
    """Start one `ingest` per path at once; wait for all; return the wall time and the results."""
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [CLI, "ingest", str(path), "--warehouse", uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    results = []
    for proc, path in zip(procs, paths):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess([CLI, "ingest", str(path)], proc.returncode, out, err))
    return time.monotonic() - started, results


@pytest.mark.parametrize("staging", ["", "?staging=true"], ids=["in-place", "staged"])
def test_ten_concurrent_loads_of_one_file_keep_one_copy(
    db: Db, tmp_path: Path, airports: Airports, record_property, staging: str
) -> None:
    # Given one real day file (with broken rows and an unknown airport)
    path = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes(), folder="date=2013-01-15")
    others_before = db.rows("SELECT count(*) FROM airlines.daily_flights_fact")[0][0]
    # When ten ingest processes load it at the same time (in place, or staged and applied in turn)
    wall, results = _ingest_all([path] * WORKERS, db.uri + staging)
    record_property("same_file_wall_seconds", round(wall, 2))
    print(f"\n{WORKERS} concurrent ingests of one file: {wall:.2f}s wall")
    # Then every process exits 0
    assert [r.returncode for r in results] == [0] * WORKERS, [r.stderr[-500:] for r in results if r.returncode]
    # And the warehouse holds exactly one copy of the file's rows (and of its rejects)
    expected = expected_load(path.read_bytes(), airports)
    assert db.facts(str(path)) == expected.facts
    assert db.rejects(str(path)) == expected.rejects
    batches = db.rows("SELECT DISTINCT batch_id FROM airlines.daily_flights_fact WHERE source_file = ?", [str(path)])
    assert len(batches) == 1
    assert db.scalar("SELECT count(*) FROM airlines.daily_flights_fact") == others_before + expected.rows_loaded
    # And there are ten LOADED audit rows, one per attempt, each with the full counts
    audit = db.audit(str(path))
    assert len(audit) == WORKERS
    assert {a["status"] for a in audit} == {"LOADED"}
    assert len({a["batch_id"] for a in audit}) == WORKERS
    assert {(a["rows_loaded"], a["rows_rejected"]) for a in audit} == {(expected.rows_loaded, expected.rows_rejected)}
    # And the surviving rows belong to an attempt that finished last (finished_at has whole seconds:
    # several attempts can share the latest second)
    latest = max(a["finished_at"] for a in audit)
    assert batches[0][0] in {a["batch_id"] for a in audit if a["finished_at"] == latest}


def test_ten_different_files_at_once_all_load(tmp_path: Path, airports: Airports, record_property) -> None:
    # Given ten different real day files (ten slices of the sample day), and NO warehouse yet:
    # the processes also race to create it (the airports are not loaded: every airport is unknown)
    lines = SAMPLE_FLIGHTS.read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    paths = [
        place(tmp_path / "in", header + b"".join(rows[i::WORKERS]), folder=f"date=2013-01-{i + 10:02d}")
        for i in range(WORKERS)
    ]
    db = Db(tmp_path / "fresh.duckdb")
    # When ten ingest processes load them at the same time
    wall, results = _ingest_all(paths, db.uri)
    record_property("different_files_wall_seconds", round(wall, 2))
    print(f"\n{WORKERS} concurrent ingests of different files into a new warehouse: {wall:.2f}s wall")
    # Then every process exits 0 and every file's rows are there, once, under its own date
    assert [r.returncode for r in results] == [0] * WORKERS, [r.stderr[-500:] for r in results if r.returncode]
    total = 0
    for i, path in enumerate(paths):
        expected = expected_load(path.read_bytes(), {})
        assert db.facts(str(path)) == expected.facts
        assert db.rejects(str(path)) == expected.rejects
        dates = db.rows(
            "SELECT DISTINCT CAST(flight_date AS VARCHAR) FROM airlines.daily_flights_fact WHERE source_file = ?",
            [str(path)],
        )
        assert dates == [(f"2013-01-{i + 10:02d}",)]
        total += expected.rows_loaded
    assert db.scalar("SELECT count(*) FROM airlines.daily_flights_fact") == total
    assert total == sum(expected_load(p.read_bytes(), {}).rows_loaded for p in paths)
    statuses = Counter(row[0] for row in db.rows("SELECT status FROM airlines.load_audit"))
    assert statuses == Counter({"LOADED": WORKERS})
