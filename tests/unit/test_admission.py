"""The admission starter (functions/admission): bursts wait in the queue, duplicates stay cheap.

Given/When/Then over moto (SQS, Step Functions, DynamoDB) with the SQS batch of events/admission_sqs.json
(the EventBridge event of events/s3_object_created.json as the message body) and env.json's settings.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Callable

import pytest
from lambda_support import Stack, env_json, load_event

from airline_pipeline.adapters.ledger import file_id
from airline_pipeline.adapters.sources import decode_event_key
from airline_pipeline.core.admission import backoff_seconds, execution_name

ENV = env_json()["AdmissionFunction"]
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def admission(stack: Stack, test_clients: dict[str, Any]) -> dict[str, Any]:
    """Given the admission queue and the state machine the starter starts, in moto."""
    import boto3

    sfn: Any = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="airline-pipeline-dev", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    assert arn == ENV["STATE_MACHINE_ARN"]
    url = stack.sqs.create_queue(QueueName="airline-pipeline-dev-admission")["QueueUrl"]
    return {"sfn": sfn, "arn": arn, "url": str(url)}


def queued(stack: Stack, url: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The SQS event Lambda's poller would deliver for these bodies (real receipt handles from moto)."""
    for body in bodies:
        stack.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    received: list[dict[str, Any]] = []
    while len(received) < len(bodies):
        got = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        received += got.get("Messages", [])
    template = load_event("admission_sqs")["Records"][0]
    records = []
    for message in received:
        record = copy.deepcopy(template)
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"])
        record["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
        records.append(record)
    return {"Records": records}


def file_event(day: int, *, event_id: str = "", replay: bool = False) -> dict[str, Any]:
    event: dict[str, Any] = load_event("s3_object_created")
    event["id"] = event_id or f"00000000-0000-4000-8000-{day:012d}"
    event["detail"]["object"]["key"] = f"daily-flights/date%3D2013-01-{day:02d}/flights.csv"
    if replay:
        event["replay-name"] = "airline-pipeline-reprocess"
    return event


def running(admission: dict[str, Any]) -> list[str]:
    listed = admission["sfn"].list_executions(stateMachineArn=admission["arn"], statusFilter="RUNNING")
    return [e["name"] for e in listed["executions"]]


def test_a_burst_starts_max_running_executions_and_the_rest_wait(
    stack: Stack, admission: dict[str, Any], invoke: Callable[..., Any]
) -> None:
    # Given five files landing at once and three load slots
    event = queued(stack, admission["url"], [file_event(day) for day in range(1, 6)])

    # When the starter gets the batch
    response = invoke("admission", event)

    # Then three executions run and the other two messages are reported failed, to come back later
    assert len(running(admission)) == 3
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert len(failed) == 2
    assert failed == {r["messageId"] for r in event["Records"][3:]}, "in the queue's order"
    # and their visibility was set to the backoff: they are not received again at once
    assert stack.sqs.receive_message(QueueUrl=admission["url"], WaitTimeSeconds=0).get("Messages") is None


def test_a_redelivered_message_starts_no_second_execution(
    stack: Stack, admission: dict[str, Any], invoke: Callable[..., Any]
) -> None:
    # Given a message whose execution was started (and has finished since: name taken for 90 days)
    event = queued(stack, admission["url"], [file_event(7)])
    assert invoke("admission", event) == {"batchItemFailures": []}
    (name,) = running(admission)
    execution = f"{admission['arn'].replace(':stateMachine:', ':execution:')}:{name}"
    admission["sfn"].stop_execution(executionArn=execution)

    # When SQS delivers the same message again
    response = invoke("admission", event)

    # Then it is acknowledged as a duplicate: no failure, no new execution
    assert response == {"batchItemFailures": []}
    listed = admission["sfn"].list_executions(stateMachineArn=admission["arn"])["executions"]
    assert [e["name"] for e in listed] == [name]


def test_a_file_the_ledger_says_is_loaded_is_skipped_unless_replayed(
    stack: Stack, admission: dict[str, Any], invoke: Callable[..., Any]
) -> None:
    # Given the ledger says the file of day 9 is LOADED
    event = file_event(9)
    key = "daily-flights/date=2013-01-09/flights.csv"
    stack.put_ledger_item(f"s3://{stack.bucket}/{key}#{event['detail']['object']['etag']}", "LOADED")

    # When its event arrives again, then as a replay (reprocess)
    skipped = invoke("admission", queued(stack, admission["url"], [event]))
    assert running(admission) == []
    replayed = invoke("admission", queued(stack, admission["url"], [file_event(9, event_id="replay-1", replay=True)]))

    # Then the duplicate is acknowledged without an execution; the replay starts one
    assert skipped == replayed == {"batchItemFailures": []}
    assert len(running(admission)) == 1


def test_a_message_that_is_not_an_s3_event_fails_alone(
    stack: Stack, admission: dict[str, Any], invoke: Callable[..., Any]
) -> None:
    # Given a batch with a stray message next to a good one
    event = queued(stack, admission["url"], [{"not": "an event"}, file_event(11)])

    # When the starter gets it
    response = invoke("admission", event)

    # Then only the stray message is reported (it ends in the DLQ after maxReceiveCount); the file starts
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert len(running(admission)) == 1


def test_execution_names_are_valid_stable_per_event_and_new_per_event() -> None:
    def name(event: dict[str, Any]) -> str:
        obj, key = event["detail"]["object"], decode_event_key(event["detail"]["object"]["key"])
        return execution_name(event["id"], key, file_id(event["detail"]["bucket"]["name"], key, obj["etag"]))

    first = name(file_event(15))
    assert first == name(file_event(15))
    assert first.startswith("20130115-flights-")
    assert name(file_event(15, event_id="another-event")) != first
    odd = file_event(15)
    odd["detail"]["object"]["key"] = "daily-flights/date%3D2013-01-15/" + "%C3%A9t%C3%A9+" * 40 + ".csv"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name(odd))


@pytest.mark.parametrize("count", [1, 2, 5, 30, 1000])
def test_backoff_grows_with_the_receive_count_and_stays_within_the_cap(count: int) -> None:
    low = backoff_seconds(count, base=30, cap=900, rand=lambda: 0.0)
    high = backoff_seconds(count, base=30, cap=900, rand=lambda: 0.999)
    ceiling = min(900, 30 * 2 ** (count - 1))
    assert 1 <= low <= high <= ceiling <= 900
    assert low >= ceiling // 2


def test_a_batch_that_finds_every_slot_taken_is_a_normal_answer_not_a_function_error(
    stack: Stack, admission: dict[str, Any], invoke: Callable[..., Any]
) -> None:
    # Given every load slot is taken
    invoke("admission", queued(stack, admission["url"], [file_event(day) for day in range(21, 24)]))
    assert len(running(admission)) == 3
    # When a batch arrives in which no file finds a slot
    event = queued(stack, admission["url"], [file_event(24), file_event(25)])
    response = invoke("admission", event)

    # Then every message is reported to come back later, and the invocation itself succeeded
    # (a function error would count against the event source mapping and hide real failures)
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {r["messageId"] for r in event["Records"]}
    assert len(running(admission)) == 3
