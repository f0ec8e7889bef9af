"""NotifyFunction: one SNS message per execution, then this execution's ledger claim closed.

The inputs are the state machine's whole state as NotifySuccess / NotifyFailure pass it (see the
ASL's Parameters), taken from real runs: ``events/notify_*.json``. Every failure shape - a
validation result, a caught error (``{"Error", "Cause"}``, the Cause possibly absent or a Lambda
error's JSON), a Glue job run - must reach a person as: which file, which step, which error, what
cause, and what the failure means for the warehouse. The ledger item is closed only when it is this
execution's claim: a skipped duplicate, a rejected file and a claim another execution took over are
left alone.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Optional

import pytest
from botocore.exceptions import ClientError
from lambda_support import Stack, emitted_metrics, load_event

from airline_pipeline.adapters.ledger import FAILED, IN_FLIGHT, LOADED, REJECTED, Ledger, file_id
from airline_pipeline.adapters.sources import decode_event_key

# NotifyFunction always publishes a metric: an empty flush (Powertools warns) is a regression.
pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish")

Invoke = Callable[..., Any]


def claimed(stack: Stack, event: dict[str, Any], *, owner: Optional[str] = None) -> str:
    """Given the file's ledger entry as the validate step left it: claimed by this execution (or ``owner``)."""
    validation = event["pipeline"]["validation"]
    claim = Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(
        validation["file_id"], owner=owner or event["execution"]
    )
    assert claim.claimed
    return str(validation["file_id"])


def event_file_id(pipeline: dict[str, Any]) -> str:
    """The ledger id of the file the state's S3 event names (the key decoded, as the validate step claims it)."""
    obj = pipeline["detail"]["object"]
    return file_id(pipeline["detail"]["bucket"]["name"], decode_event_key(obj["key"]), obj["etag"])


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


def failed_with(failure: dict[str, Any], *, name: str = "notify_failure_lambda") -> dict[str, Any]:
    """A failure notification input whose ``$.failure`` is ``failure`` (the rest of the state as in ``name``)."""
    event = load_event(name)
    event["pipeline"]["failure"] = failure
    return event


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
    # and this execution's claim is closed: duplicate events for these bytes are now skipped
    item = stack.ledger_item(file_id)
    assert item is not None
    assert (item["status"], item["owner"]) == (LOADED, event["execution"])
    assert item["detail"] == f"execution {event['execution']}"


def test_success_says_what_the_file_cost(stack: Stack, invoke: Invoke) -> None:
    # Given the sample execution: the first day, so the crawler ran; the job ran 4 s at 1/16 DPU
    event = load_event("notify_success")
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then one line prices it: the job at its 1-minute minimum, the crawl at its 10-minute minimum
    [line] = [line for line in result["body"].splitlines() if line.startswith("Estimated AWS cost: $")]
    assert "job 0.0625 DPU x 60 s" in line
    assert "crawler 1 DPU x 600 s" in line
    assert "Redshift compute not included" in line
    glue = (0.0625 * 60 + 600) / 3600 * 0.44
    assert glue < result["summary"]["estimated_cost_usd"] < glue + 0.001


def test_a_day_without_a_crawl_costs_a_fraction_of_a_cent(stack: Stack, invoke: Invoke) -> None:
    # Given a later day: the catalog step registered the partition, so the crawler never ran
    event = load_event("notify_success")
    pipeline = event["pipeline"]
    del pipeline["crawler"]
    pipeline["catalog"] = {"crawl": False, "reason": "partition registered", "registered": True}
    pipeline["jobRun"]["run"]["ExecutionTime"] = 61
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the crawl is not in the bill and the file costs <= $0.005
    [line] = [line for line in result["body"].splitlines() if line.startswith("Estimated AWS cost: $")]
    assert "crawler skipped" in line
    assert "job 0.0625 DPU x 61 s" in line
    assert result["summary"]["estimated_cost_usd"] <= 0.005


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("notify_success", {"Notifications": 1.0}, id="success"),
        pytest.param("notify_failure_lambda", {"Notifications": 1.0, "Failures": 1.0}, id="failure"),
    ],
)
def test_every_notification_is_counted(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str], name: str, expected: dict[str, float]
) -> None:
    # Given an execution's outcome
    event = load_event(name)
    claimed(stack, event)
    capsys.readouterr()

    # When it is notified
    invoke("notify", event)

    # Then the function publishes its metrics (CloudWatch EMF on stdout): never an empty flush
    assert emitted_metrics(capsys.readouterr().out) == expected


#: The Glue job's stderr: "<Code>: <message>" first, then the traceback (events/notify_failure_glue_job.json).
GLUE_FIRST_LINE = (
    "LoadFailed: could not load batch 1a3430e1-5c30-4461-b4d0-9849ac50eb60: Redshift says FAILED: statement 6 of 6 "
    '(INSERT INTO airlines.load_audit ...): ERROR: relation "airlines.load_audit" does not exist'
)

FAILURES = [
    pytest.param(
        "notify_failure_validation",
        "ValidateFile",
        "InvalidHeader",
        "wrong header: expected 'Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay', "
        "found 'Year,Month,DayofMonth,Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay'",
        [
            "Nothing was loaded: the file was refused before any work was done.",
            "Fix the file and upload it again (a new upload is a new version).",
        ],
        id="invalid-file",
    ),
    pytest.param(
        "notify_failure_lambda",
        "StartCrawler",
        "Runtime.HandlerError",
        "An error occurred (EntityNotFoundException) when calling the StartCrawler operation: "
        "Crawler airline-pipeline-dev-daily-flights not found",
        ["Nothing was loaded: the load job had not started.", "airline-pipeline reprocess --from DATE --to DATE"],
        id="lambda-error",
    ),
    pytest.param(
        "notify_failure_glue_job",
        "RunLoadJob",
        "GlueJobFAILED",
        GLUE_FIRST_LINE,
        [
            "Nothing from this file was loaded: a load is one transaction, and any earlier copy of the file is intact.",
            "airline-pipeline reprocess --from DATE --to DATE",
        ],
        id="glue-job-failed",
    ),
]


@pytest.mark.parametrize(("name", "state", "error", "cause", "aftermath"), FAILURES)
def test_failure_names_the_state_the_error_and_the_cause(
    stack: Stack, invoke: Invoke, *, name: str, state: str, error: str, cause: str, aftermath: list[str]
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
    assert body.startswith(f"{validation['source_uri']} (flight date {validation['flight_date']}) failed in {state}.\n")
    assert f"Failed step: {state}\n" in body
    assert f"Error:       {error}\n" in body
    assert f"Cause:       {cause}\n" in body
    assert '"errorMessage"' not in body, "a Lambda error's Cause is shown as text, not as its JSON"
    assert "Traceback" not in body, "a Glue run's cause is its first line, not the traceback"
    # and what the failure means for the warehouse, and what to do
    for line in aftermath:
        assert line in body
    assert f"Execution:   {event['execution']}" in body
    assert message["attributes"]["outcome"] == "failure"
    summary = message["summary"]
    assert summary == result["summary"]
    assert (summary["outcome"], summary["failed_state"], summary["error"]) == ("failure", state, error)
    assert summary["cause"] == cause
    assert summary["flight_date"] == validation["flight_date"]


#: Per failed state (every state the ASL's failure descriptions name): what the body must say, and must not.
AFTERMATH = {
    "ValidateFile": (["Nothing was loaded: the file was refused", "Fix the file and upload it again"], []),
    "CheckCatalog": (["Nothing was loaded: the load job had not started.", "airline-pipeline reprocess"], []),
    "StartCrawler": (["Nothing was loaded: the load job had not started.", "airline-pipeline reprocess"], []),
    "GetCrawlerState": (["Nothing was loaded: the load job had not started.", "airline-pipeline reprocess"], []),
    "StartLoadJob": (["Nothing was loaded: the load job had not started.", "airline-pipeline reprocess"], []),
    "GetLoadJobRun": (
        ["The load job was started, but its state could not be read", "airline-pipeline history"],
        ["Nothing was loaded", "had not started"],
    ),
    "RunLoadJob": (["any earlier copy of the file is intact", "airline-pipeline reprocess"], []),
    "Report": (
        ["The load job succeeded, but its outcome could not be read back", "airline-pipeline history"],
        ["Nothing was loaded", "Nothing from this file was loaded", "not loaded", "NOT loaded"],
    ),
}


def test_every_failed_state_has_its_own_wording(asl: dict[str, Any]) -> None:
    # The states a failure can be reported for are exactly the ones the wording table covers
    named = {
        state["Parameters"]["state"]
        for state in asl["States"].values()
        if state["Type"] == "Pass" and state.get("ResultPath") == "$.failure"
    }
    assert named == set(AFTERMATH)


@pytest.mark.parametrize("state", sorted(AFTERMATH))
def test_failure_wording_follows_the_failed_step(stack: Stack, invoke: Invoke, state: str) -> None:
    # Given an execution that failed in one state (caught as the ASL's *Failed Pass states pass it)
    event = failed_with({"state": state, "caught": {"Error": "States.TaskFailed", "Cause": "it broke"}})
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the body says what that failure means for the loaded rows - no more, no less
    says, never = AFTERMATH[state]
    for words in says:
        assert words in result["body"], (state, words)
    for words in never:
        assert words not in result["body"], (state, words)
    assert f"failed in {state}." in result["body"]
    assert result["summary"]["failed_state"] == state


def test_report_failure_does_not_claim_nothing_was_loaded(stack: Stack, invoke: Invoke) -> None:
    # Given an execution whose load job SUCCEEDED, and whose report step then failed (the warehouse was busy)
    event = load_event("notify_success")
    event["outcome"] = "failure"
    pipeline = event["pipeline"]
    del pipeline["report"]
    caught = {
        "Error": "Runtime.HandlerError",
        "Cause": json.dumps({"errorMessage": "warehouse busy for 600 s", "errorType": "WarehouseBusy"}),
    }
    pipeline["error"] = caught
    pipeline["failure"] = {"state": "Report", "caught": caught}
    claimed(stack, event)

    # When NotifyFailure tells it
    result = invoke("notify", event)

    # Then the message says the load succeeded and how to check, never that nothing was loaded
    body = result["body"]
    assert "The load job succeeded, but its outcome could not be read back" in body
    assert "If the history shows no LOADED row for this batch, reprocess the file." in body
    assert "Nothing" not in body
    assert "NOT loaded" not in body
    assert (result["summary"]["error"], result["summary"]["cause"]) == ("WarehouseBusy", "warehouse busy for 600 s")
    assert "WarehouseBusy in Report" in result["subject"]


@pytest.mark.parametrize(
    ("caught", "error", "cause_line", "summary_cause"),
    [
        pytest.param(
            {"Error": "States.Timeout", "Cause": "Task timed out after 30 seconds"},
            "States.Timeout",
            "Cause:       Task timed out after 30 seconds\n",
            "Task timed out after 30 seconds",
            id="with-cause",
        ),
        pytest.param(
            {"Error": "States.Timeout"},
            "States.Timeout",
            "Cause:       (none given)\n",
            "",
            id="without-cause",
        ),
        pytest.param(
            {"Error": "States.Timeout", "Cause": ""},
            "States.Timeout",
            "Cause:       (none given)\n",
            "",
            id="empty-cause",
        ),
    ],
)
def test_caught_error_is_described_with_or_without_a_cause(
    stack: Stack, invoke: Invoke, *, caught: dict[str, str], error: str, cause_line: str, summary_cause: str
) -> None:
    # Given a Task whose Catch passed the error as is ($.failure.caught; Step Functions may give no Cause)
    event = failed_with({"state": "StartCrawler", "caught": caught})
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the error is named, and the cause shown - or said to be missing
    message = published(stack)
    assert message["body"] == result["body"]
    assert f"Error:       {error}\n" in result["body"]
    assert cause_line in result["body"]
    assert (result["summary"]["error"], result["summary"]["cause"]) == (error, summary_cause)
    assert f"{error} in StartCrawler" in result["subject"]


def test_glue_cause_is_the_first_line_of_the_runs_error_message(stack: Stack, invoke: Invoke) -> None:
    # Given a failed load whose ErrorMessage is the job's stderr: its error line, then the traceback
    event = load_event("notify_failure_glue_job")
    message = event["pipeline"]["failure"]["job_run"]["ErrorMessage"]
    assert message.startswith(GLUE_FIRST_LINE + "\nTraceback (most recent call last):")
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the cause is that first line alone
    assert result["summary"]["cause"] == GLUE_FIRST_LINE
    assert f"Cause:       {GLUE_FIRST_LINE}\n" in result["body"]
    assert "join_and_load.py" not in result["body"]


@pytest.mark.parametrize(
    ("error_message", "cause"),
    [
        pytest.param(
            "\n  \nWarehouseBusy: the warehouse is locked\nmore\n",
            "WarehouseBusy: the warehouse is locked",
            id="blank-lines-first",
        ),
        pytest.param(
            # what the job's stderr is when an exception escapes before its error line (a bad --warehouse)
            "Traceback (most recent call last):\n"
            '  File "/tmp/glue-python-scripts-8w2k1c0q/join_and_load.py", line 80, in <module>\n'
            "    sys.exit(main())\n"
            '  File "/tmp/glue-python-scripts-8w2k1c0q/join_and_load.py", line 63, in main\n'
            '    with open_warehouse(args["warehouse"]) as warehouse:\n'
            "airline_pipeline.core.errors.ConfigError: unsupported warehouse URI 'postgres://dw': use duckdb:///abs/path\n",
            "airline_pipeline.core.errors.ConfigError: unsupported warehouse URI 'postgres://dw': use duckdb:///abs/path",
            id="traceback-only",
        ),
    ],
)
def test_glue_cause_is_the_line_that_names_the_error(
    stack: Stack, invoke: Invoke, error_message: str, cause: str
) -> None:
    # Given a failed load whose ErrorMessage does not start with the error line
    event = load_event("notify_failure_glue_job")
    event["pipeline"]["failure"]["job_run"]["ErrorMessage"] = error_message
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the cause is the line that names the error
    assert result["summary"]["cause"] == cause
    assert f"Cause:       {cause}\n" in result["body"]


def test_long_cause_is_capped_in_the_summary_and_the_body(stack: Stack, invoke: Invoke) -> None:
    # Given a failed load whose first stderr line is 1,500 characters (a COPY error listing many rows)
    event = load_event("notify_failure_glue_job")
    first_line = "LoadFailed: " + "".join(f"row {n} rejected; " for n in range(200))[:1488]
    assert len(first_line) == 1500
    event["pipeline"]["failure"]["job_run"]["ErrorMessage"] = first_line + "\nTraceback (most recent call last):\n"
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the summary (a message attribute) keeps its first 1,000 characters, the body the whole line
    message = published(stack)
    assert result["summary"]["cause"] == first_line[:1000]
    assert json.loads(message["attributes"]["summary"])["cause"] == first_line[:1000]
    assert f"Cause:       {first_line}\n" in result["body"]


def test_very_long_cause_is_capped_at_2000_characters_in_the_body(stack: Stack, invoke: Invoke) -> None:
    # Given a caught error whose Cause is 3,000 characters of text
    cause = ("x" * 99 + "\u00e9") * 30
    event = failed_with({"state": "StartCrawler", "caught": {"Error": "States.TaskFailed", "Cause": cause}})
    claimed(stack, event)

    # When it is notified
    result = invoke("notify", event)

    # Then the body shows the first 2,000 characters, the summary the first 1,000
    assert f"Cause:       {cause[:2000]}\n" in result["body"]
    assert cause[:2001] not in result["body"]
    assert result["summary"]["cause"] == cause[:1000]


# --- the ledger: only this execution's claim is closed ----------------------------------------------


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
    assert (item["status"], item["owner"]) == (FAILED, event["execution"])
    assert item["detail"] == f"execution {event['execution']}"
    assert Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(file_id, owner="a-later-upload").claimed


@pytest.mark.parametrize("name", ["notify_success", "notify_failure_lambda"])
def test_claim_another_execution_took_over_is_not_closed(stack: Stack, invoke: Invoke, name: str) -> None:
    # Given an accepted file whose claim expired during this (long) execution and was taken over
    event = load_event(name)
    file_id = claimed(stack, event, owner="the-execution-that-took-over")

    # When this execution's outcome is notified
    result = invoke("notify", event)

    # Then the message is published, but the newer execution's claim is not overwritten
    assert published(stack)["subject"] == result["subject"]
    item = stack.ledger_item(file_id)
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, "the-execution-that-took-over")


def test_rejected_file_keeps_the_ledger_entry_validate_wrote(stack: Stack, invoke: Invoke) -> None:
    # Given a file the validate step rejected (and closed REJECTED itself, as this execution's claim)
    event = load_event("notify_failure_validation")
    file_id = event["pipeline"]["validation"]["file_id"]
    detail = "InvalidHeader: " + event["pipeline"]["validation"]["message"]
    stack.put_ledger_item(file_id, REJECTED, owner=event["execution"], detail=detail, updated_at="1795469563")

    # When the failure is notified
    invoke("notify", event)

    # Then the ledger entry is untouched: REJECTED, never FAILED (which would let a duplicate re-run it)
    assert stack.ledger_item(file_id) == {
        "file_id": file_id,
        "status": REJECTED,
        "owner": event["execution"],
        "detail": detail,
        "updated_at": "1795469563",
    }


def test_skipped_file_leaves_the_owning_executions_claim_alone(stack: Stack, invoke: Invoke) -> None:
    # Given a file another execution is loading, and this execution's validation said "skipped"
    event = load_event("notify_failure_lambda")
    validation = event["pipeline"]["validation"]
    validation.update(status="skipped", message=f"{validation['source_uri']} is already IN_FLIGHT (execution 9d1c...)")
    Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(validation["file_id"], owner="the-owning-execution")

    # When a notification runs for it anyway
    invoke("notify", event)

    # Then the other execution's claim is not closed under it
    item = stack.ledger_item(validation["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, "the-owning-execution")


def crashed_validate(caught: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """The state after ValidateFile itself failed: the S3 event, the caught error, no ``validation``."""
    caught = caught or {
        "Error": "Runtime.HandlerError",
        "Cause": json.dumps({"errorMessage": "Read timeout on endpoint URL", "errorType": "ReadTimeoutError"}),
    }
    event = failed_with({"state": "ValidateFile", "caught": caught})
    del event["pipeline"]["validation"]
    event["pipeline"]["error"] = caught
    return event


def test_crashed_validate_closes_this_executions_claim_failed(stack: Stack, invoke: Invoke) -> None:
    # Given a validate step that claimed the file, then failed for good (retries spent)
    event = crashed_validate()
    file_id = event_file_id(event["pipeline"])
    assert "date=2013-01-17" in file_id, "the decoded key, as the validate step claims it"
    assert Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(file_id, owner=event["execution"]).claimed

    # When the failure is notified
    result = invoke("notify", event)

    # Then the claim found from the event is closed FAILED, so the next event for these bytes runs again
    assert (result["summary"]["failed_state"], result["summary"]["error"]) == ("ValidateFile", "ReadTimeoutError")
    item = stack.ledger_item(file_id)
    assert item is not None
    assert (item["status"], item["owner"], item["detail"]) == (
        FAILED,
        event["execution"],
        f"execution {event['execution']}",
    )
    assert Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(file_id, owner="a-later-upload").claimed


def test_crashed_validate_leaves_another_executions_claim_alone(stack: Stack, invoke: Invoke) -> None:
    # Given a validate step that failed before claiming, for a file another execution is loading
    event = crashed_validate()
    file_id = event_file_id(event["pipeline"])
    assert Ledger(stack.ledger_table, dynamodb=stack.dynamodb).claim(file_id, owner="the-owning-execution").claimed

    # When the failure is notified
    invoke("notify", event)

    # Then the other execution's claim is untouched
    item = stack.ledger_item(file_id)
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, "the-owning-execution")


def test_state_without_validation_names_the_file_from_the_event(stack: Stack, invoke: Invoke) -> None:
    # Given the validate step itself crashed before any claim (the object was gone): the state has the
    # S3 event and the failure only
    event = crashed_validate({"Error": "UnreadableFile", "Cause": "cannot read s3://bucket/key: NoSuchKey"})
    pipeline = event["pipeline"]

    # When it is notified
    result = invoke("notify", event)

    # Then the file is named from the event (its key as the event has it) ...
    bucket, key = pipeline["detail"]["bucket"]["name"], pipeline["detail"]["object"]["key"]
    assert result["summary"]["source_file"] == f"s3://{bucket}/{key}"
    assert "UnreadableFile in ValidateFile" in result["subject"]
    # ... and no ledger item is made up for it
    assert stack.dynamodb.scan(TableName=stack.ledger_table)["Items"] == []


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
    event["pipeline"]["failure"] = {"state": "StartCrawler", "caught": event["pipeline"]["error"]}
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


def test_unpublished_notification_leaves_the_ledger_open(stack: Stack, invoke: Invoke) -> None:
    # Given the topic is gone
    event = load_event("notify_success")
    file_id = claimed(stack, event)
    stack.sns.delete_topic(TopicArn=stack.topic_arn)

    # When NotifySuccess invokes the function, Then it fails (Retry, then Catch -> LoadedButNotNotified)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics to publish")  # it fails before counting
        with pytest.raises(ClientError, match="Publish operation") as raised:
            invoke("notify", event)
    assert raised.value.response["Error"]["Code"] == "NotFound"

    # and the ledger is not closed: the outcome is recorded only once it has been told
    item = stack.ledger_item(file_id)
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, event["execution"])
