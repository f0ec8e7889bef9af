"""The whole pipeline with no AWS account: ``template.yaml`` deployed to the local emulator.

``sam build`` + ``sam deploy --config-env local`` put the very template users deploy to AWS onto
MiniStack; a DuckDB file stands in for Redshift. A file uploaded to the data bucket then travels
S3 -> EventBridge rule -> Step Functions -> Lambdas -> Glue crawler -> Glue job -> SNS, and this
module watches it happen. The e2e tests drive the same :class:`LocalPipeline`.

Emulator workaround (the only one): ``sam package`` uploads the Glue script under a hashed key
without ``.py``, and MiniStack only runs scripts whose key ends in ``.py`` (otherwise the run
"succeeds" without running). :meth:`LocalPipeline.deploy` copies the script to ``<key>.py`` and
points the job at it. Nothing else differs from an AWS deployment.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from airline_pipeline import schema
from airline_pipeline.emulator import ACCOUNT, REGION, Emulator
from airline_pipeline.errors import ConfigError, PipelineError
from airline_pipeline.warehouse.duckdb import DuckDBWarehouse

log = logging.getLogger(__name__)

STACK = "airline-pipeline-local"
ARTIFACTS_BUCKET = "airline-pipeline-local-artifacts"
NOTIFICATIONS_QUEUE = "airline-pipeline-local-notifications-capture"
SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE_DATE = date(2013, 1, 15)


class DemoError(PipelineError):
    """The local deployment or run did not behave (not: the pipeline rejected the file)."""


def find_project(start: Optional[Path] = None) -> Path:
    """The checkout holding template.yaml: upwards from ``start`` (cwd), else from this package."""
    here = Path(__file__).resolve()
    candidates = [start or Path.cwd(), here.parent]
    for origin in candidates:
        for directory in (origin, *origin.parents):
            if (directory / "template.yaml").is_file() and (directory / "statemachine").is_dir():
                return directory
    raise ConfigError(
        "template.yaml not found: run the demo from the airline-pipeline checkout (or pass --project-dir)"
    )


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


@dataclass
class LocalPipeline:
    """The stack deployed to an emulator, with the handles a run needs."""

    emulator: Emulator
    project: Path
    warehouse_path: Path
    outputs: dict[str, str] = field(default_factory=dict)

    # --- deployment ---------------------------------------------------------------------------

    def deploy(self) -> None:
        """``sam build`` + ``sam deploy --config-env local``, then the Glue script workaround."""
        started = time.monotonic()
        self.emulator.client("s3").create_bucket(Bucket=ARTIFACTS_BUCKET)
        self._sam("build", "--config-env", "local")
        overrides = f"{_local_parameter_overrides(self.project)} WarehouseUri=duckdb://{self.warehouse_path}"
        self._sam(
            "deploy", "--config-env", "local", "--s3-bucket", ARTIFACTS_BUCKET, "--no-progressbar",
            "--parameter-overrides", overrides,
        )  # fmt: skip
        stack = self.emulator.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        self._script_key_ends_in_py()
        self._capture_notifications()
        log.info("deployed %s to the emulator in %.1fs", STACK, time.monotonic() - started)

    def _sam(self, *args: str) -> None:
        env = {**os.environ, **self.emulator.aws_env()}
        sam = str(self.emulator.venv_bin / "sam")
        log.info("$ sam %s", " ".join(shlex.quote(a) for a in args))
        done = subprocess.run([sam, *args], cwd=self.project, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DemoError(f"sam {args[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def _script_key_ends_in_py(self) -> None:
        glue, s3 = self.emulator.client("glue"), self.emulator.client("s3")
        job = glue.get_job(JobName=self.outputs["GlueJobName"])["Job"]
        location = job["Command"]["ScriptLocation"]
        if location.endswith(".py"):
            return
        bucket, key = location[len("s3://") :].split("/", 1)
        s3.copy_object(Bucket=bucket, Key=f"{key}.py", CopySource={"Bucket": bucket, "Key": key})
        update = {name: job[name] for name in ("Role", "DefaultArguments", "MaxRetries", "MaxCapacity", "GlueVersion")}
        update["Command"] = {**job["Command"], "ScriptLocation": f"{location}.py"}
        update["Timeout"] = int(job["Timeout"])
        glue.update_job(JobName=job["Name"], JobUpdate=update)

    def _capture_notifications(self) -> None:
        """An SQS queue subscribed to the topic: what an e-mail subscriber would get, readable by code."""
        sqs, sns = self.emulator.client("sqs"), self.emulator.client("sns")
        url = sqs.create_queue(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = self.outputs["NotificationTopicArn"]
        subscribed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if not any(s["Endpoint"] == arn for s in subscribed):
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.queue_url = url

    # --- the warehouse ------------------------------------------------------------------------

    def prepare_warehouse(self, airports: Path) -> int:
        """A fresh DuckDB warehouse with the airports loaded (the job and the report read it)."""
        for path in (self.warehouse_path, Path(f"{self.warehouse_path}.wal")):
            path.unlink(missing_ok=True)
        warehouse = DuckDBWarehouse(str(self.warehouse_path))
        warehouse.init_schema()
        return warehouse.load_airports(str(airports)).rows_upserted

    def warehouse_counts(self, batch_id: str) -> tuple[int, int, int]:
        """``(fact rows, rejected rows, flights with an unknown airport)`` of a batch, read back."""
        warehouse = DuckDBWarehouse(str(self.warehouse_path))
        row = warehouse.query(
            f"""SELECT (SELECT count(*) FROM {schema.FACT} WHERE batch_id = :b) AS loaded,
                       (SELECT count(*) FROM {schema.REJECTED} WHERE batch_id = :b) AS rejected,
                       (SELECT count(*) FROM {schema.FACT}
                         WHERE batch_id = :b AND (dep_airport IS NULL OR arr_airport IS NULL)) AS unknown""",
            {"b": batch_id},
        )[0]
        return int(row["loaded"]), int(row["rejected"]), int(row["unknown"])

    # --- one file through the pipeline --------------------------------------------------------

    def upload(self, path: Path, flight_date: date, name: Optional[str] = None) -> str:
        """Put the file where the rule listens: ``<DataPrefix>date=YYYY-MM-DD/<name>``."""
        key = f"daily-flights/date={flight_date.isoformat()}/{name or path.name}"
        self.emulator.client("s3").upload_file(str(path), self.outputs["DataBucketName"], key)
        log.info("uploaded %s to s3://%s/%s", path.name, self.outputs["DataBucketName"], key)
        return key

    def run_file(
        self, path: Path, flight_date: date, *, name: Optional[str] = None, timeout: float = 240
    ) -> ExecutionResult:
        """Upload, find the execution the EventBridge rule started for it, wait, read the outcome."""
        self._drain_notifications()
        since = datetime.now(timezone.utc)
        key = self.upload(path, flight_date, name)
        arn = self.find_execution(key, since)
        result = self.wait(arn, timeout=timeout)
        result.source_uri = f"s3://{self.outputs['DataBucketName']}/{key}"
        return result

    def find_execution(self, key: str, since: datetime, timeout: float = 60) -> str:
        """The execution whose input names ``key``, started after ``since`` - by the rule, not by us."""
        sfn = self.emulator.client("stepfunctions")
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
        raise DemoError(f"no execution started for {key} within {timeout:.0f}s: is the EventBridge rule deployed?")

    def wait(self, execution_arn: str, *, timeout: float = 240) -> ExecutionResult:
        """Follow the execution's states on stderr until it ends; then gather notification and rows."""
        sfn = self.emulator.client("stepfunctions")
        path: list[str] = []
        started = time.monotonic()
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            for entered in _entered_states(sfn, execution_arn)[len(path) :]:
                if entered not in path:  # poll loops repeat states: say each one once
                    log.info("  [%5.1fs] %s", time.monotonic() - started, entered)
                path.append(entered)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout:
                raise DemoError(f"execution still RUNNING after {timeout:.0f}s: {execution_arn}")
            time.sleep(0.5)
        batch_id = described["name"]
        loaded, rejected, unknown = self.warehouse_counts(batch_id)
        notification = self.notification()
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

    def notification(self, wait_seconds: int = 10) -> Optional[dict[str, Any]]:
        """The SNS message the execution published, as subject, body and JSON summary."""
        sqs = self.emulator.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        if not messages:
            return None
        sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        envelope = json.loads(messages[0]["Body"])
        attributes = envelope.get("MessageAttributes") or {}
        summary = (attributes.get("summary") or {}).get("Value")
        return {
            "subject": envelope.get("Subject"),
            "message": envelope.get("Message"),
            "summary": json.loads(summary) if summary else None,
        }

    def _drain_notifications(self) -> None:
        while self.notification(wait_seconds=0):
            pass


def _local_parameter_overrides(project: Path) -> str:
    """samconfig.toml's ``local`` parameter_overrides: the one place the local settings live."""
    import tomllib

    config = tomllib.loads((project / "samconfig.toml").read_text())
    return str(config["local"]["deploy"]["parameters"]["parameter_overrides"])


def _event_keys(execution_input: dict[str, Any]) -> set[str]:
    """The key an event names: URL-decoded as AWS sends it, or raw as the emulator does."""
    from airline_pipeline.sources import decode_event_key

    key = str(((execution_input.get("detail") or {}).get("object") or {}).get("key", ""))
    return {key, decode_event_key(key)}


def _entered_states(sfn: Any, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in sorted(events, key=lambda e: e["id"])
        if e["type"].endswith("StateEntered")
    ]


def run_demo(
    *,
    flights: Optional[Path] = None,
    airports: Optional[Path] = None,
    flight_date: Optional[date] = None,
    project: Optional[Path] = None,
    port: int = 4566,
    keep_running: bool = False,
) -> dict[str, Any]:
    """Everything ``airline-pipeline demo`` does; returns the summary it prints."""
    project = project or find_project()
    flights = (flights or SAMPLES / f"flights_{SAMPLE_DATE.isoformat()}.csv").resolve()
    airports = (airports or SAMPLES / "airports.csv").resolve()
    flight_date = flight_date or SAMPLE_DATE
    for path in (flights, airports):
        if not path.is_file():
            raise ConfigError(f"no such file: {path}")
    workdir = project / ".local" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(port=port, workdir=workdir / "emulator")
    started = time.monotonic()
    started_here = emulator.start()
    try:
        pipeline = LocalPipeline(emulator=emulator, project=project, warehouse_path=workdir / "warehouse.duckdb")
        pipeline.deploy()
        count = pipeline.prepare_warehouse(airports)
        log.info("warehouse %s ready with %s airports", pipeline.warehouse_path, f"{count:,}")
        result = pipeline.run_file(flights, flight_date)
    finally:
        if started_here and not keep_running:
            emulator.stop()
    log.info("execution %s in %.1fs (demo total %.1fs)", result.status, result.seconds, time.monotonic() - started)
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
        "demo_seconds": round(time.monotonic() - started, 1),
        "warehouse": f"duckdb://{pipeline.warehouse_path}",
        "region": REGION,
        "account": ACCOUNT,
        "notification": result.notification,
    }
