"""``airline_pipeline.engine.ingest.ingest`` on a DuckDB warehouse: idempotency and all-or-nothing loads.

The engine-side core only (no CLI, no AWS): these run under Python 3.9 / DuckDB 1.2.2 too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flights_oracle import Airports, expected_load
from ingest_helpers import SAMPLE_FLIGHTS, Db, place

from airline_pipeline.adapters.warehouse import open_warehouse
from airline_pipeline.core.contract import HEAD_BYTES
from airline_pipeline.engine import facts
from airline_pipeline.engine.ingest import ingest

pytestmark = pytest.mark.glue39

HEADER = b"Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n"


def _ingest(db: Db, path: Path, **options):
    with open_warehouse(db.uri) as warehouse:
        return ingest(str(path), warehouse, **options)


def test_same_file_twice_through_the_api(db: Db, tmp_path: Path, airports: Airports) -> None:
    # Given the real sample day
    path = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes())
    # When it is ingested twice
    first = _ingest(db, path)
    second = _ingest(db, path)
    # Then both attempts are LOADED with the same counts, and one copy of the rows remains
    assert (first.status, second.status) == ("LOADED", "LOADED")
    assert (first.rows_loaded, first.rows_rejected) == (second.rows_loaded, second.rows_rejected)
    expected = expected_load(path.read_bytes(), airports)
    assert db.facts(str(path)) == expected.facts
    assert db.rejects(str(path)) == expected.rejects
    assert [a["status"] for a in db.audit(str(path))] == ["LOADED", "LOADED"]


def test_blank_lines_beyond_the_head_are_no_data_rows(db: Db, tmp_path: Path) -> None:
    # Given the sample day loaded, then replaced by a file whose header is followed by more blank
    # lines than the head check reads (so only the loader can tell it has no data rows)
    path = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes())
    assert _ingest(db, path).status == "LOADED"
    before = db.snapshot()
    path.write_bytes(HEADER + b"   \n" * (HEAD_BYTES // 4 + 10))
    # When it is ingested
    summary = _ingest(db, path)
    # Then the attempt fails as NoDataRows and the day's earlier rows are kept
    assert summary.status == "FAILED"
    assert summary.error == "NoDataRows"
    assert db.snapshot() == before
    assert [a["status"] for a in db.audit(str(path))] == ["LOADED", "FAILED"]


def test_a_load_that_fails_midway_changes_nothing(db: Db, tmp_path: Path, monkeypatch) -> None:
    # Given the sample day loaded once
    path = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes())
    assert _ingest(db, path).status == "LOADED"
    before = db.snapshot()
    rejects_before = db.rejects(str(path))

    # When a new attempt fails after its rows were deleted and re-inserted (inside the transaction)
    def boom(*args, **kwargs):
        raise RuntimeError("simulated engine failure after the inserts")

    monkeypatch.setattr(facts, "unknown_airport_ids", boom)
    summary = _ingest(db, path)
    # Then it is reported as FAILED with the cause, and the warehouse is exactly as before
    assert summary.status == "FAILED"
    assert "simulated engine failure" in summary.message
    assert db.snapshot() == before
    assert db.rejects(str(path)) == rejects_before
    assert [a["status"] for a in db.audit(str(path))] == ["LOADED", "FAILED"]


def test_mixed_line_breaks_through_the_api(db: Db, tmp_path: Path, airports: Airports) -> None:
    # Given a real day whose rows end in LF, CRLF and lone CRs, in turn, with a broken row
    rows = SAMPLE_FLIGHTS.read_bytes().splitlines()[:200]
    rows[150] = b"DL,10570,10841,x,1"
    breaks = [b"\n", b"\r\n", b"\r"]
    data = b"".join(row + breaks[i % 3] for i, row in enumerate(rows))
    path = place(tmp_path / "in", data)
    # When it is ingested
    summary = _ingest(db, path)
    # Then every line is a line: the rows are exact and the broken one is at its physical line, 151
    assert summary.status == "LOADED"
    assert db.facts(str(path)) == expected_load(data, airports).facts
    assert db.rejects(str(path)) == {151: "not_integer"}
    assert summary.blank_lines == 0
