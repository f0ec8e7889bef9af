"""Opening the DuckDB warehouse file while other processes create or hold it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
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
