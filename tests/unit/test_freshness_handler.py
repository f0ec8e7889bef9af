"""FreshnessFunction (the ExpectedBy schedule's target), with a fake clock: the event's ``time``.

The warehouse is a DuckDB file whose audit table the tests write as the loads would; DynamoDB and SNS
are moto, the notifications are read back from the queue subscribed to the topic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable

import pytest
from lambda_support import Stack, env_json, load_event

from airline_pipeline.adapters.warehouse import open_warehouse
from airline_pipeline.core import schema
from airline_pipeline.steps.freshness import KEY_PREFIX, window

Invoke = Callable[..., Any]


class Audit:
    """Writes audit rows into the test's warehouse, as a finished load attempt leaves them."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        with open_warehouse(uri) as warehouse:
            warehouse.init_schema()

    def attempt(self, day: str, status: str, *, rows: int = 0, name: str = "flights.csv") -> None:
        import duckdb

        with duckdb.connect(self.uri.removeprefix("duckdb://")) as con:
            con.execute(
                f"INSERT INTO {schema.AUDIT} (batch_id, source_file, flight_date, status, rows_loaded, started_at, "
                "finished_at) VALUES (?, ?, CAST(? AS DATE), ?, ?, now(), now())",
                [f"{day}-{status}", f"s3://b/daily-flights/date={day}/{name}", day, status, rows],
            )


@pytest.fixture
def audit(warehouse_uri: str) -> Audit:
    return Audit(warehouse_uri)


def at(moment: str) -> dict[str, Any]:
    """The sample Scheduled Event, fired at ``moment`` (the fake clock)."""
    return {**load_event("freshness_scheduled"), "time": moment}


def sent(stack: Stack) -> list[tuple[str, str]]:
    return [(n["attributes"]["outcome"], n["subject"]) for n in stack.notifications()]


def test_the_window_ends_lag_days_ago_and_spans_the_lookback() -> None:
    assert window(datetime(2013, 1, 17, 6), lookback_days=3, lag_days=1) == (date(2013, 1, 14), date(2013, 1, 16))
    assert window(datetime(2013, 1, 17, 6), lookback_days=1, lag_days=0) == (date(2013, 1, 17), date(2013, 1, 17))


def test_a_missing_day_is_reported_once_over_many_checks_then_recovered_once(
    stack: Stack, invoke: Invoke, audit: Audit
) -> None:
    # Given 2013-01-14 loaded, 2013-01-15 failed and nothing for 2013-01-16; checks look at 3 days ending yesterday
    audit.attempt("2013-01-14", "LOADED", rows=895)
    audit.attempt("2013-01-15", "FAILED")
    env = {"FRESHNESS_LOOKBACK_DAYS": "3", "EXPECTED_LAG_DAYS": "1"}

    # When the schedule fires at 06:00 and again every hour until 09:00
    first = invoke("freshness", at("2013-01-17T06:00:00Z"), **env)
    later = [invoke("freshness", at(f"2013-01-17T0{h}:00:00Z"), **env) for h in (7, 8, 9)]

    # Then each day not loaded got ONE MISSING notification, at the first check
    assert first["checked_from"] == "2013-01-14"
    assert first["checked_to"] == "2013-01-16"
    assert first["missing_sent"] == ["2013-01-15", "2013-01-16"]
    assert all(result["missing_sent"] == [] and len(result["not_loaded"]) == 2 for result in later)
    assert sent(stack) == [
        ("missing", "[airline-pipeline] MISSING 2013-01-15: no file loaded by 2013-01-17 06:00 UTC"),
        ("missing", "[airline-pipeline] MISSING 2013-01-16: no file loaded by 2013-01-17 06:00 UTC"),
    ]
    bodies = [n["body"] for n in stack.notifications()]
    assert "1 file(s) arrived for this date, none of them loaded" in bodies[0]
    assert "No file for this date has arrived." in bodies[1]
    assert "Expected under: daily-flights/date=2013-01-16/<name>.csv" in bodies[1]

    # When 2013-01-15's file loads and the schedule fires twice more
    audit.attempt("2013-01-15", "LOADED", rows=120, name="fixed.csv")
    recovered = invoke("freshness", at("2013-01-17T10:00:00Z"), **env)
    again = invoke("freshness", at("2013-01-17T11:00:00Z"), **env)

    # Then ONE RECOVERED follows, with the rows now loaded, and nothing more
    assert (recovered["recovered_sent"], again["recovered_sent"]) == (["2013-01-15"], [])
    assert sent(stack)[2:] == [("recovered", "[airline-pipeline] RECOVERED 2013-01-15: 120 rows loaded")]
    body = stack.notifications()[2]["body"]
    assert body.startswith("Flights for 2013-01-15 are loaded now: 1 file(s), 120 rows.")
    assert "reported MISSING at 2013-01-17T06:00:00" in body
    # and the alert state sits in the ledger table under its own keys
    assert stack.ledger_item(f"{KEY_PREFIX}2013-01-15")["status"] == "RECOVERED"  # type: ignore[index]
    assert stack.ledger_item(f"{KEY_PREFIX}2013-01-16")["status"] == "MISSING"  # type: ignore[index]


def test_the_next_day_reports_only_the_newly_missing_day(stack: Stack, invoke: Invoke, audit: Audit) -> None:
    # Given 2013-01-16 was reported MISSING on the 17th
    env = {"FRESHNESS_LOOKBACK_DAYS": "2", "EXPECTED_LAG_DAYS": "1"}
    audit.attempt("2013-01-15", "LOADED", rows=10)
    assert invoke("freshness", at("2013-01-17T06:00:00Z"), **env)["missing_sent"] == ["2013-01-16"]
    # When the check runs the next morning
    result = invoke("freshness", at("2013-01-18T06:00:00Z"), **env)
    # Then 2013-01-16 is still not loaded but not reported again; 2013-01-17 is
    assert result["not_loaded"] == ["2013-01-16", "2013-01-17"]
    assert result["missing_sent"] == ["2013-01-17"]
    assert [subject[:43] for _, subject in sent(stack)] == [
        "[airline-pipeline] MISSING 2013-01-16: no f",
        "[airline-pipeline] MISSING 2013-01-17: no f",
    ]


def test_a_failed_publish_is_forgotten_so_the_next_check_reports_the_day(
    stack: Stack, invoke: Invoke, audit: Audit
) -> None:
    # Given the topic is gone when the first check finds 2013-01-16 missing
    env = {"FRESHNESS_LOOKBACK_DAYS": "1", "EXPECTED_LAG_DAYS": "1"}
    stack.sns.delete_topic(TopicArn=stack.topic_arn)
    with pytest.raises(Exception, match="NotFound"):
        invoke("freshness", at("2013-01-17T06:00:00Z"), **env)
    assert stack.ledger_item(f"{KEY_PREFIX}2013-01-16") is None
    # When the topic is back and the schedule fires again
    topic = stack.sns.create_topic(Name=stack.topic_arn.rsplit(":", 1)[1])["TopicArn"]
    queue_arn = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])
    stack.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    result = invoke("freshness", at("2013-01-17T07:00:00Z"), **env)
    # Then the day is reported now, once
    assert result["missing_sent"] == ["2013-01-16"]
    assert [outcome for outcome, _ in sent(stack)] == ["missing"]


def test_on_redshift_the_check_reads_through_the_reader_port(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airline_pipeline.adapters.warehouse.redshift.reader import RedshiftReader
    from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse

    # Given the dev stack's Redshift warehouse, whose audit table holds one loaded file for 2013-01-15
    # (values as the Data API returns them: text), and a load-capable warehouse that must not be opened
    asked: list[Any] = []

    def query(self: RedshiftReader, sql: str, params: Any = None) -> list[dict[str, Any]]:
        asked.append(params)
        return [
            {"source_file": "s3://b/daily-flights/date=2013-01-15/f.csv", "flight_date": "2013-01-15",
             "status": "LOADED", "rows_loaded": 895, "started_at": "2013-01-16 05:00:00",
             "finished_at": "2013-01-16 05:01:00"},
        ]  # fmt: skip

    def no_load_engine(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the freshness check opened the load warehouse (DuckDB + engine) to read")

    monkeypatch.setattr(RedshiftReader, "query", query)
    monkeypatch.setattr(RedshiftWarehouse, "from_uri", no_load_engine)
    redshift = env_json()["FreshnessFunction"]["WAREHOUSE_URI"]

    # When the schedule fires on the 17th, looking at the 15th and the 16th
    result = invoke(
        "freshness", at("2013-01-17T06:00:00Z"), WAREHOUSE_URI=redshift, FRESHNESS_LOOKBACK_DAYS="2",
        EXPECTED_LAG_DAYS="1",
    )  # fmt: skip

    # Then the read went through awswrangler's reader with both dates bound, and only the 16th is missing
    assert asked == [{"date_from": "2013-01-15", "date_to": "2013-01-16"}]
    assert (result["not_loaded"], result["missing_sent"]) == (["2013-01-16"], ["2013-01-16"])


def test_missing_settings_are_named(invoke: Invoke, stack: Stack) -> None:
    with pytest.raises(Exception, match="EXPECTED_BY"):
        invoke("freshness", at("2013-01-17T06:00:00Z"), EXPECTED_BY=None)
