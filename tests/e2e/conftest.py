"""The e2e tier: template.yaml deployed once per session to a private MiniStack on a free port.

The emulator runs with tests/e2e/recorder on ``PYTHONPATH``: every AWS call a Lambda or the Glue job
makes is written to the session's call log, which test_iam.py checks against the deployed roles
once every other e2e test has run (it is ordered last).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks import AWS_LIKE_PARAMETERS, AWS_LIKE_STACK, LOCAL_PARAMETERS, RECORDER, ROOT

from airline_pipeline.local.demo import LocalPipeline
from airline_pipeline.local.emulator import Emulator, free_port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    # the IAM check reads the calls every other test made: it runs last
    items.sort(key=lambda item: item.get_closest_marker("after_every_e2e_test") is not None)


@pytest.fixture(scope="session")
def call_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON lines the recorder writes: one per AWS call of a Lambda or the Glue job."""
    return tmp_path_factory.mktemp("calls") / "calls.jsonl"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory, call_log: Path) -> Iterator[Emulator]:
    workdir = tmp_path_factory.mktemp("e2e")
    recording = {
        "PYTHONPATH": str(RECORDER),
        "AIRLINE_PIPELINE_CALL_LOG": str(call_log),
        # the AWS-like stack's WarehouseBootstrap signs in to a Redshift the emulator does not have
        "AIRLINE_PIPELINE_FAKE_REDSHIFT": "1",
    }
    started = Emulator(port=free_port(), workdir=workdir / "emulator", environment=recording)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def pipeline(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> LocalPipeline:
    """Given the stack deployed to the emulator: its WarehouseBootstrap created the DuckDB warehouse."""
    workdir = tmp_path_factory.mktemp("warehouse")
    deployed = LocalPipeline(
        emulator=emulator, project=ROOT, warehouse_path=workdir / "warehouse.duckdb", **LOCAL_PARAMETERS
    )
    deployed.deploy()
    return deployed


@pytest.fixture(scope="session")
def aws_like(emulator: Emulator, pipeline: LocalPipeline, tmp_path_factory: pytest.TempPathFactory) -> LocalPipeline:
    """The same template with AWS parameters (Redshift, tracing), next to the local stack."""
    deployed = LocalPipeline(
        emulator=emulator,
        project=ROOT,
        warehouse_path=tmp_path_factory.mktemp("unused") / "unused.duckdb",
        stack_name=AWS_LIKE_STACK,
        **AWS_LIKE_PARAMETERS,
    )
    deployed.deploy()
    return deployed
