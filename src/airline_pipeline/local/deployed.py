"""A deployed stack, seen from outside: upload a file where the rule listens, follow the execution it
starts, and read the outcome back - the state machine's, the notification's and the warehouse's.

The same code serves ``airline-pipeline verify --stack-name NAME`` (any endpoint: AWS, or the local
emulator through ``AWS_ENDPOINT_URL``), ``airline-pipeline demo`` and the e2e tests. Everything it
needs is in the stack's outputs; the rows are counted through the warehouse interface (DuckDB or
Redshift), so a SUCCEEDED execution that loaded nothing does not pass.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from airline_pipeline.adapters import aws
from airline_pipeline.adapters.warehouse import describe, open_warehouse
from airline_pipeline.core import schema
from airline_pipeline.core.defaults import SAMPLE_DATE, SAMPLE_FLIGHTS
from airline_pipeline.core.errors import ConfigError, PipelineError

log = logging.getLogger(__name__)

#: The stack outputs a run needs (template.yaml Outputs).
REQUIRED_OUTPUTS = ("DataBucketName", "DataPrefix", "StateMachineArn", "WarehouseUri")
#: The states whose output carries the published notification (ResultPath $.notification).
NOTIFY_STATES = ("NotifySuccess", "NotifyFailure")

ClientFactory = Callable[[str], Any]


class StackRunError(PipelineError):
    """The stack did not behave (not: the pipeline rejected the file - that is a FAILED execution)."""


@dataclass
class ExecutionResult:
    """How one uploaded file fared: the execution, the notification, and the rows in the warehouse."""

    status: str
    execution_arn: str
    batch_id: str
    source_uri: str
    seconds: float
    notification: Optional[dict[str, Any]]
    rows_loaded: int
    rows_rejected: int
    unknown_airports: int
    error: Optional[str] = None
    cause: Optional[str] = None
    states: list[str] = field(default_factory=list)


def default_clients(service: str) -> Any:
    """Clients from the environment (credentials, region, ``AWS_ENDPOINT_URL``)."""
    return aws.client(service)


class DeployedPipeline:
    """One stack's pipeline: its outputs and the clients to reach it."""

    def __init__(self, stack_name: str, clients: ClientFactory = default_clients) -> None:
        self.stack_name = stack_name
        self.clients = clients
        self.outputs: dict[str, str] = {}
        self.stack_id = ""

    def load_outputs(self) -> DeployedPipeline:
        """Read the stack's outputs; fails naming the stack or the missing outputs."""
        try:
            stack = self.clients("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except Exception as exc:
            raise ConfigError(f"stack {self.stack_name} not found or not readable: {exc}") from exc
        self.stack_id = str(stack["StackId"])
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        missing = [name for name in REQUIRED_OUTPUTS if name not in self.outputs]
        if missing:
            raise ConfigError(
                f"stack {self.stack_name} has no output {', '.join(missing)}: is it this template, deployed?"
            )
        return self

    @property
    def warehouse_uri(self) -> str:
        return self.outputs["WarehouseUri"]

    @property
    def bucket(self) -> str:
        return self.outputs["DataBucketName"]

    # --- one file through the pipeline --------------------------------------------------------

    def upload(self, path: Path, flight_date: date, name: Optional[str] = None) -> str:
        """Put the file where the rule listens: ``<DataPrefix>date=YYYY-MM-DD/<name>``."""
        key = f"{self.outputs['DataPrefix']}date={flight_date.isoformat()}/{name or path.name}"
        self.clients("s3").upload_file(str(path), self.bucket, key)
        log.info("uploaded %s to s3://%s/%s", path.name, self.bucket, key)
        return key

    def run_file(
        self, path: Path, flight_date: date, *, name: Optional[str] = None, timeout: float = 240
    ) -> ExecutionResult:
        """Upload, find the execution the EventBridge rule started for it, wait, read the outcome."""
        since = datetime.now(timezone.utc)
        key = self.upload(path, flight_date, name)
        arn = self.find_execution(key, since)
        result = self.wait(arn, timeout=timeout)
        result.source_uri = f"s3://{self.bucket}/{key}"
        return result

    def find_execution(self, key: str, since: datetime, timeout: float = 60) -> str:
        """The execution whose input names ``key``, started after ``since`` - by the rule, not by us."""
        sfn = self.clients("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for execution in sfn.list_executions(stateMachineArn=self.outputs["StateMachineArn"])["executions"]:
                if execution["startDate"] < since - timedelta(seconds=2):
                    continue
                detail = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
                if key in _event_keys(detail):
                    log.info("the upload started execution %s", execution["name"])
                    return str(execution["executionArn"])
            time.sleep(0.5)
        raise StackRunError(f"no execution started for {key} within {timeout:.0f}s: is the EventBridge rule deployed?")

    def wait(self, execution_arn: str, *, timeout: float = 240) -> ExecutionResult:
        """Follow the execution's states on stderr until it ends; then gather notification and rows."""
        sfn = self.clients("stepfunctions")
        path: list[str] = []
        started = time.monotonic()
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            for entered in _entered_states(_history(sfn, execution_arn))[len(path) :]:
                if entered not in path:  # poll loops repeat states: say each one once
                    log.info("  [%5.1fs] %s", time.monotonic() - started, entered)
                path.append(entered)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout:
                raise StackRunError(f"execution still RUNNING after {timeout:.0f}s: {execution_arn}")
            time.sleep(0.5)
        batch_id = described["name"]
        loaded, rejected, unknown = self.warehouse_counts(batch_id)
        notification = _notification(_history(sfn, execution_arn))
        summary = (notification or {}).get("summary") or {}
        return ExecutionResult(
            status=described["status"],
            execution_arn=execution_arn,
            batch_id=batch_id,
            source_uri="",
            seconds=round(time.monotonic() - started, 1),
            notification=notification,
            rows_loaded=loaded,
            rows_rejected=rejected,
            unknown_airports=unknown,
            error=summary.get("error") or described.get("error"),
            cause=summary.get("cause") or described.get("cause"),
            states=list(dict.fromkeys(path)),
        )

    def warehouse_counts(self, batch_id: str) -> tuple[int, int, int]:
        """``(fact rows, rejected rows, flights with an unknown airport)`` of a batch, read back."""
        with open_warehouse(self.warehouse_uri) as warehouse:
            row = warehouse.query(
                f"""SELECT (SELECT count(*) FROM {schema.FACT} WHERE batch_id = :b) AS loaded,
                           (SELECT count(*) FROM {schema.REJECTED} WHERE batch_id = :b) AS rejected,
                           (SELECT count(*) FROM {schema.FACT}
                             WHERE batch_id = :b AND (dep_airport IS NULL OR arr_airport IS NULL)) AS unknown""",
                {"b": batch_id},
            )[0]
        return int(row["loaded"]), int(row["rejected"]), int(row["unknown"])

    def summary(self, result: ExecutionResult, flight_date: date) -> dict[str, Any]:
        """The JSON line ``demo`` and ``verify`` print last."""
        _, _, _, region, account, _ = (self.stack_id.split(":", 5) + [""] * 6)[:6]
        return {
            "execution_status": result.status,
            "execution_arn": result.execution_arn,
            "batch_id": result.batch_id,
            "source_file": result.source_uri,
            "flight_date": flight_date.isoformat(),
            "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected,
            "unknown_airports": result.unknown_airports,
            "error": result.error,
            "cause": result.cause,
            "states": result.states,
            "execution_seconds": result.seconds,
            "stack": self.stack_name,
            "warehouse": describe(self.warehouse_uri),
            "region": region,
            "account": account,
            "notification": result.notification,
        }


def verify(
    stack_name: str,
    *,
    flights: Optional[Path] = None,
    flight_date: Optional[date] = None,
    name: Optional[str] = None,
    timeout: float = 1800,
    clients: ClientFactory = default_clients,
) -> dict[str, Any]:
    """Everything ``airline-pipeline verify`` does: one file through a deployed stack; returns its summary.

    The file gets a name of its own (``airline-pipeline-verify-<time>-<random>.csv`` unless given):
    the same bytes under the same key are a duplicate the ledger skips, which would prove nothing.
    """
    flights = (flights or SAMPLE_FLIGHTS).resolve()
    if not flights.is_file():
        raise ConfigError(f"no such file: {flights}")
    flight_date = flight_date or SAMPLE_DATE
    name = name or f"airline-pipeline-verify-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}.csv"
    pipeline = DeployedPipeline(stack_name, clients).load_outputs()
    log.info("verifying stack %s (warehouse %s)", stack_name, describe(pipeline.warehouse_uri))
    result = pipeline.run_file(flights, flight_date, name=name, timeout=timeout)
    log.info("execution %s in %.1fs: %s rows loaded", result.status, result.seconds, f"{result.rows_loaded:,}")
    return pipeline.summary(result, flight_date)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return sorted(events, key=lambda e: e["id"])


def _entered_states(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def _notification(events: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """What the notify step published (its result, kept at ``$.notification``), if it ran and succeeded."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") in NOTIFY_STATES and details.get("output"):
            published = json.loads(details["output"]).get("notification")
            if isinstance(published, dict) and published.get("message_id"):
                return {
                    "subject": published.get("subject"),
                    "message": published.get("body"),
                    "summary": published.get("summary"),
                    "message_id": published["message_id"],
                }
    return None


def _event_keys(execution_input: dict[str, Any]) -> set[str]:
    """The key an event names: URL-decoded as AWS sends it, or raw as the emulator does."""
    from airline_pipeline.adapters.sources import decode_event_key

    # Read by hand: the CLI extra (pyproject) has no Powertools, so its S3EventNotificationEventBridgeModel is absent.
    key = str(((execution_input.get("detail") or {}).get("object") or {}).get("key", ""))
    return {key, decode_event_key(key)}
