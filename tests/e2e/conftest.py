"""The e2e tier: template.yaml deployed once per session to a private MiniStack on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airline_pipeline.demo import LocalPipeline
from airline_pipeline.emulator import Emulator, free_port

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    """Given the stack deployed to the emulator: its WarehouseBootstrap created the DuckDB warehouse."""
    workdir = tmp_path_factory.mktemp("e2e")
    emulator = Emulator(port=free_port(), workdir=workdir / "emulator")
    emulator.start()
    try:
        deployed = LocalPipeline(emulator=emulator, project=ROOT, warehouse_path=workdir / "warehouse.duckdb")
        deployed.deploy()
        yield deployed
    finally:
        emulator.stop()
