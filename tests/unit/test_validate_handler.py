"""ValidateFunction: the S3 "Object Created" event and its execution in, a ValidationResult out, the ledger claimed.

ValidateFile passes ``{"event": <the execution's input>, "execution": $$.Execution.Name}``: the claim's
owner is the execution, so a retried validate step finds its own claim, and a redelivered event (a
new execution) finds someone else's. A bad file is a *result* (``ok: false`` + a stable error code),
never an exception: exception class names do not reach Step Functions on the local emulator. Only
the unexpected (an object that is not there, a connection that drops) raises, for the state
machine's Retry and Catch.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from lambda_support import (
    BAD_HEADER_CSV,
    SAMPLE_FLIGHTS,
    Stack,
    load_event,
    load_function,
    md5,
    s3_event_of,
    validate_request,
)

from airline_pipeline.adapters.ledger import FAILED, IN_FLIGHT, LOADED, REJECTED, Ledger
from airline_pipeline.adapters.s3 import encode_key
from airline_pipeline.adapters.sources import decode_event_key
from airline_pipeline.core.contract import EXPECTED_HEADER_LINE
from airline_pipeline.core.errors import UnreadableFile

Invoke = Callable[..., Any]
SAMPLE = SAMPLE_FLIGHTS.read_bytes()
#: A second execution for the same S3 event: EventBridge delivered it again (at least once).
REDELIVERY = "6a0c3e5f-2b7d-4c91-8e4a-d5f1b9c27e03"


def landed(stack: Stack, request: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Put ``body`` where the request's event says an object was created (its key decoded, as S3 stores it)."""
    stack.put(decode_event_key(request["event"]["detail"]["object"]["key"]), body)
    return request


def request_for(key: str, body: bytes, *, encode: bool = True) -> dict[str, Any]:
    """``validate.json`` re-pointed at another object (key, size, etag)."""
    request = load_event("validate")
    request["event"]["detail"]["object"].update(
        {"key": encode_key(key) if encode else key, "size": len(body), "etag": md5(body)}
    )
    return request


def claim_owner(stack: Stack, result: dict[str, Any]) -> str:
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    return str(item["owner"])


def test_valid_file_is_accepted_and_claimed_for_its_execution(stack: Stack, invoke: Invoke) -> None:
    # Given the sample day landed where the event says (key URL-encoded in the event: date%3D2013-01-15)
    request = landed(stack, load_event("validate"), SAMPLE)
    event = s3_event_of(request)
    assert "date%3D2013-01-15" in event["detail"]["object"]["key"]

    # When the validate function gets the event and the execution's name from ValidateFile
    result = invoke("validate", request)

    # Then the file is accepted with the facts the later states use
    key = "daily-flights/date=2013-01-15/flights_2013-01-15.csv"
    assert result["ok"] is True
    assert result["status"] == "accepted"
    assert result["error"] is None
    assert result["key"] == key
    assert result["source_uri"] == f"s3://{stack.bucket}/{key}"
    assert result["flight_date"] == "2013-01-15"
    assert result["size"] == len(SAMPLE) == event["detail"]["object"]["size"]
    assert result["etag"] == md5(SAMPLE) == event["detail"]["object"]["etag"]
    assert result["file_id"] == f"s3://{stack.bucket}/{key}#{md5(SAMPLE)}"
    assert result["poll_seconds"] == 20  # POLL_SECONDS: the Wait states read it
    assert "header ok" in result["message"]
    # and the ledger holds this execution's claim (not the event's: a redelivery is another execution)
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert item["status"] == IN_FLIGHT
    assert item["owner"] == request["execution"] != event["id"]
    assert int(item["claim_expires_at"]) > int(item["updated_at"])
    # and the function's log lines carry the execution as their correlation id
    assert sys.modules["airline_pipeline.steps.powertools"].logger.get_correlation_id() == request["execution"]


def test_wrong_header_is_a_result_naming_expected_and_found(stack: Stack, invoke: Invoke) -> None:
    # Given a BTS export uploaded as is (extra date columns in the header)
    request = landed(stack, load_event("validate_bad_header"), BAD_HEADER_CSV)

    # When it is validated
    result = invoke("validate", request)

    # Then it is rejected as a result, not an exception, and the message says what was expected and found
    assert result["ok"] is False
    assert result["status"] == "rejected"
    assert result["error"] == "InvalidHeader"
    assert f"expected '{EXPECTED_HEADER_LINE}'" in result["message"]
    assert "found 'Year,Month,DayofMonth,Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay'" in result["message"]
    assert result["flight_date"] == "2013-01-16"
    # and the ledger closes the file for good (this execution's own claim): a duplicate event will not re-check it
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (REJECTED, request["execution"])
    assert str(item["detail"]).startswith("InvalidHeader: wrong header")


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        pytest.param(b"", "EmptyFile", "empty (0 bytes)", id="empty-object"),
        pytest.param(EXPECTED_HEADER_LINE.encode() + b"\r\n", "NoDataRows", "no data rows", id="header-only"),
        pytest.param(b"\x1f\x8b\x08\x00" + bytes(40), "CompressedFile", "gzip", id="gzip-bytes-named-csv"),
        pytest.param(
            "\ufeffCarrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n".encode("utf-16"),
            "InvalidEncoding",
            "UTF-16",
            id="utf-16",
        ),
    ],
)
def test_unloadable_object_is_rejected(stack: Stack, invoke: Invoke, body: bytes, error: str, words: str) -> None:
    # Given an object that can never load
    request = landed(stack, request_for("daily-flights/date=2013-01-15/flights_2013-01-15.csv", body), body)

    # When it is validated
    result = invoke("validate", request)

    # Then it is rejected with a stable code and a message a person understands
    assert (result["ok"], result["status"], result["error"]) == (False, "rejected", error)
    assert words in result["message"]
    assert result["size"] == len(body)
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert item["status"] == REJECTED


def test_key_without_a_date_folder_is_rejected(stack: Stack, invoke: Invoke) -> None:
    # Given a good file uploaded straight under the prefix, without date=YYYY-MM-DD/
    request = landed(stack, request_for("daily-flights/flights_2013-01-15.csv", SAMPLE), SAMPLE)

    # When it is validated
    result = invoke("validate", request)

    # Then it is rejected: nothing could say which day it holds
    assert (result["ok"], result["error"], result["flight_date"]) == (False, "InvalidKey", None)
    assert "date=YYYY-MM-DD" in result["message"]


def test_nested_date_folders_take_the_day_of_the_folder_nearest_the_file(stack: Stack, invoke: Invoke) -> None:
    # Given a day's file backfilled under another day's folder (two date= segments in the key)
    key = "daily-flights/date=2020-06-30/backfill/date=2013-01-16/flights.csv"
    request = landed(stack, request_for(key, SAMPLE), SAMPLE)

    # When it is validated
    result = invoke("validate", request)

    # Then it is accepted as a file of its own folder's day, not of the outer folder's
    assert result["status"] == "accepted"
    assert result["key"] == key
    assert result["flight_date"] == "2013-01-16"


def test_url_encoded_key_with_a_space_is_decoded(stack: Stack, invoke: Invoke) -> None:
    # Given an object whose name has a space; S3 notifications encode it as '+' (and '=' as %3D)
    key = "daily-flights/date=2013-01-15/delta flights (final).csv"
    request = landed(stack, request_for(key, SAMPLE), SAMPLE)
    assert (
        request["event"]["detail"]["object"]["key"] == "daily-flights/date%3D2013-01-15/delta+flights+%28final%29.csv"
    )

    # When it is validated
    result = invoke("validate", request)

    # Then the real key is found and named
    assert result["status"] == "accepted"
    assert result["key"] == key
    assert result["source_uri"] == f"s3://{stack.bucket}/{key}"


def test_raw_key_is_used_when_the_decoded_one_does_not_exist(stack: Stack, invoke: Invoke) -> None:
    # Given an object with a literal '+' in its name, announced by an emitter that does not encode keys
    # (the local emulator, a hand-made event): decoding would turn '+' into a space
    key = "daily-flights/date=2013-01-15/flights+late-arrivals.csv"
    stack.put(key, SAMPLE)
    request = request_for(key, SAMPLE, encode=False)

    # When it is validated
    result = invoke("validate", request)

    # Then the decoded key is not found, the raw one is, and the file is accepted under its real name
    assert result["status"] == "accepted"
    assert result["key"] == key


def test_unencoded_key_as_the_local_emulator_sends_it(stack: Stack, invoke: Invoke) -> None:
    # Given the event as MiniStack delivers it: "date=2013-01-15" not encoded
    key = "daily-flights/date=2013-01-15/flights_2013-01-15.csv"
    request = landed(stack, request_for(key, SAMPLE, encode=False), SAMPLE)

    # When it is validated
    result = invoke("validate", request)

    # Then it is the same file as with the encoded key
    assert (result["status"], result["key"]) == ("accepted", key)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_object_raises_for_the_state_machine_catch(stack: Stack, invoke: Invoke) -> None:
    # Given an event for an object that is gone (deleted right after upload)
    request = load_event("validate")

    # When it is validated, Then the step fails (Catch -> NotifyFailure) naming the object
    with pytest.raises(UnreadableFile, match=r"daily-flights/date=2013-01-15/flights_2013-01-15\.csv"):
        invoke("validate", request)
    # and nothing was claimed: the failure notification finds no claim of this execution to close
    obj = request["event"]["detail"]["object"]
    key = decode_event_key(obj["key"])
    assert stack.ledger_item(f"s3://{stack.bucket}/{key}#{obj['etag']}") is None


# --- the ledger: duplicates, retries and replays --------------------------------------------------


class DroppedRead:
    """The function's S3 client, except that the connection drops while the head's bytes are read.

    ``read_head`` turns a failed GetObject into ``UnreadableFile``; a body that breaks mid-read
    escapes as botocore's error: the step fails *after* its claim (the state machine retries it).
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> Any:
        response = self._client.get_object(**kwargs)

        def read(*args: Any) -> bytes:
            raise ReadTimeoutError(endpoint_url=f"https://{kwargs['Bucket']}.s3.amazonaws.com/{kwargs['Key']}")

        response["Body"].read = read
        return response


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the failed first attempt
def test_retried_step_in_the_same_execution_reclaims_its_own_claim(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first attempt that claimed the file, then failed (the connection dropped mid-read)
    request = landed(stack, load_event("validate"), SAMPLE)
    function = load_function("validate")
    real = function.aws_client
    monkeypatch.setattr(
        function, "aws_client", lambda service: DroppedRead(real(service)) if service == "s3" else real(service)
    )
    with pytest.raises(ReadTimeoutError):
        invoke("validate", request)
    (file_id,) = (item["file_id"]["S"] for item in stack.dynamodb.scan(TableName=stack.ledger_table)["Items"])
    first = stack.ledger_item(file_id)
    assert first is not None
    assert (first["status"], first["owner"]) == (IN_FLIGHT, request["execution"])

    # When Step Functions retries the step (States.TaskFailed): same input, same execution
    monkeypatch.setattr(function, "aws_client", real)
    result = invoke("validate", request)

    # Then the retry is not its own duplicate: the file is accepted, still claimed by this execution
    assert (result["status"], result["ok"], result["file_id"]) == ("accepted", True, file_id)
    item = stack.ledger_item(file_id)
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, request["execution"])
    assert int(item["claim_expires_at"]) >= int(first["claim_expires_at"])


def test_redelivered_event_is_a_new_execution_and_is_skipped(stack: Stack, invoke: Invoke) -> None:
    # Given an execution that has claimed the file
    request = landed(stack, load_event("validate"), SAMPLE)
    first = invoke("validate", request)
    assert first["status"] == "accepted"

    # When EventBridge delivers the same event again (at-least-once): same event id, another execution
    again = invoke("validate", validate_request(request["event"], REDELIVERY))

    # Then the second execution stops quickly as "skipped" (the Choice ends it as SkippedDuplicate),
    # naming the execution that owns the file, whose claim is left as it was
    assert again["status"] == "skipped"
    assert again["ok"] is True
    assert again["error"] is None
    assert again["file_id"] == first["file_id"]
    assert f"is already {IN_FLIGHT} (execution {request['execution']})" in again["message"]
    assert claim_owner(stack, again) == request["execution"]


def test_second_upload_of_the_same_bytes_is_skipped(stack: Stack, invoke: Invoke) -> None:
    # Given the sample day, claimed by the first upload's execution
    first_request = load_event("validate")
    first = invoke("validate", landed(stack, first_request, SAMPLE))

    # When the same bytes are uploaded again (a retried copy job: new event, new execution, same etag)
    duplicate = load_event("validate_duplicate")
    assert duplicate["event"]["id"] != first_request["event"]["id"]
    assert duplicate["execution"] != first_request["execution"]
    assert duplicate["event"]["detail"]["object"]["etag"] == first["etag"]
    result = invoke("validate", landed(stack, duplicate, SAMPLE))

    # Then it is skipped, naming the execution that owns the file
    assert result["status"] == "skipped"
    assert result["file_id"] == first["file_id"]
    assert f"(execution {first_request['execution']})" in result["message"]
    assert claim_owner(stack, result) == first_request["execution"]


@pytest.mark.parametrize("status", [LOADED, REJECTED])
def test_event_for_a_finished_file_is_skipped(stack: Stack, invoke: Invoke, status: str) -> None:
    # Given a file the ledger says is LOADED (or can never load)
    request = landed(stack, load_event("validate_duplicate"), SAMPLE)
    first = invoke("validate", load_event("validate"))
    stack.put_ledger_item(first["file_id"], status)

    # When another event for it arrives
    result = invoke("validate", request)

    # Then it is skipped and the ledger is unchanged
    assert result["status"] == "skipped"
    assert f"already {status}" in result["message"]
    item = stack.ledger_item(first["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (status, "an-earlier-execution")


def test_failed_file_is_claimed_again(stack: Stack, invoke: Invoke) -> None:
    # Given a file whose load FAILED (the notifier closed its execution's claim so)
    first_request = load_event("validate")
    first = invoke("validate", landed(stack, first_request, SAMPLE))
    ledger = Ledger(stack.ledger_table, dynamodb=stack.dynamodb)
    assert ledger.finish(first["file_id"], FAILED, owner=first_request["execution"], detail="execution x")

    # When a new event for the same bytes arrives (a re-upload, or the same event redelivered)
    duplicate = load_event("validate_duplicate")
    result = invoke("validate", duplicate)

    # Then it runs again, in the new execution
    assert result["status"] == "accepted"
    assert claim_owner(stack, result) == duplicate["execution"]


@pytest.mark.parametrize(
    ("expires_at", "status", "owner"),
    [
        pytest.param("1700000000", "accepted", "new", id="expired-claim-is-taken-over"),
        pytest.param("4102444800", "skipped", "other", id="live-claim-is-left-alone"),
    ],
)
def test_another_executions_claim_is_taken_over_only_once_it_expired(
    stack: Stack, invoke: Invoke, expires_at: str, status: str, owner: str
) -> None:
    # Given a claim another execution holds (a dead one's in the past, a running one's far ahead)
    first = invoke("validate", landed(stack, load_event("validate"), SAMPLE))
    stack.put_ledger_item(first["file_id"], IN_FLIGHT, owner="another-execution", claim_expires_at=expires_at)

    # When a new event for the file arrives
    duplicate = load_event("validate_duplicate")
    result = invoke("validate", duplicate)

    # Then the new execution takes over an expired claim, and is skipped while the claim is live
    assert result["status"] == status
    assert claim_owner(stack, result) == (duplicate["execution"] if owner == "new" else "another-execution")
    if status == "skipped":
        assert "(execution another-execution)" in result["message"]


def test_replay_reclaims_a_loaded_file(stack: Stack, invoke: Invoke) -> None:
    # Given a file that is LOADED
    first_request = load_event("validate")
    first = invoke("validate", landed(stack, first_request, SAMPLE))
    ledger = Ledger(stack.ledger_table, dynamodb=stack.dynamodb)
    assert ledger.finish(first["file_id"], LOADED, owner=first_request["execution"], detail="execution e2cef652")

    # When a replay of its event arrives (airline-pipeline reprocess, or an EventBridge archive replay)
    replay = load_event("validate_replay")
    assert replay["event"]["replay-name"] == "airline-pipeline-reprocess"
    result = invoke("validate", replay)

    # Then the file is claimed again, by the replay's execution
    assert result["status"] == "accepted"
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, replay["execution"])


def test_replay_of_a_rejected_file_rechecks_it(stack: Stack, invoke: Invoke) -> None:
    # Given a file rejected for its header
    request = landed(stack, load_event("validate_bad_header"), BAD_HEADER_CSV)
    assert invoke("validate", request)["status"] == "rejected"

    # When its event is replayed (a new event id, in a new execution)
    event = {
        **request["event"],
        "id": "0d6e4b1a-93c2-4f55-8e1d-2b7c9a0f6e31",
        "replay-name": "airline-pipeline-reprocess",
    }
    replayed = validate_request(event, "reprocess-20130116-flights_2013-01-16-5e0b7d2c94")
    result = invoke("validate", replayed)

    # Then it is checked again (and still rejected, closed by the replay's execution), rather than skipped
    assert (result["status"], result["error"]) == ("rejected", "InvalidHeader")
    assert claim_owner(stack, result) == replayed["execution"]


class FlakyGet:
    """The function's S3 client, except that GetObject fails the way S3 does under load."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")


def test_object_unreadable_for_a_moment_is_not_rejected_for_good(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a good file whose head cannot be read right now (S3 throttles the range GET)
    request = landed(stack, load_event("validate"), SAMPLE)
    function = load_function("validate")
    real = function.aws_client
    monkeypatch.setattr(
        function, "aws_client", lambda service: FlakyGet(real(service)) if service == "s3" else real(service)
    )

    # When it is validated
    result = invoke("validate", request)

    # Then this attempt reports the file unreadable, naming S3's error ...
    assert (result["ok"], result["error"]) == (False, "UnreadableFile")
    assert "SlowDown" in result["message"]
    # ... but the ledger does not close it as REJECTED (a file that can never load): FAILED lets the
    # next event for these bytes - a re-upload, a redelivery - try again
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (FAILED, request["execution"])
    monkeypatch.setattr(function, "aws_client", real)
    assert invoke("validate", load_event("validate_duplicate"))["status"] == "accepted"
