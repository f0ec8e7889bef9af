"""Shared fixtures for the load tests: real airports and a seeded DuckDB warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flights_oracle import Airports, read_airports
from ingest_helpers import BASELINE_DAY, SAMPLE_AIRPORTS, SAMPLE_FLIGHTS, Db, place
from sam_build import sam_build


@pytest.fixture(scope="session")
def build() -> Path:
    """Given ``sam build`` output for the current sources (built now unless it is already fresh)."""
    return sam_build()


@pytest.fixture(scope="session")
def airports() -> Airports:
    """The real airports dimension (US airports from ``airportsdata``), read with the csv module."""
    return read_airports(SAMPLE_AIRPORTS)


@pytest.fixture(scope="session")
def template_warehouse(tmp_path_factory) -> tuple[Path, str]:
    """A warehouse file with the schema, the airports and one previously loaded day (through the API)."""
    from airline_pipeline.adapters.warehouse import open_warehouse
    from airline_pipeline.engine.ingest import ingest

    root = tmp_path_factory.mktemp("template")
    path = root / "warehouse.duckdb"
    baseline = place(root, SAMPLE_FLIGHTS.read_bytes(), folder=BASELINE_DAY)
    with open_warehouse(f"duckdb://{path}") as warehouse:
        warehouse.init_schema()
        warehouse.load_airports(str(SAMPLE_AIRPORTS))
        summary = ingest(str(baseline), warehouse)
    assert summary.status == "LOADED", summary
    assert not Path(str(path) + ".wal").exists()
    return path, str(baseline)


@pytest.fixture
def db(template_warehouse, tmp_path: Path) -> Db:
    """Given a fresh copy of the seeded warehouse for this test."""
    source, _ = template_warehouse
    target = tmp_path / "warehouse.duckdb"
    shutil.copyfile(source, target)
    return Db(target)


@pytest.fixture
def baseline_file(template_warehouse) -> str:
    return template_warehouse[1]
