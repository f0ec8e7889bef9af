"""The crawler runs when the catalog would change, and not for the next day (issue 14's cost).

MiniStack's crawler runs for a few seconds and catalogs nothing (ministack/services/glue.py,
``_start_crawler``): after the first day, the test creates the table a real crawler makes over the
data prefix, as the README says. The second day must then register its partition without a crawl.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.core import schema
from airline_pipeline.core.contract import EXPECTED_HEADER
from airline_pipeline.core.defaults import SAMPLES
from airline_pipeline.local.demo import LocalPipeline

SAMPLE = SAMPLES / "flights_2013-01-15.csv"


def crawled_table(location: str) -> dict[str, Any]:
    """``daily_flights`` as a Glue crawler creates it: lower-case columns, a ``date`` partition key."""
    return {
        "Name": "daily_flights",
        "StorageDescriptor": {
            "Columns": [
                {"Name": name.lower(), "Type": "string" if name == "Carrier" else "bigint"} for name in EXPECTED_HEADER
            ],
            "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
        },
        "PartitionKeys": [{"Name": "date", "Type": "string"}],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
    }


def test_the_first_day_crawls_and_the_next_registers_its_partition(pipeline: LocalPipeline) -> None:
    glue = pipeline.clients("glue")
    database = pipeline.outputs["GlueDatabaseName"]
    location = f"s3://{pipeline.bucket}/{pipeline.outputs['DataPrefix']}"

    # Given no table catalogs the prefix yet: the first file runs the crawler
    first = pipeline.run_file(SAMPLE, date(2013, 3, 1), name="catalog.csv")
    assert first.status == "SUCCEEDED", first
    assert [s for s in first.states if s in ("CheckCatalog", "CatalogRoute", "StartCrawler")] == [
        "CheckCatalog",
        "CatalogRoute",
        "StartCrawler",
    ]
    assert first.notification is not None
    assert "crawler 1 DPU x 600 s" in first.notification["message"]

    # and then the table the crawler makes exists
    glue.create_table(DatabaseName=database, TableInput=crawled_table(location))
    try:
        # When the next day's file lands
        second = pipeline.run_file(SAMPLE, date(2013, 3, 2), name="catalog.csv")

        # Then it loads without a crawl: its partition was registered directly, at its folder
        assert second.status == "SUCCEEDED", second
        assert "CheckCatalog" in second.states
        assert "StartCrawler" not in second.states
        assert second.rows_loaded == 895
        partition = glue.get_partition(DatabaseName=database, TableName="daily_flights", PartitionValues=["2013-03-02"])
        assert partition["Partition"]["StorageDescriptor"]["Location"] == f"{location}date=2013-03-02/"
        # and its notification prices a day without a crawl at a fraction of a cent
        assert second.notification is not None
        assert "crawler skipped" in second.notification["message"]
        assert "job 0.0625 DPU" in second.notification["message"]
        assert second.notification["summary"]["estimated_cost_usd"] <= 0.005
        # and the audit row records the capacity the job was started with
        audit = DuckDBWarehouse(str(pipeline.warehouse_path)).query(
            f"SELECT job_capacity_dpu FROM {schema.AUDIT} WHERE source_file LIKE :f AND status = 'LOADED'",
            {"f": "%date=2013-03-02/catalog.csv"},
        )
        assert [row["job_capacity_dpu"] for row in audit] == [0.0625]
    finally:
        # the other e2e tests start from a catalog without the table (as the emulator's crawler leaves it)
        glue.delete_table(DatabaseName=database, Name="daily_flights")
