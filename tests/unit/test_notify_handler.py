"""NotifyFunction: one SNS message per execution, then the file's ledger entry closed.

The inputs are the state machine's whole state as NotifySuccess / NotifyFailure pass it (see the
ASL's Parameters), taken from real runs: ``events/notify_*.json``. Every failure shape - a
validation result, a Lambda error (``Cause`` is a JSON string), a Glue job run - must reach a
person as: which file, which step, which error, what cause.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError
from lambda_support import Stack, load_event

from airline_pipeline.ledger import FAILED, IN_FLIGHT, LOADED, REJECTED, Ledger

# NotifyFunction adds a metric on failures only; a success flush is empty and Powertools warns.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

Invoke = Callable[..., Any]


def claimed(stack: Stack, event: dict[str, Any]) -> str:
    """Given the file's ledger entry as the validate step left it for this execution."""
    validation = event["pipeline"]["validation"]
    claim = Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(
        validation["file_id"], owner=event["pipeline"]["id"]
    )
    assert claim.claimed
    return str(validation["file_id"])


def published(stack: Stack) -> dict[str, Any]:
    """The one message on the topic, with its ``summary`` attribute decoded."""
    messages = stack.notifications()
    assert len(messages) == 1, messages
    message = messages[0]
    return {**message, "summary": json.loads(message["attributes"]["summary"])}


def assert_subject_fits_sns(subject: str) -> None:
    assert len(subject) < 100
    assert subject.isascii()
    assert subject.isprintable()


def test_success_publishes_the_numbers_and_closes_the_ledger_loaded(stack: Stack, invoke: Invoke) -> None:
    # Given an execution that loaded the sample day and reported it
    event = load_event("notify_success")
    file_id = claimed(stack, event)
    report = event["pipeline"]["report"]

    # When NotifySuccess invokes the function
    result = invoke("notify", event)

    # Then one message says what was loaded, for people (subject, body) and machines (summary)
    message = published(stack)
    assert message["subject"] == result["subject"]
    assert_subject_fits_sns(message["subject"])
    assert message["subject"] == "[airline-pipeline] LOADED 2013-01-15 flights_2013-01-15.csv: 895 rows, 3 rejected"
    body = message["body"]
    assert body == result["body"]
    assert event["pipeline"]["validation"]["source_uri"] in body
    assert "Rows loaded:    895" in body
    assert "Rows rejected:  3" in body
    assert "(airport ids 99999)" in body
    assert "1 x wrong_field_count (first at line 898: AA,10570,11000,4)" in body
    assert f"SELECT * FROM {report['rejected_rows_location']}" in body
    assert message["attributes"]["outcome"] == "success"
    summary = message["summary"]
    assert summary == result["summary"]
    assert summary["outcome"] == "success"
    assert summary["batch_id"] == event["execution"]
    assert summary["source_file"] == event["pipeline"]["validation"]["source_uri"]
    for name in ("rows_read", "rows_loaded", "rows_rejected", "rows_filtered", "unknown_airports"):
        assert summary[name] == report[name], name
    assert summary["duration_seconds"] > 0
    # and the ledger entry is closed: duplicate events for these bytes are now skipped
    item = stack.ledger_item(file_id)
    assert item is not None
    assert item["status"] == LOADED
    assert item["detail"] == f"execution {event['execution']}"


FAILURES = [
    pytest.param(
        "notify_failure_validation",
        "ValidateFile",
        "InvalidHeader",
        "found 'Year,Month,DayofMonth,Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay'",
        id="invalid-file",
    ),
    pytest.param(
        "notify_failure_lambda",
        "StartCrawler",
        "Runtime.HandlerError",
        "(EntityNotFoundException) when calling the StartCrawler operation: "
        "Crawler airline-pipeline-dev-daily-flights not found",
        id="lambda-error",
    ),
    pytest.param(
        "notify_failure_glue_job",
        "RunLoadJob",
        "GlueJobFAILED",
        'ERROR: relation "airlines.load_audit" does not exist',
        id="glue-job-failed",
    ),
]


@pytest.mark.parametrize(("name", "state", "error", "cause"), FAILURES)
def test_failure_names_the_state_the_error_and_the_cause(
    stack: Stack, invoke: Invoke, *, name: str, state: str, error: str, cause: str
) -> None:
    # Given an execution that failed (a real failure shape of the state machine)
    event = load_event(name)
    validation = event["pipeline"]["validation"]
    if validation["status"] == "accepted":
        claimed(stack, event)

    # When NotifyFailure invokes the function
    result = invoke("notify", event)

    # Then the message names the file, the failing state, the error type and the cause as text
    message = published(stack)
    subject, body = message["subject"], message["body"]
    assert_subject_fits_sns(subject)
    file_name = validation["key"].rsplit("/", 1)[1]
    assert subject == f"[airline-pipeline] FAILED {validation['flight_date']} {file_name}: {error} in {state}"
    assert f"{validation['source_uri']} was NOT loaded" in body
    assert f"Failed step: {state}\n" in body
    assert f"Error:       {error}\n" in body
    assert cause in body
    assert '"errorMessage"' not in body, "a Lambda error's Cause is shown as text, not as its JSON"
    assert event["execution"] in body
    assert message["attributes"]["outcome"] == "failure"
    summary = message["summary"]
    assert summary == result["summary"]
    assert (summary["outcome"], summary["failed_state"], summary["error"]) == ("failure", state, error)
    assert cause in summary["cause"]
    assert summary["flight_date"] == validation["flight_date"]


@pytest.mark.parametrize("name", ["notify_failure_lambda", "notify_failure_glue_job"])
def test_failure_closes_the_ledger_failed_so_a_new_event_retries(stack: Stack, invoke: Invoke, name: str) -> None:
    # Given an accepted file whose execution failed after the validate step
    event = load_event(name)
    file_id = claimed(stack, event)

    # When the failure is notified
    invoke("notify", event)

    # Then the ledger says FAILED, which a later event for the same bytes may claim again
    item = stack.ledger_item(file_id)
    assert item is not None
    assert item["status"] == FAILED
    assert item["detail"] == f"execution {event['execution']}"
    assert Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(file_id, owner="a-later-upload").claimed


def test_rejected_file_keeps_the_ledger_entry_validate_wrote(stack: Stack, invoke: Invoke) -> None:
    # Given a file the validate step rejected (and closed REJECTED itself)
    event = load_event("notify_failure_validation")
    file_id = event["pipeline"]["validation"]["file_id"]
    detail = "InvalidHeader: " + event["pipeline"]["validation"]["message"]
    stack.put_ledger_item(file_id, REJECTED, detail=detail, updated_at="1795469563")

    # When the failure is notified
    invoke("notify", event)

    # Then the ledger entry is untouched: REJECTED, never FAILED (which would let a duplicate re-run it)
    assert stack.ledger_item(file_id) == {
        "file_id": file_id,
        "status": REJECTED,
        "owner": "an-earlier-event",
        "detail": detail,
        "updated_at": "1795469563",
    }


def test_skipped_file_leaves_the_owning_executions_claim_alone(stack: Stack, invoke: Invoke) -> None:
    # Given a file another execution is loading, and this execution's validation said "skipped"
    event = load_event("notify_failure_lambda")
    validation = event["pipeline"]["validation"]
    validation.update(status="skipped", message=f"{validation['source_uri']} is already IN_FLIGHT (event 9d1c...)")
    Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(validation["file_id"], owner="the-owning-event")

    # When a notification runs for it anyway
    invoke("notify", event)

    # Then the other execution's claim is not closed under it
    item = stack.ledger_item(validation["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, "the-owning-event")


@pytest.mark.parametrize(
    ("error", "cause", "expected_error", "expected_cause"),
    [
        pytest.param(
            "EntityNotFoundException",
            {
                "errorMessage": "An error occurred (EntityNotFoundException) when calling the StartCrawler "
                "operation: Crawler airline-pipeline-dev-daily-flights not found",
                "errorType": "EntityNotFoundException",
                "requestId": "8f5d2c1b-7a3e-4d6f-9b0a-1c2e3d4f5a6b",
                "stackTrace": ['  File "/var/task/app.py", line 27, in handler\n'],
            },
            "EntityNotFoundException",
            "Crawler airline-pipeline-dev-daily-flights not found",
            id="aws-lambda-error",
        ),
        pytest.param(
            "States.TaskFailed",
            {"errorMessage": "no load recorded for batch c0ad4418", "errorType": "LoadFailed"},
            "LoadFailed",
            "no load recorded for batch c0ad4418",
            id="task-failed-keeps-the-real-type",
        ),
        pytest.param(
            "Sandbox.Timedout",
            {
                "errorMessage": "RequestId: 8f5d2c1b-7a3e-4d6f-9b0a-1c2e3d4f5a6b "
                "Error: Task timed out after 30.00 seconds",
                "errorType": "Sandbox.Timedout",
            },
            "Sandbox.Timedout",
            "Task timed out after 30.00 seconds",
            id="lambda-timeout",
        ),
        pytest.param(
            "Lambda.Unknown",
            "The cause could not be determined because Lambda did not return an error type. Returned payload: null",
            "Lambda.Unknown",
            "The cause could not be determined",
            id="plain-text-cause",
        ),
    ],
)
def test_lambda_error_shapes_are_reduced_to_type_and_text(
    stack: Stack, invoke: Invoke, *, error: str, cause: Any, expected_error: str, expected_cause: str
) -> None:
    # Given a Lambda failure as AWS reports it (the error name is the exception type; Cause is JSON or text)
    event = load_event("notify_failure_lambda")
    text = cause if isinstance(cause, str) else json.dumps(cause)
    event["pipeline"]["error"] = {"Error": error, "Cause": text}
    event["pipeline"]["failure"] = {"state": "StartCrawler", "error": error, "cause": text}
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the error type and the message are shown, not the JSON envelope or the stack trace
    assert result["summary"]["error"] == expected_error
    assert expected_cause in result["summary"]["cause"]
    assert f"Error:       {expected_error}\n" in result["body"]
    assert "stackTrace" not in result["body"]
    assert_subject_fits_sns(result["subject"])


def test_glue_run_without_an_error_message_still_says_what_happened(stack: Stack, invoke: Invoke) -> None:
    # Given a job run that timed out: Glue gives no ErrorMessage
    event = load_event("notify_failure_glue_job")
    run = event["pipeline"]["failure"]["job_run"]
    run.pop("ErrorMessage")
    run["JobRunState"] = "TIMEOUT"
    event["pipeline"]["failure"]["error"] = "GlueJobTIMEOUT"
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the run id and its end state make the cause
    assert result["summary"]["cause"] == f"Glue job run {run['Id']} ended GlueJobTIMEOUT"
    assert "in RunLoadJob" in result["subject"]


@pytest.mark.parametrize(
    ("name", "subject_start"),
    [
        pytest.param(
            "Flüge_München\u2013Zürich_" + "Sommerflugplan_" * 8 + ".csv",
            "[airline-pipeline] FAILED 2013-01-17 Fl?ge_M?nchen?Z?rich_Sommerflugplan_",
            id="long-non-ascii",
        ),
        pytest.param(
            "flights\t2013-01-17\r.csv",
            "[airline-pipeline] FAILED 2013-01-17 flights 2013-01-17 .csv: Runtime.HandlerError",
            id="control-characters",
        ),
    ],
)
def test_any_file_name_keeps_the_subject_within_sns_limits(
    stack: Stack, invoke: Invoke, name: str, subject_start: str
) -> None:
    # Given a failure for a file whose name SNS would refuse in a subject (S3 keys may hold any character)
    event = load_event("notify_failure_lambda")
    key = f"daily-flights/date=2013-01-17/{name}"
    validation = event["pipeline"]["validation"]
    validation.update(key=key, source_uri=f"s3://{validation['bucket']}/{key}")
    claimed(stack, event)

    # When it is notified
    invoke("notify", event)

    # Then SNS accepts the subject (< 100 printable ASCII characters), and the body keeps the real name
    message = published(stack)
    assert_subject_fits_sns(message["subject"])
    assert message["subject"].startswith(subject_start)
    assert key in message["body"]


def test_state_without_validation_names_the_file_from_the_event(stack: Stack, invoke: Invoke) -> None:
    # Given the validate step itself crashed: the state has the S3 event and the failure only
    event = load_event("notify_failure_lambda")
    pipeline = event["pipeline"]
    del pipeline["validation"]
    pipeline["failure"]["state"] = "ValidateFile"

    # When it is notified
    result = invoke("notify", event)

    # Then the file is named from the event (its key as the event has it) and the ledger is not touched
    bucket, key = pipeline["detail"]["bucket"]["name"], pipeline["detail"]["object"]["key"]
    assert result["summary"]["source_file"] == f"s3://{bucket}/{key}"
    assert "in ValidateFile" in result["subject"]
    assert stack.ledger_item(f"s3://{bucket}/{key}") is None


def test_unpublished_notification_leaves_the_ledger_open(stack: Stack, invoke: Invoke) -> None:
    # Given the topic is gone
    event = load_event("notify_success")
    file_id = claimed(stack, event)
    stack.sns.delete_topic(TopicArn=stack.topic_arn)

    # When NotifySuccess invokes the function, Then it fails (Retry, then Catch -> LoadedButNotNotified)
    with pytest.raises(ClientError, match="Publish operation") as raised:
        invoke("notify", event)
    assert raised.value.response["Error"]["Code"] == "NotFound"

    # and the ledger is not closed: the outcome is recorded only once it has been told
    item = stack.ledger_item(file_id)
    assert item is not None
    assert item["status"] == IN_FLIGHT
