"""The reader port: every read of Redshift goes through one awswrangler reader that carries no load engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from airline_pipeline.adapters.warehouse import Reader, open_reader, open_warehouse
from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.adapters.warehouse.redshift.reader import RedshiftReader

URI = "redshift-data://analytics/dev?iam_role=arn:aws:iam::123456789012:role/copy&staging=s3://stage-bucket/staging/"

CHILD = f"""
import json, sys
from airline_pipeline.adapters.warehouse import open_reader
from airline_pipeline.steps.verify_load import batch_report
from airline_pipeline.steps.freshness import check
from airline_pipeline.ops import delay_report, freshness, history
reader = open_reader({URI!r})
loaded = sorted(name for name in sys.modules if name == "duckdb" or name.startswith("airline_pipeline.engine")
                or name.endswith((".redshift.sink", ".redshift.warehouse")))
print(json.dumps({{"reader": type(reader).__name__, "loaded": loaded}}))
"""


def test_reading_redshift_loads_neither_duckdb_nor_the_load_engine() -> None:
    # Given a fresh interpreter that opens a Redshift reader and imports every reader of the package
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=120)

    # Then the reader is awswrangler's, and neither DuckDB nor the load engine (nor the sink) was imported
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"reader": "RedshiftReader", "loaded": []}


def test_duckdb_reads_through_its_warehouse(tmp_path: Path) -> None:
    # Given a DuckDB warehouse
    uri = f"duckdb:///{tmp_path}/w.duckdb"
    with open_warehouse(uri) as warehouse:
        warehouse.init_schema()

    # When a reader is opened, Then it is the warehouse itself (one engine, one file) and reads
    with open_reader(uri) as reader:
        assert isinstance(reader, DuckDBWarehouse)
        assert reader.query("SELECT 1 + :n AS two", {"n": 1}) == [{"two": 2}]


def test_the_redshift_reader_is_the_reader_port() -> None:
    assert issubclass(RedshiftReader, Reader)
