"""A staged load (``?staging=true``) holds the DuckDB warehouse only to apply: a reader gets in while it stages.

DuckDB lets no other process open a file while one holds it read-write. A load therefore reads,
checks and joins the file into a private staging database with the warehouse closed, and opens
the warehouse only for delete + insert + audit. The test-only hook
``AIRLINE_PIPELINE_TEST_PAUSE_IN_STAGING`` holds a load in its staging phase (its fact rows
staged); the reader runs with a short lock timeout, so a load that held the warehouse fails it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from ingest_helpers import CLI, SAMPLE_FLIGHTS, Db, last_json, place, run_cli

#: The test-only hook of the DuckDB warehouse (``airline_pipeline.adapters.warehouse.duckdb_sink.STAGE_PAUSE_ENV``).
STAGE_PAUSE_ENV = "AIRLINE_PIPELINE_TEST_PAUSE_IN_STAGING"
#: How long the reader waits for the warehouse: far shorter than the paused load.
READER_LOCK_TIMEOUT = 5


def _start_paused_load(source: Path, db: Db, marker: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [CLI, "ingest", str(source), "--warehouse", f"{db.uri}?staging=true"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, STAGE_PAUSE_ENV: str(marker)},
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, f"the load ended before staging: {proc.communicate()}"
        assert time.monotonic() < deadline, "the load never reached its staging phase"
        time.sleep(0.02)
    return proc


def test_history_and_report_run_while_a_load_stages(db: Db, tmp_path: Path, baseline_file: str) -> None:
    # Given a load of a day file paused in its staging phase (its rows computed, nothing applied)
    source = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes(), folder="date=2013-01-16")
    loader = _start_paused_load(source, db, tmp_path / "staging")
    try:
        # When a history run and a delay report run in other processes, waiting at most a few seconds
        reader_uri = f"{db.uri}?lock_timeout={READER_LOCK_TIMEOUT}"
        history = run_cli("history", "--warehouse", reader_uri, timeout=120)
        report = run_cli("report", "--warehouse", reader_uri, "--out", str(tmp_path / "report"), timeout=120)
        # Then both complete while the load is still running
        assert loader.poll() is None, "the load finished before the readers: nothing was shown"
        assert history.returncode == 0, history.stderr
        assert report.returncode == 0, report.stderr
        # And history shows the earlier load and this attempt on record as STARTED
        assert history.summary["loaded"] >= 1
        assert history.summary["started"] == 1
        # And the staging load has not touched the warehouse's fact rows yet
        assert db.facts(str(source)) == {}
        # When the load is stopped in its staging phase
        loader.send_signal(signal.SIGTERM)
        out, err = loader.communicate(timeout=60)
    finally:
        if loader.poll() is None:
            loader.kill()
            loader.communicate()
    # Then it fails cleanly, and nothing of it was applied; the earlier day is untouched
    assert loader.returncode == 128 + signal.SIGTERM, err
    assert last_json(out)["status"] == "FAILED"
    assert db.facts(str(source)) == {}
    assert db.facts(baseline_file)
    # And loading it again lands it once
    again = run_cli("ingest", str(source), "--warehouse", db.uri)
    assert again.returncode == 0, again.stderr
    assert sum(db.facts(str(source)).values()) == again.summary["rows_loaded"]
