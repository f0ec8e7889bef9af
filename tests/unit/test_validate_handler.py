"""ValidateFunction: the S3 "Object Created" event in, a ValidationResult out, the ledger claimed.

A bad file is a *result* (``ok: false`` + a stable error code), never an exception: exception class
names do not reach Step Functions on the local emulator. Only the unexpected (an object that is not
there) raises, for the state machine's Catch.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError
from lambda_support import BAD_HEADER_CSV, SAMPLE_FLIGHTS, Stack, load_event, load_function, md5

from airline_pipeline.contract import EXPECTED_HEADER_LINE
from airline_pipeline.errors import UnreadableFile
from airline_pipeline.events import encode_key
from airline_pipeline.ledger import FAILED, IN_FLIGHT, LOADED, REJECTED, Ledger
from airline_pipeline.sources import decode_event_key

Invoke = Callable[..., Any]
SAMPLE = SAMPLE_FLIGHTS.read_bytes()


def landed(stack: Stack, event: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Put ``body`` where ``event`` says an object was created (its key decoded, as S3 stores it)."""
    stack.put(decode_event_key(event["detail"]["object"]["key"]), body)
    return event


def event_for(key: str, body: bytes, *, encode: bool = True) -> dict[str, Any]:
    """``s3_object_created.json`` re-pointed at another object (key, size, etag)."""
    event = load_event("s3_object_created")
    event["detail"]["object"].update({"key": encode_key(key) if encode else key, "size": len(body), "etag": md5(body)})
    return event


def claim_owner(stack: Stack, result: dict[str, Any]) -> str:
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    return str(item["owner"])


def test_valid_file_is_accepted_and_claimed(stack: Stack, invoke: Invoke) -> None:
    # Given the sample day landed where the event says (key URL-encoded in the event: date%3D2013-01-15)
    event = landed(stack, load_event("s3_object_created"), SAMPLE)
    assert "date%3D2013-01-15" in event["detail"]["object"]["key"]

    # When the validate function gets the event
    result = invoke("validate", event)

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
    # and the ledger holds this event's claim
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert item["status"] == IN_FLIGHT
    assert item["owner"] == event["id"]
    assert int(item["claim_expires_at"]) > int(item["updated_at"])


def test_wrong_header_is_a_result_naming_expected_and_found(stack: Stack, invoke: Invoke) -> None:
    # Given a BTS export uploaded as is (extra date columns in the header)
    event = landed(stack, load_event("validate_bad_header"), BAD_HEADER_CSV)

    # When it is validated
    result = invoke("validate", event)

    # Then it is rejected as a result, not an exception, and the message says what was expected and found
    assert result["ok"] is False
    assert result["status"] == "rejected"
    assert result["error"] == "InvalidHeader"
    assert f"expected '{EXPECTED_HEADER_LINE}'" in result["message"]
    assert "found 'Year,Month,DayofMonth,Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay'" in result["message"]
    assert result["flight_date"] == "2013-01-16"
    # and the ledger closes the file for good: a duplicate event will not re-check it
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert item["status"] == REJECTED
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
    event = landed(stack, event_for("daily-flights/date=2013-01-15/flights_2013-01-15.csv", body), body)

    # When it is validated
    result = invoke("validate", event)

    # Then it is rejected with a stable code and a message a person understands
    assert (result["ok"], result["status"], result["error"]) == (False, "rejected", error)
    assert words in result["message"]
    assert result["size"] == len(body)
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert item["status"] == REJECTED


def test_key_without_a_date_folder_is_rejected(stack: Stack, invoke: Invoke) -> None:
    # Given a good file uploaded straight under the prefix, without date=YYYY-MM-DD/
    event = landed(stack, event_for("daily-flights/flights_2013-01-15.csv", SAMPLE), SAMPLE)

    # When it is validated
    result = invoke("validate", event)

    # Then it is rejected: nothing could say which day it holds
    assert (result["ok"], result["error"], result["flight_date"]) == (False, "InvalidKey", None)
    assert "date=YYYY-MM-DD" in result["message"]


def test_url_encoded_key_with_a_space_is_decoded(stack: Stack, invoke: Invoke) -> None:
    # Given an object whose name has a space; S3 notifications encode it as '+' (and '=' as %3D)
    key = "daily-flights/date=2013-01-15/delta flights (final).csv"
    event = landed(stack, event_for(key, SAMPLE), SAMPLE)
    assert event["detail"]["object"]["key"] == "daily-flights/date%3D2013-01-15/delta+flights+%28final%29.csv"

    # When it is validated
    result = invoke("validate", event)

    # Then the real key is found and named
    assert result["status"] == "accepted"
    assert result["key"] == key
    assert result["source_uri"] == f"s3://{stack.bucket}/{key}"


def test_raw_key_is_used_when_the_decoded_one_does_not_exist(stack: Stack, invoke: Invoke) -> None:
    # Given an object with a literal '+' in its name, announced by an emitter that does not encode keys
    # (the local emulator, a hand-made event): decoding would turn '+' into a space
    key = "daily-flights/date=2013-01-15/flights+late-arrivals.csv"
    stack.put(key, SAMPLE)
    event = event_for(key, SAMPLE, encode=False)

    # When it is validated
    result = invoke("validate", event)

    # Then the decoded key is not found, the raw one is, and the file is accepted under its real name
    assert result["status"] == "accepted"
    assert result["key"] == key


def test_unencoded_key_as_the_local_emulator_sends_it(stack: Stack, invoke: Invoke) -> None:
    # Given the event as MiniStack delivers it: "date=2013-01-15" not encoded
    key = "daily-flights/date=2013-01-15/flights_2013-01-15.csv"
    event = landed(stack, event_for(key, SAMPLE, encode=False), SAMPLE)

    # When it is validated
    result = invoke("validate", event)

    # Then it is the same file as with the encoded key
    assert (result["status"], result["key"]) == ("accepted", key)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_object_raises_for_the_state_machine_catch(stack: Stack, invoke: Invoke) -> None:
    # Given an event for an object that is gone (deleted right after upload)
    event = load_event("s3_object_created")

    # When it is validated, Then the step fails (Catch -> NotifyFailure) naming the object
    with pytest.raises(UnreadableFile, match=r"daily-flights/date=2013-01-15/flights_2013-01-15\.csv"):
        invoke("validate", event)


# --- the ledger: duplicates, retries and replays --------------------------------------------------


def test_same_event_delivered_twice_is_skipped(stack: Stack, invoke: Invoke) -> None:
    # Given an event whose execution has claimed the file
    event = landed(stack, load_event("s3_object_created"), SAMPLE)
    first = invoke("validate", event)
    assert first["status"] == "accepted"

    # When EventBridge delivers the same event again (at-least-once delivery)
    again = invoke("validate", event)

    # Then the second execution stops quickly as "skipped" (the Choice ends it as SkippedDuplicate)
    assert again["status"] == "skipped"
    assert again["ok"] is True
    assert again["error"] is None
    assert f"is already {IN_FLIGHT}" in again["message"]
    assert claim_owner(stack, again) == event["id"]


def test_second_upload_of_the_same_bytes_is_skipped(stack: Stack, invoke: Invoke) -> None:
    # Given the sample day, claimed by the first upload's event
    first = invoke("validate", landed(stack, load_event("s3_object_created"), SAMPLE))

    # When the same bytes are uploaded again (a retried copy job: new event, same etag)
    duplicate = load_event("validate_duplicate")
    assert duplicate["id"] != load_event("s3_object_created")["id"]
    assert duplicate["detail"]["object"]["etag"] == first["etag"]
    result = invoke("validate", landed(stack, duplicate, SAMPLE))

    # Then it is skipped, naming the event that owns the file
    assert result["status"] == "skipped"
    assert result["file_id"] == first["file_id"]
    assert load_event("s3_object_created")["id"] in result["message"]


@pytest.mark.parametrize("status", [LOADED, REJECTED])
def test_event_for_a_finished_file_is_skipped(stack: Stack, invoke: Invoke, status: str) -> None:
    # Given a file the ledger says is LOADED (or can never load)
    event = landed(stack, load_event("validate_duplicate"), SAMPLE)
    first = invoke("validate", load_event("s3_object_created"))
    stack.put_ledger_item(first["file_id"], status)

    # When another event for it arrives
    result = invoke("validate", event)

    # Then it is skipped and the ledger is unchanged
    assert result["status"] == "skipped"
    assert f"already {status}" in result["message"]
    item = stack.ledger_item(first["file_id"])
    assert item is not None
    assert item["status"] == status


def test_failed_file_is_claimed_again(stack: Stack, invoke: Invoke) -> None:
    # Given a file whose load FAILED (the notifier closed its claim so)
    first = invoke("validate", landed(stack, load_event("s3_object_created"), SAMPLE))
    Ledger(stack.ledger_table, dynamodb=stack.dynamodb).finish(first["file_id"], FAILED, detail="execution x")

    # When a new event for the same bytes arrives (re-upload, or the same event redelivered)
    result = invoke("validate", load_event("validate_duplicate"))

    # Then it runs again
    assert result["status"] == "accepted"
    assert claim_owner(stack, result) == load_event("validate_duplicate")["id"]


def test_expired_claim_is_taken_over(stack: Stack, invoke: Invoke) -> None:
    # Given a claim whose execution died without closing it (claim_expires_at in the past)
    first = invoke("validate", landed(stack, load_event("s3_object_created"), SAMPLE))
    stack.put_ledger_item(first["file_id"], IN_FLIGHT, claim_expires_at="1700000000", updated_at="1699989200")

    # When a new event for the file arrives
    result = invoke("validate", load_event("validate_duplicate"))

    # Then it takes the file over
    assert result["status"] == "accepted"
    assert claim_owner(stack, result) == load_event("validate_duplicate")["id"]


def test_replay_reclaims_a_loaded_file(stack: Stack, invoke: Invoke) -> None:
    # Given a file that is LOADED
    first = invoke("validate", landed(stack, load_event("s3_object_created"), SAMPLE))
    Ledger(stack.ledger_table, dynamodb=stack.dynamodb).finish(first["file_id"], LOADED, detail="execution e2cef652")

    # When a replay of its event arrives (airline-pipeline reprocess, or an EventBridge archive replay)
    replay = load_event("validate_replay")
    assert replay["replay-name"] == "airline-pipeline-reprocess"
    result = invoke("validate", replay)

    # Then the file is claimed again, by the replay
    assert result["status"] == "accepted"
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, replay["id"])


def test_replay_of_a_rejected_file_rechecks_it(stack: Stack, invoke: Invoke) -> None:
    # Given a file rejected for its header
    event = landed(stack, load_event("validate_bad_header"), BAD_HEADER_CSV)
    assert invoke("validate", event)["status"] == "rejected"

    # When its event is replayed
    replayed = {**event, "id": "0d6e4b1a-93c2-4f55-8e1d-2b7c9a0f6e31", "replay-name": "airline-pipeline-reprocess"}
    result = invoke("validate", replayed)

    # Then it is checked again (and still rejected), rather than skipped
    assert (result["status"], result["error"]) == ("rejected", "InvalidHeader")


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
    event = landed(stack, load_event("s3_object_created"), SAMPLE)
    function = load_function("validate")
    real = function.aws_client
    monkeypatch.setattr(
        function, "aws_client", lambda service: FlakyGet(real(service)) if service == "s3" else real(service)
    )

    # When it is validated
    result = invoke("validate", event)

    # Then this attempt reports the file unreadable, naming S3's error ...
    assert (result["ok"], result["error"]) == (False, "UnreadableFile")
    assert "SlowDown" in result["message"]
    # ... but the ledger does not close it as REJECTED (a file that can never load): FAILED lets the
    # next event for these bytes - a re-upload, a redelivery - try again
    item = stack.ledger_item(result["file_id"])
    assert item is not None
    assert item["status"] == FAILED
    monkeypatch.setattr(function, "aws_client", real)
    assert invoke("validate", load_event("validate_duplicate"))["status"] == "accepted"
