"""Opening the DuckDB warehouse file while other processes create or hold it."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.cli import main
from airline_pipeline.core import schema
from airline_pipeline.core.contract import EXPECTED_HEADER_LINE
from airline_pipeline.core.errors import ConfigError, WarehouseUnavailable


def test_a_file_another_process_is_still_creating_is_waited_for(tmp_path: Path) -> None:
    # Given a warehouse file that exists but is empty: another process has just created it
    path = tmp_path / "warehouse.duckdb"
    path.touch()

    # and will have written a real database there half a second later
    def finish_creating() -> None:
        time.sleep(0.5)
        ready = tmp_path / "ready.duckdb"
        duckdb.connect(str(ready)).close()
        os.replace(ready, path)

    creator = threading.Thread(target=finish_creating)
    creator.start()

    # When this process opens it
    try:
        with DuckDBWarehouse(str(path)).connect() as con:
            answer = con.execute("SELECT 42").fetchall()
    finally:
        creator.join()

    # Then it waited instead of failing
    assert answer == [(42,)]


def test_an_old_file_that_is_not_a_database_fails_at_once(tmp_path: Path) -> None:
    # Given a file that is not a DuckDB database and has not changed for a minute
    path = tmp_path / "warehouse.duckdb"
    path.write_text("Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n")
    a_minute_ago = time.time() - 60
    os.utime(path, (a_minute_ago, a_minute_ago))

    # When it is opened as the warehouse
    started = time.monotonic()
    with (
        pytest.raises(WarehouseUnavailable, match=r"not a valid DuckDB database.*restore it from a backup"),
        DuckDBWarehouse(str(path)).connect(),
    ):
        pass

    # Then the error comes at once, not after the lock timeout
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("option", "staged"), [("", False), ("?staging=true", True), ("?staging=false", False)])
def test_a_load_stages_only_when_the_uri_asks(tmp_path: Path, option: str, staged: bool) -> None:
    # Given a warehouse URI with or without the staging option
    # When it is opened
    warehouse = DuckDBWarehouse.from_uri(f"duckdb://{tmp_path / 'w.duckdb'}{option}")
    # Then its loads stage first only when asked (the default is the faster load in place)
    assert warehouse.staging is staged


def test_a_staging_option_that_is_not_a_flag_is_refused(tmp_path: Path) -> None:
    # Given / When a URI says staging=maybe / Then it is refused, naming the option
    with pytest.raises(ConfigError, match="staging must be true or false"):
        DuckDBWarehouse.from_uri(f"duckdb://{tmp_path / 'w.duckdb'}?staging=maybe")


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record every open of a warehouse file (its read_only flag)."""
    opens: list[bool] = []
    original = DuckDBWarehouse._open_with_retry

    def counted(self: DuckDBWarehouse, read_only: bool, spill: str) -> Any:
        opens.append(read_only)
        return original(self, read_only, spill)

    monkeypatch.setattr(DuckDBWarehouse, "_open_with_retry", counted)
    return opens


@pytest.mark.parametrize("staging", ["", "?staging=true"], ids=["in-place", "staged"])
def test_ingest_opens_a_new_warehouse_once_and_creates_its_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], staging: str
) -> None:
    # Given a flights file and a warehouse that does not exist yet
    flights = tmp_path / "date=2013-01-15" / "f.csv"
    flights.parent.mkdir()
    flights.write_text(f"{EXPECTED_HEADER_LINE}\nDL,10397,12478,-3,5\n")
    warehouse = tmp_path / "w.duckdb"
    opens = _count_opens(monkeypatch)
    # When the CLI ingests it
    assert main(["ingest", str(flights), "--warehouse", f"duckdb://{warehouse}{staging}"]) == 0
    # Then the file loaded, the schema was created on the way, and the warehouse was opened once
    # (staged: once to record the start, once to apply) - not once more just for the schema
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["rows_loaded"] == 1
    assert opens == ([False] if not staging else [False, False])
    assert duckdb.connect(str(warehouse)).execute(f"SELECT count(*) FROM {schema.FACT}").fetchall() == [(1,)]


def test_a_failed_ingest_into_a_new_warehouse_still_records_its_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file with a wrong header and a warehouse that does not exist yet
    flights = tmp_path / "date=2013-01-15" / "f.csv"
    flights.parent.mkdir()
    flights.write_text("Airline,From,To,Dep,Arr\nDL,1,2,3,4\n")
    warehouse = tmp_path / "w.duckdb"
    # When the CLI ingests it
    assert main(["ingest", str(flights), "--warehouse", f"duckdb://{warehouse}"]) == 1
    # Then the FAILED attempt is on record (the audit table was created for it)
    rows = duckdb.connect(str(warehouse)).execute(f"SELECT status, error FROM {schema.AUDIT}").fetchall()
    assert [(status, error.split(":")[0]) for status, error in rows] == [("FAILED", "InvalidHeader")]
