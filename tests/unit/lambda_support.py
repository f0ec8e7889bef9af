"""Helpers of the Lambda handler tests (fixtures are in conftest.py): events, env.json, the handlers."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import airline_pipeline

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "events"
FUNCTIONS_DIR = ROOT / "functions"
SAMPLES_DIR = Path(airline_pipeline.__file__).resolve().parent / "samples"
SAMPLE_FLIGHTS = SAMPLES_DIR / "flights_2013-01-15.csv"
SAMPLE_AIRPORTS = SAMPLES_DIR / "airports.csv"

#: The function folders and the template's logical ids (the keys of events/env.json).
LOGICAL_IDS = {
    "validate": "ValidateFunction",
    "crawler": "CrawlerFunction",
    "report": "ReportFunction",
    "notify": "NotifyFunction",
    "glue_library": "GlueLibraryFunction",
    "warehouse_bootstrap": "WarehouseBootstrapFunction",
    "freshness": "FreshnessFunction",
}

#: The object ``events/validate_bad_header.json`` announces: a BTS "On-Time Performance" export
#: uploaded as is (date columns and all). The event's size and etag are this content's.
BAD_HEADER_CSV = (
    b"Year,Month,DayofMonth,Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n"
    b"2013,1,16,DL,10397,12478,-3,5\n"
    b"2013,1,16,UA,12266,12892,14,9\n"
    b"2013,1,16,AA,13930,11298,-6,-12\n"
    b"2013,1,16,WN,10821,13495,38,41\n"
    b"2013,1,16,B6,12478,13204,,\n"
)


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json`` (tests may change it)."""
    return dict(json.loads((EVENTS_DIR / f"{name}.json").read_text()))


def validate_request(event: dict[str, Any], execution: str) -> dict[str, Any]:
    """What ValidateFile passes the validate function: the S3 event (the execution's input) and its name."""
    return {"event": event, "execution": execution}


def s3_event_of(request: dict[str, Any]) -> dict[str, Any]:
    """The S3 ``Object Created`` event inside a validate request."""
    return dict(request["event"])


def emitted_metrics(stdout: str) -> dict[str, float]:
    """The metrics Powertools flushed as CloudWatch EMF lines on stdout: name -> total value."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "_aws" not in record:
            continue
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(
                    value if isinstance(value, list) else [value]
                )
    return totals


def env_json() -> dict[str, dict[str, str]]:
    return dict(json.loads((EVENTS_DIR / "env.json").read_text()))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload


_FUNCTIONS: dict[str, ModuleType] = {}


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as module ``functions_<name>_app`` (loaded once per session)."""
    if name not in _FUNCTIONS:
        module_name = f"functions_{name}_app"
        spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / name / "app.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # pydantic resolves the models' annotations through it
        spec.loader.exec_module(module)
        _FUNCTIONS[name] = module
    return _FUNCTIONS[name]


@dataclass
class FakeLambdaContext:
    """What Powertools reads from the context (as in Powertools' own test examples)."""

    function_name: str = "airline-pipeline-dev-validate"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:airline-pipeline-dev-validate"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/airline-pipeline-dev-validate"
    log_stream_name: str = "2026/11/23/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Stack:
    """The deployed resources the functions use, in moto, named as in events/env.json."""

    bucket: str
    ledger_table: str
    topic_arn: str
    crawler_name: str
    queue_url: str
    s3: Any
    dynamodb: Any
    sqs: Any
    glue: Any
    sns: Any
    _seen: list[dict[str, Any]] = field(default_factory=list)

    def put(self, key: str, body: bytes) -> str:
        """Upload an object; returns its ETag (unquoted, as the event carries it)."""
        return str(self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"]).strip('"')

    def ledger_item(self, file_id: str) -> Optional[dict[str, Any]]:
        item = self.dynamodb.get_item(TableName=self.ledger_table, Key={"file_id": {"S": file_id}}, ConsistentRead=True)
        if "Item" not in item:
            return None
        return {name: next(iter(value.values())) for name, value in item["Item"].items()}

    def put_ledger_item(self, file_id: str, status: str, *, owner: str = "an-earlier-execution", **extra: str) -> None:
        """A ledger item as another (or an earlier) execution left it; ``extra`` numbers are stored as N."""
        item = {"file_id": {"S": file_id}, "status": {"S": status}, "owner": {"S": owner}}
        item.update({name: {"N": value} if value.isdigit() else {"S": value} for name, value in extra.items()})
        self.dynamodb.put_item(TableName=self.ledger_table, Item=item)

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS message published so far (subject, body and decoded attributes), oldest first."""
        while True:
            received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = received.get("Messages", [])
            if not messages:
                return list(self._seen)
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = {name: value["Value"] for name, value in (envelope.get("MessageAttributes") or {}).items()}
                self._seen.append(
                    {"subject": envelope.get("Subject"), "body": envelope["Message"], "attributes": attributes}
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


_TEMPLATE: dict[str, Any] = {}


def load_template() -> dict[str, Any]:
    """template.yaml with its short-form intrinsics (``!Ref``, ``!Sub``, ...) as cfn-lint reads them."""
    if not _TEMPLATE:
        from cfnlint.decode import decode

        template, problems = decode(str(ROOT / "template.yaml"))
        assert not problems, problems
        assert template is not None
        _TEMPLATE.update(template)
    return _TEMPLATE
