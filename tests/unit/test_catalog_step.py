"""CheckCatalog: register the day's partition directly, and run the crawler only when discovery is needed.

The catalog runs on moto's Glue (tables, partitions, the crawler's definition); the one Glue
failure moto cannot produce (a partition refused for another reason) comes from a Stubber.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import boto3
import pytest
from botocore.stub import Stubber
from lambda_support import Stack, emitted_metrics, env_json, load_event

from airline_pipeline.core.contract import EXPECTED_HEADER_LINE
from airline_pipeline.steps.catalog import CatalogError, partition_values, plan_catalog

pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish")

Invoke = Callable[..., Any]
CRAWLER = env_json()["CrawlerFunction"]["CRAWLER_NAME"]
DATABASE = "airline_pipeline_dev"
KEY = "daily-flights/date=2013-01-15/flights.csv"


def crawled_table(
    bucket: str, columns: tuple[str, ...] = ("carrier", "originairportid", "destairportid", "depdelay", "arrdelay")
) -> dict[str, Any]:
    """``daily_flights`` as the crawler makes it over s3://<bucket>/daily-flights/ (CSV, partition key ``date``)."""
    types = {"carrier": "string"}
    return {
        "Name": "daily_flights",
        "StorageDescriptor": {
            "Columns": [{"Name": name, "Type": types.get(name, "bigint")} for name in columns],
            "Location": f"s3://{bucket}/daily-flights/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"field.delim": ","},
            },
            "Parameters": {"classification": "csv", "skip.header.line.count": "1", "delimiter": ","},
        },
        "PartitionKeys": [{"Name": "date", "Type": "string"}],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
    }


def plan(stack: Stack, key: str = KEY, header: str = EXPECTED_HEADER_LINE) -> Any:
    return plan_catalog(stack.glue, crawler_name=CRAWLER, bucket=stack.bucket, key=key, header=header)


def test_without_a_table_the_crawler_runs(stack: Stack) -> None:
    # Given the crawler has never catalogued the prefix
    # When a file lands
    decision = plan(stack)
    # Then the crawler must discover the table, and nothing was registered
    assert decision.crawl is True
    assert "no table catalogs" in decision.reason
    assert decision.database == DATABASE
    assert stack.glue.get_tables(DatabaseName=DATABASE)["TableList"] == []


def test_a_new_day_of_a_known_table_is_registered_without_a_crawl(stack: Stack) -> None:
    # Given the crawler's table, with one day catalogued already
    stack.glue.create_table(DatabaseName=DATABASE, TableInput=crawled_table(stack.bucket))

    # When the next day's file lands
    decision = plan(stack)

    # Then its partition is there, at its folder, with the table's storage settings, and no crawl is needed
    assert (decision.crawl, decision.registered, decision.table) == (False, True, "daily_flights")
    assert decision.partition_values == ["2013-01-15"]
    partition = stack.glue.get_partition(
        DatabaseName=DATABASE, TableName="daily_flights", PartitionValues=["2013-01-15"]
    )
    storage = partition["Partition"]["StorageDescriptor"]
    assert storage["Location"] == f"s3://{stack.bucket}/daily-flights/date=2013-01-15/"
    assert storage["SerdeInfo"]["Parameters"] == {"field.delim": ","}
    assert [c["Name"] for c in storage["Columns"]] == [
        "carrier",
        "originairportid",
        "destairportid",
        "depdelay",
        "arrdelay",
    ]


def test_a_second_file_of_the_same_day_finds_the_partition_there(stack: Stack) -> None:
    # Given the day's partition exists (an earlier file of the day, or a crawl)
    stack.glue.create_table(DatabaseName=DATABASE, TableInput=crawled_table(stack.bucket))
    assert plan(stack).registered is True

    # When another file of that day lands
    decision = plan(stack, key="daily-flights/date=2013-01-15/late.csv")

    # Then "already exists" is fine: no crawl, nothing created twice
    assert (decision.crawl, decision.registered) == (False, False)
    assert "already registered" in decision.reason
    partitions = stack.glue.get_partitions(DatabaseName=DATABASE, TableName="daily_flights")["Partitions"]
    assert len(partitions) == 1


def test_a_header_the_catalog_does_not_have_runs_the_crawler(stack: Stack) -> None:
    # Given a table catalogued with other columns (the header changed since)
    table = crawled_table(stack.bucket, columns=("carrier", "origin", "dest", "depdelay", "arrdelay"))
    stack.glue.create_table(DatabaseName=DATABASE, TableInput=table)

    # When a file with the contract's header lands
    decision = plan(stack)

    # Then the crawler must update the schema; no partition was registered with the stale one
    assert decision.crawl is True
    assert "differs from daily_flights's columns" in decision.reason
    assert stack.glue.get_partitions(DatabaseName=DATABASE, TableName="daily_flights")["Partitions"] == []


def test_header_case_and_spaces_are_not_a_change(stack: Stack) -> None:
    # The crawler lower-cases column names; the contract trims and ignores case
    stack.glue.create_table(DatabaseName=DATABASE, TableInput=crawled_table(stack.bucket))
    assert plan(stack, header=" carrier , ORIGINAIRPORTID,DestAirportID,DepDelay,ArrDelay").crawl is False


@pytest.mark.parametrize(
    "key",
    [
        "daily-flights/date=2013-01-15/backfill/flights.csv",  # a folder deeper than the partition layout
        "daily-flights/day=2013-01-15/flights.csv",  # another partition name
        "daily-flights/flights.csv",  # no partition folder
    ],
)
def test_folders_that_are_not_the_tables_layout_run_the_crawler(stack: Stack, key: str) -> None:
    stack.glue.create_table(DatabaseName=DATABASE, TableInput=crawled_table(stack.bucket))
    decision = plan(stack, key=key)
    assert decision.crawl is True
    assert "partition layout" in decision.reason


def test_a_missing_crawler_is_left_to_the_crawler_step_to_report(stack: Stack) -> None:
    # Given the crawler is gone (deleted, or CRAWLER_NAME is wrong)
    stack.glue.delete_crawler(Name=CRAWLER)
    # When a file lands, Then the crawler path runs, where StartCrawler fails naming the crawler
    decision = plan(stack)
    assert decision.crawl is True
    assert decision.reason == f"crawler {CRAWLER} not found"


def test_partition_values_follow_the_crawlers_naming() -> None:
    assert partition_values(["date=2013-01-15"], ["date"]) == ["2013-01-15"]
    assert partition_values(["2013", "01"], ["partition_0", "partition_1"]) == ["2013", "01"]
    assert partition_values(["date="], ["date"]) is None
    assert partition_values(["date=2013-01-15"], []) is None


def test_a_partition_glue_refuses_for_another_reason_fails_the_step(aws_credentials: None) -> None:
    # Given Glue answers the registration with an error that is not "already exists"
    glue = boto3.client("glue", region_name="us-east-1")
    bucket = "airline-pipeline-dev-123456789012-us-east-1"
    table = {**crawled_table(bucket), "DatabaseName": DATABASE}
    with Stubber(glue) as stub:
        stub.add_response(
            "get_crawler",
            {
                "Crawler": {
                    "Name": CRAWLER,
                    "DatabaseName": DATABASE,
                    "Targets": {"S3Targets": [{"Path": f"s3://{bucket}/daily-flights/"}]},
                }
            },
        )
        stub.add_response("get_tables", {"TableList": [copy.deepcopy(table)]}, {"DatabaseName": DATABASE})
        stub.add_response(
            "batch_create_partition",
            {
                "Errors": [
                    {
                        "PartitionValues": ["2013-01-15"],
                        "ErrorDetail": {
                            "ErrorCode": "ResourceNumberLimitExceededException",
                            "ErrorMessage": "too many",
                        },
                    }
                ]
            },
        )
        # When the step registers the partition, Then it raises (Retry, then Catch -> NotifyFailure)
        with pytest.raises(CatalogError, match="ResourceNumberLimitExceededException: too many"):
            plan_catalog(glue, crawler_name=CRAWLER, bucket=bucket, key=KEY, header=EXPECTED_HEADER_LINE)


def test_the_function_answers_the_catalog_action(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the table exists
    stack.glue.create_table(DatabaseName=DATABASE, TableInput=crawled_table(stack.bucket))
    capsys.readouterr()

    # When CheckCatalog invokes the crawler function with the sample event
    result = invoke("crawler", load_event("crawler_catalog"))

    # Then the state machine's Choice reads crawl=false, and the skip is counted
    assert result["crawl"] is False
    assert result["partition_values"] == ["2013-01-15"]
    assert emitted_metrics(capsys.readouterr().out) == {"CrawlsSkipped": 1.0}
