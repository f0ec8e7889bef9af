"""The load records the Glue job's capacity in its audit row (the cost model's input), on old warehouses too.

Engine-side (the Glue job's script and DuckDB only): these run under Python 3.9 / DuckDB 1.2.2 too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import duckdb
import pytest
from ingest_helpers import SAMPLE_FLIGHTS, Db, place

from airline_pipeline.adapters.warehouse import open_warehouse
from airline_pipeline.core import schema

pytestmark = pytest.mark.glue39

ROOT = Path(__file__).resolve().parents[2]


def job_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("glue_join_and_load", ROOT / "glue" / "join_and_load.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.mark.parametrize(("passed", "recorded"), [("0.0625", 0.0625), ("1.0", 1.0), ("", None), ("lots", None)])
def test_the_job_writes_the_capacity_it_was_started_with(db: Db, tmp_path: Path, passed: str, recorded: object) -> None:
    # Given the day's file and the run's arguments as the emulator passes them (environment variables)
    path = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes())
    environ = {"source_uri": str(path), "warehouse": db.uri, "batch_id": "job-capacity-1", "job_capacity_dpu": passed}

    # When the job runs
    assert job_script().main(["join_and_load.py"], environ) == 0

    # Then the audit row says what the run was billed for (a value it cannot read is no value, not a failure)
    assert db.rows(f"SELECT status, job_capacity_dpu FROM {schema.AUDIT} WHERE batch_id = 'job-capacity-1'") == [
        ("LOADED", recorded)
    ]


def test_a_warehouse_from_before_the_column_gets_it_on_init(tmp_path: Path) -> None:
    # Given a DuckDB warehouse whose load_audit predates job_capacity_dpu
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    old_audit = tuple(column for column in schema.AUDIT_COLUMNS if column[0] != "job_capacity_dpu")
    con.execute(f"CREATE SCHEMA {schema.SCHEMA}")
    con.execute(f"CREATE TABLE {schema.AUDIT} ({', '.join(f'{n} {t}' for n, t in old_audit)})")
    con.close()

    # When the schema is initialised (init-warehouse, every ingest), twice
    for _ in range(2):
        with open_warehouse(f"duckdb://{path}") as warehouse:
            warehouse.init_schema()

    # Then the table has the column, once, last (where schema lists it)
    con = duckdb.connect(str(path), read_only=True)
    names = [row[0] for row in con.execute(f"DESCRIBE {schema.AUDIT}").fetchall()]
    con.close()
    assert names == schema.column_names(schema.AUDIT_COLUMNS)
