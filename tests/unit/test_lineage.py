"""OpenLineage run events: valid per the spec's JSON schema, sent only when the client is configured,
and one run per execution across the validate (START) and notify (COMPLETE / FAIL) steps.

Events are captured with the client's own file transport (``OPENLINEAGE__TRANSPORT__*``), so the
bytes checked are the bytes a Marquez or DataHub would receive.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from jsonschema import ValidationError
from lambda_support import SAMPLE_FLIGHTS, Stack, load_event
from openlineage_schema import validate_run_event

from airline_pipeline.adapters import lineage
from airline_pipeline.adapters.sources import decode_event_key

Invoke = Callable[..., Any]
AT = datetime(2013, 1, 16, 6, 0, tzinfo=timezone.utc)
COUNTS = {"rows_read": 899, "rows_loaded": 895, "rows_rejected": 3, "rows_filtered": 1, "unknown_airports": 2}
S3_FILE = "s3://airline-pipeline-dev-123456789012-us-east-1/daily-flights/date=2013-01-15/flights_2013-01-15.csv"


def as_json(event: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return dict(json.loads(Serde.to_json(event)))


@pytest.fixture(autouse=True)
def _environment_restored() -> Any:
    """The client writes aliases of OPENLINEAGE_URL into os.environ itself (monkeypatch cannot undo
    that): put the environment back, or later tests and their subprocesses would find lineage on."""
    import os

    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@pytest.fixture
def no_lineage_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OpenLineage variable, and a working directory and home without an openlineage.yml."""
    import os

    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def event_file(no_lineage_config: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The client configured with its file transport, one JSON event per line."""
    path = tmp_path / "lineage.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    return path


def sent(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_a_complete_event_with_counts_and_quality_validates_against_the_spec() -> None:
    # Given a load that read 899 rows, loaded 895, rejected 3 and filtered 1
    event = as_json(
        lineage.run_event(
            "COMPLETE", batch_id="2013-01-15-3f2a9c1e", source_file=S3_FILE, warehouse_uri="duckdb:///w.duckdb", at=AT,
            counts=COUNTS,
        )
    )  # fmt: skip
    # Then the event and its four facets (metrics, assertions, statistics, job type) are valid OpenLineage
    assert validate_run_event(event) == 4
    # and they carry the file, the table, the counts and the quality outcome
    [source], [table] = event["inputs"], event["outputs"]
    assert (source["namespace"], source["name"]) == (
        "s3://airline-pipeline-dev-123456789012-us-east-1",
        "daily-flights/date=2013-01-15/flights_2013-01-15.csv",
    )
    assert (table["namespace"], table["name"]) == ("duckdb:///w.duckdb", "airlines.daily_flights_fact")
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == 899
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == 895
    assertions = {a["assertion"]: a for a in source["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert (assertions["rejected_rows"]["success"], assertions["rejected_rows"]["actual"]) == (False, "3")
    assert (assertions["unknown_airports"]["severity"], assertions["unknown_airports"]["actual"]) == ("warn", "2")
    assert assertions["row_count"] == {**assertions["row_count"], "success": True, "expected": "899", "actual": "899"}
    assert event["eventType"] == "COMPLETE"
    assert event["eventTime"] == "2013-01-16T06:00:00+00:00"
    assert uuid.UUID(event["run"]["runId"]) == uuid.UUID(lineage.run_id("2013-01-15-3f2a9c1e"))


def test_a_fail_event_names_the_error_and_validates() -> None:
    event = as_json(
        lineage.run_event(
            "FAIL", batch_id="b1", source_file="/data/date=2013-01-15/f.csv", warehouse_uri="duckdb:///w.duckdb", at=AT,
            error="InvalidHeader: expected Carrier,OriginAirportID,...",
        )
    )  # fmt: skip
    assert validate_run_event(event) == 2  # errorMessage and jobType
    assert event["run"]["facets"]["errorMessage"]["message"].startswith("InvalidHeader: ")
    assert (event["inputs"][0]["namespace"], event["inputs"][0]["name"]) == ("file", "/data/date=2013-01-15/f.csv")


def test_the_validator_refuses_a_broken_event_and_a_broken_facet() -> None:
    good = as_json(
        lineage.run_event(
            "COMPLETE", batch_id="b", source_file=S3_FILE, warehouse_uri="duckdb:///w.duckdb", at=AT, counts=COUNTS
        )
    )
    no_run_id = json.loads(json.dumps(good))
    del no_run_id["run"]["runId"]
    bad_facet = json.loads(json.dumps(good))
    del bad_facet["inputs"][0]["inputFacets"]["dataQualityMetrics"]["columnMetrics"]
    for broken in (no_run_id, bad_facet):
        with pytest.raises(ValidationError):
            validate_run_event(broken)


def test_redshift_tables_are_named_as_the_naming_spec_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    uri = "redshift-data://analytics/dev?iam_role=arn:aws:iam::123456789012:role/copy&staging=s3://b/staging/"
    assert lineage.output_dataset_name(uri) == (
        "redshift://analytics.eu-west-1:5439",
        "dev.airlines.daily_flights_fact",
    )


def test_nothing_is_sent_unless_the_client_is_configured(
    no_lineage_config: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = {"batch_id": "b", "source_file": S3_FILE, "status": "LOADED", **COUNTS}
    # Given no configuration: off
    assert not lineage.enabled()
    assert lineage.emit_load(summary, warehouse_uri="duckdb:///w.duckdb") == 0
    # Given an openlineage.yml where the client looks for one (the working directory): on
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert lineage.enabled()
    # and OPENLINEAGE_DISABLED=true turns it off again
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not lineage.enabled()


def test_a_transport_error_never_fails_the_load(no_lineage_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an HTTP backend that is not there
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    summary = {"batch_id": "b", "source_file": S3_FILE, "status": "LOADED", **COUNTS}
    # Then emitting logs and returns instead of raising
    assert lineage.emit_load(summary, warehouse_uri="duckdb:///w.duckdb") in (0, 2)


def test_validate_starts_and_notify_completes_one_run_per_execution(
    stack: Stack, invoke: Invoke, event_file: Path
) -> None:
    # Given the sample day landed and the client writing to a file
    request = load_event("validate")
    landed = S3EventNotificationEventBridgeModel.model_validate(request["event"]).detail.object
    stack.put(decode_event_key(landed.key), SAMPLE_FLIGHTS.read_bytes())
    # When the execution validates the file, and later NotifySuccess runs for it
    assert invoke("validate", request)["status"] == "accepted"
    invoke("notify", load_event("notify_success"))
    # Then two valid events: START and COMPLETE of one run, with the report's counts
    start, complete = sent(event_file)
    for event in (start, complete):
        validate_run_event(event)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"] == lineage.run_id(request["execution"])
    report = load_event("notify_success")["pipeline"]["report"]
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == report["rows_loaded"]
    assert start["inputs"][0]["name"] == "daily-flights/date=2013-01-15/flights_2013-01-15.csv"


def test_notify_failure_ends_the_run_with_fail(stack: Stack, invoke: Invoke, event_file: Path) -> None:
    event = load_event("notify_failure_lambda")
    invoke("notify", event)
    [fail] = sent(event_file)
    validate_run_event(fail)
    assert fail["eventType"] == "FAIL"
    assert fail["run"]["runId"] == lineage.run_id(event["execution"])
    assert fail["run"]["facets"]["errorMessage"]["message"]


def test_without_configuration_the_steps_send_nothing(stack: Stack, invoke: Invoke, no_lineage_config: None) -> None:
    invoke("notify", load_event("notify_success"))
    assert not list(Path.cwd().glob("*"))  # no file, and nothing raised
