"""Admission control: a burst of landed files waits in a queue instead of failing for lack of capacity.

EventBridge puts every ``Object Created`` event on an SQS queue; this step (the starter Lambda, fed by
an SQS event source mapping) starts one state machine execution per event, but only while fewer than
``max_running`` executions are RUNNING - the Glue job's ``MaxConcurrentRuns``, one template parameter.
A message that finds no free slot is reported as a batch item failure with a longer visibility
timeout, so SQS hands it back later: the file waits, nothing fails.

Why each piece:

* Files the ledger already LOADED (or REJECTED: it can never load) are acknowledged here, costing one
  DynamoDB read instead of an execution. The validate step's conditional claim stays the real guard;
  this read is only a cheap early exit, so an eventually consistent read is enough.
* The execution name is derived from the event id and the file, so a message SQS delivers twice
  starts one execution: ``StartExecution`` with the same name and input is idempotent while that
  execution runs, and ``ExecutionAlreadyExists`` afterwards means "already started" - not an error.
  A new event for the same file (a re-upload, a replay) has a new id, hence a new name.
* ``ListExecutions`` is eventually consistent, and two starters may run at once (the mapping's
  ``MaximumConcurrency`` is at least 2): the count may briefly overshoot ``max_running``. The state
  machine's retry of Glue's ``ConcurrentRunsExceededException`` absorbs that overshoot.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from airline_pipeline.adapters.ledger import file_id
from airline_pipeline.adapters.sources import decode_event_key
from airline_pipeline.core.admission import backoff_seconds, execution_name
from airline_pipeline.core.status import LOADED, REJECTED
from airline_pipeline.steps.settings import AdmissionSettings

#: Ledger states after which a new event for the same bucket/key/etag has nothing to do.
FINISHED = frozenset({LOADED, REJECTED})


@dataclass(frozen=True)
class Message:
    """What the starter needs of one SQS record: the EventBridge event (JSON), and how to defer it."""

    body: str
    receipt_handle: str
    receive_count: int


class NoFreeSlot(Exception):
    """All ``max_running`` slots are taken: the message comes back after its new visibility timeout."""


@dataclass
class Outcome:
    """What happened to each message of one batch (for the log line and the metrics)."""

    started: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)


@dataclass
class Starter:
    """Admits the messages of one batch, in order, into at most ``max_running`` running executions."""

    settings: AdmissionSettings
    sfn: Any
    sqs: Any
    dynamodb: Any
    rand: Callable[[], float] = random.random
    outcome: Outcome = field(default_factory=Outcome)
    _running: Optional[int] = None

    def running(self) -> int:
        """RUNNING executions: listed once per batch (one page of ``max_running`` is enough), then counted."""
        if self._running is None:
            page = self.sfn.list_executions(
                stateMachineArn=self.settings.state_machine_arn,
                statusFilter="RUNNING",
                maxResults=self.settings.max_running,
            )
            self._running = len(page.get("executions", []))
        return self._running

    def admit(self, message: Message) -> str:
        """Start the execution for one message; raises :class:`NoFreeSlot` to have it redelivered later.

        The execution's input is the message body untouched: the event exactly as EventBridge sent it.
        """
        event = parse(event=json.loads(message.body), model=S3EventNotificationEventBridgeModel)
        bucket, key = event.detail.bucket.name, decode_event_key(event.detail.object.key)
        item = file_id(bucket, key, event.detail.object.etag or "")
        name = execution_name(event.id, key, item)
        if not event.replay_name and self._finished(item):
            self.outcome.skipped.append(name)
            return "skipped"
        if self.running() >= self.settings.max_running:
            self._defer(message)
            self.outcome.deferred.append(name)
            raise NoFreeSlot(f"{self._running} of {self.settings.max_running} executions running: {key} waits")
        try:
            self.sfn.start_execution(stateMachineArn=self.settings.state_machine_arn, name=name, input=message.body)
        except self.sfn.exceptions.ExecutionAlreadyExists:
            self.outcome.duplicates.append(name)
            return "duplicate"
        self._running = self.running() + 1
        self.outcome.started.append(name)
        return "started"

    def _finished(self, item_id: str) -> bool:
        found = self.dynamodb.get_item(
            TableName=self.settings.ledger_table, Key={"file_id": {"S": item_id}}, ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
        )  # fmt: skip
        return found.get("Item", {}).get("status", {}).get("S") in FINISHED

    def _defer(self, message: Message) -> None:
        """Set the message's next visibility: SQS delivers it again after this wait."""
        wait = backoff_seconds(
            message.receive_count,
            base=self.settings.admission_backoff_seconds,
            cap=self.settings.admission_backoff_max_seconds,
            rand=self.rand,
        )
        self.sqs.change_message_visibility(
            QueueUrl=self.settings.admission_queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=wait
        )
