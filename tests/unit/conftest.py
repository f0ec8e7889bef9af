"""Shared fixtures for the Lambda handler tests: events, env, a fake context, moto, the handlers themselves.

The handlers are the very ``functions/<name>/app.py`` files ``sam build`` packages, loaded by path
(every folder has an ``app.py``, so each gets its own module name). They are invoked with the
sample events in ``events/`` - the files ``sam local invoke <Fn> -e events/<x>.json`` takes - and
with the environment ``events/env.json`` gives ``sam local invoke --env-vars``; AWS is moto.
"""

from __future__ import annotations

import copy
import dataclasses
import http.server
import importlib.util
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from lambda_support import LOGICAL_IDS, ROOT, FakeLambdaContext, Stack, env_json, load_event, load_function

#: The Lambda-side tests need the Lambda extra, moto and cfn-lint. `make glue39` collects tests/unit
#: under the Glue job's Python 3.9 with the job's pins only: there these files are not collected.
LAMBDA_TESTS = [
    "test_crawler_handler.py",
    "test_freshness_handler.py",
    "test_glue_library_handler.py",
    "test_lineage.py",
    "test_ledger.py",
    "test_notify_handler.py",
    "test_report_handler.py",
    "test_sample_events.py",
    "test_settings.py",
    "test_state_machine.py",
    "test_step_state.py",
    "test_template.py",
    "test_validate_handler.py",
]
_NEEDED = ("aws_lambda_powertools", "pydantic_settings", "moto", "cfnlint", "boto3")
if sys.version_info < (3, 11) or not all(importlib.util.find_spec(name) for name in _NEEDED):
    collect_ignore = LAMBDA_TESTS

# Powertools' Metrics and Logger read these when airline_pipeline.steps.powertools is first imported
# (before any test sets its environment); the values are the template's Globals.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "airline-pipeline")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AirlinePipeline")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """boto3 clients and settings are cached per Lambda container; every test is a new container."""

    def clear() -> None:
        # only once a test has loaded them: the contract tests also run where the Lambda extra is absent
        if "airline_pipeline.steps.powertools" in sys.modules:
            sys.modules["airline_pipeline.steps.powertools"].aws_client.cache_clear()
        if "airline_pipeline.steps.settings" in sys.modules:
            sys.modules["airline_pipeline.steps.settings"].clear_cache()

    clear()
    yield
    clear()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint override: nothing can reach a real AWS or an emulator."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def warehouse_uri(tmp_path: Path) -> str:
    """The warehouse the steps see: a DuckDB file of this test (env.json names the dev Redshift)."""
    return f"duckdb://{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, warehouse_uri: str) -> Callable[..., dict[str, str]]:
    """Apply ``events/env.json``'s variables of one function; ``NAME=None`` removes a variable."""

    def apply(function: str, **overrides: Optional[str]) -> dict[str, str]:
        values: dict[str, Optional[str]] = {
            **env_json()[LOGICAL_IDS[function]],
            "WAREHOUSE_URI": warehouse_uri,
            **overrides,
        }
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return {k: v for k, v in values.items() if v is not None}

    return apply


@pytest.fixture
def invoke(function_env: Callable[..., dict[str, str]], lambda_context: FakeLambdaContext) -> Callable[..., Any]:
    """Invoke ``functions/<name>/app.py``'s handler as Lambda would, with env.json's environment."""

    def run(function: str, event: dict[str, Any], **env: Optional[str]) -> Any:
        function_env(function, **env)
        name = f"airline-pipeline-dev-{function.replace('_', '-')}"
        context = dataclasses.replace(
            lambda_context,
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            log_group_name=f"/aws/lambda/{name}",
        )
        return load_function(function).handler(copy.deepcopy(event), context)

    return run


@pytest.fixture(scope="session")
def test_clients() -> dict[str, Any]:
    """The tests' own boto3 clients, made once: moto intercepts any client made after it is imported."""
    import boto3
    import moto  # noqa: F401 - imported first, so that these clients are ones moto can intercept

    make: Any = boto3.client
    return {
        service: make(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        for service in ("s3", "dynamodb", "sns", "sqs", "glue")
    }


@pytest.fixture
def stack(aws_credentials: None, test_clients: dict[str, Any]) -> Iterator[Stack]:
    """Given the stack's bucket, ledger table, topic (with a capturing queue) and crawler, in moto."""
    from moto import mock_aws

    env = env_json()["ValidateFunction"]
    bucket = load_event("s3_object_created")["detail"]["bucket"]["name"]
    s3, dynamodb, sns, sqs, glue = (test_clients[name] for name in ("s3", "dynamodb", "sns", "sqs", "glue"))
    with mock_aws():
        s3.create_bucket(Bucket=bucket)
        dynamodb.create_table(
            TableName=env["LEDGER_TABLE"],
            AttributeDefinitions=[{"AttributeName": "file_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "file_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic_arn = sns.create_topic(Name=env["TOPIC_ARN"].rsplit(":", 1)[1])["TopicArn"]
        assert topic_arn == env["TOPIC_ARN"], "env.json's topic is in moto's default account and region"
        queue_url = sqs.create_queue(QueueName="notifications-capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        glue.create_database(DatabaseInput={"Name": "airline_pipeline_dev"})
        glue.create_crawler(
            Name=env["CRAWLER_NAME"],
            Role="arn:aws:iam::123456789012:role/airline-pipeline-dev-CrawlerRole-1Q2W3E4R5T6Y",
            DatabaseName="airline_pipeline_dev",
            Targets={"S3Targets": [{"Path": f"s3://{bucket}/{env['DATA_PREFIX']}"}]},
        )
        yield Stack(
            bucket=bucket,
            ledger_table=env["LEDGER_TABLE"],
            topic_arn=topic_arn,
            crawler_name=env["CRAWLER_NAME"],
            queue_url=queue_url,
            s3=s3,
            dynamodb=dynamodb,
            sqs=sqs,
            glue=glue,
            sns=sns,
        )


@pytest.fixture(scope="session")
def asl() -> dict[str, Any]:
    """statemachine/pipeline.asl.json, parsed."""
    return dict(json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text()))


class ResponseCollector(http.server.BaseHTTPRequestHandler):
    """Answers PUTs like S3 answers CloudFormation's pre-signed response URL, keeping what it got."""

    received: list[dict[str, Any]]

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(
            {
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "body": json.loads(self.rfile.read(length)),
            }
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A ResponseURL on 127.0.0.1 and the list of responses PUT to it."""
    received: list[dict[str, Any]] = []
    handler = type("Collector", (ResponseCollector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/cloudformation-response?X-Amz-Signature=3f0c4e2b", received
    finally:
        server.shutdown()
        server.server_close()
