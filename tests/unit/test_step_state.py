"""Typed step state: the notifier receives models, not dictionaries it has to guess at."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from airline_pipeline.core.outcome import ROW_COUNTS, LoadOutcome, LoadSummary
from airline_pipeline.ops.reprocess import FileResult
from airline_pipeline.steps.crawler import CrawlerState
from airline_pipeline.steps.notify import NotifyRequest
from airline_pipeline.steps.state import CaughtError, Failure, GlueJobRun
from airline_pipeline.steps.validate import ValidationResult
from airline_pipeline.steps.verify_load import BatchReport

EVENTS = Path(__file__).resolve().parents[2] / "events"


def request(name: str) -> NotifyRequest:
    return NotifyRequest.model_validate(json.loads((EVENTS / f"{name}.json").read_text()))


def test_a_success_state_carries_each_steps_result_as_its_model() -> None:
    # Given the state NotifySuccess receives
    state = request("notify_success").pipeline

    # Then every step's result is its own model, and the S3 event is Powertools' model
    assert isinstance(state.validation, ValidationResult)
    assert isinstance(state.crawler, CrawlerState)
    assert isinstance(state.report, BatchReport)
    assert state.failure is None
    event = state.event()
    assert event is not None
    assert f"s3://{event.detail.bucket.name}/" in state.validation.source_uri


def test_the_report_adds_only_its_own_fields_to_the_loads_outcome() -> None:
    # Given the load's outcome (the CLI, the Glue job) and the report step's report
    shared = {field.name for field in dataclasses.fields(LoadOutcome)}
    # Then the batch's identity and counts are declared once, in LoadOutcome, for both
    assert {field.name for field in dataclasses.fields(LoadSummary)} >= shared
    own = {field.name for field in dataclasses.fields(BatchReport)} - shared
    assert own == {"fact_rows", "job_capacity_dpu", "top_rejection_reasons", "rejected_rows_location"}
    assert set(ROW_COUNTS) <= shared


def test_the_report_validates_the_counts_it_inherits() -> None:
    # Given $.report with a count that is not a number
    report = request("notify_success").model_dump(mode="json")["pipeline"]["report"]
    report["rows_rejected"] = "three"
    # When it is parsed, then pydantic refuses it (the inherited stdlib dataclass fields are validated)
    with pytest.raises(ValidationError, match="rows_rejected"):
        BatchReport(**report)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("notify_failure_lambda", "caught"),
        ("notify_failure_validation", "cause"),
        ("notify_failure_glue_job", "job_run"),
    ],
)
def test_each_failure_shape_of_the_state_machine_is_typed(name: str, shape: str) -> None:
    # Given a failure state of each shape the Pass states build
    failure = request(name).pipeline.failure

    # Then it parses into the shape's own fields, and describes itself with a real error and cause
    assert failure is not None
    kinds: dict[str, Any] = {"caught": CaughtError, "cause": str, "job_run": GlueJobRun}
    assert isinstance(getattr(failure, shape), kinds[shape])
    described = failure.describe()
    assert described.state == failure.state
    assert described.error != "UnknownError"
    assert described.cause


def test_a_lambda_errors_own_type_replaces_the_generic_one() -> None:
    # Given a Catch of a Lambda error, as Step Functions reports it locally
    cause = json.dumps({"errorMessage": "crawler not found", "errorType": "EntityNotFoundException"})
    failure = Failure(state="StartCrawler", caught=CaughtError(Error="Runtime.HandlerError", Cause=cause))

    # Then the notification names the Lambda's error type and message
    assert tuple(failure.describe()) == ("StartCrawler", "EntityNotFoundException", "crawler not found")


def test_a_glue_traceback_is_reduced_to_its_last_line() -> None:
    run = GlueJobRun(Id="jr_1", ErrorMessage="Traceback (most recent call last):\n  File x\nValueError: bad uri\n")
    assert Failure(state="RunLoadJob", error="GlueJobFAILED", job_run=run).describe().cause == "ValueError: bad uri"
    assert GlueJobRun(Id="jr_2").cause("GlueJobTIMEOUT") == "Glue job run jr_2 ended GlueJobTIMEOUT"


def test_a_reprocess_line_is_a_projection_of_the_load_summary() -> None:
    # Given a file whose load failed before it knew a date
    summary = LoadSummary(batch_id="b-1", source_file="/in/date=2013-01-02/x.csv", status="FAILED", error="Bad")
    # When the reprocess summary shows it
    line = FileResult(date(2013, 1, 2), summary).as_json()
    # Then it keeps its folder's date and shows the summary's own values, declared nowhere else
    assert line["file"] == summary.source_file
    assert line["flight_date"] == "2013-01-02"
    assert {name: line[name] for name in FileResult.SHOWN} == {
        name: getattr(summary, name) for name in FileResult.SHOWN
    }
    assert [field.name for field in dataclasses.fields(FileResult)] == ["flight_date", "summary"]
