"""The missing-file check on the emulator: the ExpectedBy rule's target, invoked as EventBridge would,
publishes through the deployed topic (captured by an SQS queue subscribed to it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from airline_pipeline.core.defaults import SAMPLES
from airline_pipeline.local.demo import LocalPipeline

SAMPLE = SAMPLES / "flights_2013-01-15.csv"
#: Days no other e2e test loads: a check at 06:00 on 2014-03-10 looks at the 7 days ending yesterday.
CHECK_TIME = "2014-03-10T06:00:00Z"
WINDOW = [date(2014, 3, day) for day in range(3, 10)]


@pytest.fixture
def captured(pipeline: LocalPipeline) -> Iterator[Any]:
    """An SQS queue subscribed to the notification topic; yields a reader of (outcome, subject, body)."""
    sqs, sns = pipeline.clients("sqs"), pipeline.clients("sns")
    queue = sqs.create_queue(QueueName="freshness-capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=pipeline.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=arn)

    def read(wait: float = 5) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                envelope = json.loads(message["Body"])
                outcome = envelope.get("MessageAttributes", {}).get("outcome", {}).get("Value", "")
                found.append((outcome, envelope.get("Subject", ""), envelope["Message"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return found

    yield read
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=queue)


def fire_schedule(pipeline: LocalPipeline, moment: str) -> dict[str, Any]:
    """Invoke the ExpectedBy rule's target with the Scheduled Event EventBridge would send at ``moment``."""
    rule = "airline-pipeline-local-expected-by"
    events = pipeline.clients("events")
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == "cron(0 6 * * ? *)"
    [target] = events.list_targets_by_rule(Rule=rule)["Targets"]
    event = {
        "version": "0",
        "id": f"check-{moment}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": moment,
        "region": "us-east-1",
        "resources": [events.describe_rule(Name=rule)["Arn"]],
        "detail": {},
    }
    response = pipeline.clients("lambda").invoke(FunctionName=target["Arn"], Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return dict(payload)


def test_a_missing_day_is_notified_once_through_the_topic_then_recovers(pipeline: LocalPipeline, captured: Any) -> None:
    # Given no file for the week before 2014-03-10
    # When the schedule fires at 06:00 and again at 07:00
    first = fire_schedule(pipeline, CHECK_TIME)
    second = fire_schedule(pipeline, "2014-03-10T07:00:00Z")

    # Then each day got ONE MISSING notification through the deployed topic
    assert first["missing_sent"] == [d.isoformat() for d in WINDOW]
    assert second["missing_sent"] == []
    received = captured()
    assert sorted(subject for outcome, subject, _ in received if outcome == "missing") == [
        f"[airline-pipeline] MISSING {d}: no file loaded by 2014-03-10 06:00 UTC" for d in WINDOW
    ]
    assert "a RECOVERED message follows when it loads" in received[0][2]

    # When the last day's file lands and loads, and the schedule fires again (twice)
    result = pipeline.run_file(SAMPLE, WINDOW[-1], name="late.csv")
    assert result.status == "SUCCEEDED"
    recovered = fire_schedule(pipeline, "2014-03-10T08:00:00Z")
    again = fire_schedule(pipeline, "2014-03-10T09:00:00Z")

    # Then ONE RECOVERED arrives for that day, with its rows, and no MISSING again
    assert (recovered["recovered_sent"], again["recovered_sent"]) == ([WINDOW[-1].isoformat()], [])
    later = [(outcome, subject) for outcome, subject, _ in captured() if outcome in ("missing", "recovered")]
    assert later == [("recovered", f"[airline-pipeline] RECOVERED {WINDOW[-1]}: {result.rows_loaded} rows loaded")]
