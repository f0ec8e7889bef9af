"""IAM conformance: every AWS call the stack makes is allowed by the roles CloudFormation deployed.

The emulator enforces no IAM, so a missing permission shows only on the first real deploy. Here:

1. every call a Lambda or the Glue job made during this e2e session (recorded by tests/e2e/recorder,
   botocore's ``before-parameter-build``), with its parameters;
2. the calls AWS services make on the stack's behalf, with the stack's roles: Glue reading the job's
   script and ``--extra-py-files``, the crawler reading the data, Step Functions invoking the
   Lambdas and the Glue API (and sending traces when tracing is on), EventBridge starting the state
   machine, Lambda writing logs, traces and dead letters, KMS use behind an encrypted topic or queue;
3. the calls the Redshift warehouse makes (Data API, S3 staging), recorded from its unit tests
   (botocore Stubber), as the Glue job's and the report function's;

are mapped to (action, resource ARN) and evaluated against the deployed roles' policies (inline, as
CloudFormation resolved them, and the AWS managed ones) with moto's IAM policy evaluator. The local
stack's calls are evaluated against its own roles and, translated resource by resource, against a
second deployment of the same template with AWS parameters (``aws_like``: Redshift, X-Ray on), so
both renderings of every conditional policy are checked. Any denied call fails the test and is
listed; the test reports how many checks and roles it evaluated.

Not evaluable here, and reported as such: the Redshift COPY reads the staging prefix with the role
associated with the namespace (``iam_role=`` of the URI), which this stack does not deploy. Objects
of the data bucket are encrypted with the AWS managed key aws/s3, whose key policy lets every
principal of the account use it through S3: no IAM permission is involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.aws_managed_policies import aws_managed_policies_data
from stacks import AWS_LIKE_PARAMETERS, COPY_ROLE, RECORDER, ROOT, STAGING_BUCKET, WORKGROUP, WORKGROUP_ARN

from airline_pipeline.local.demo import LocalPipeline
from airline_pipeline.local.emulator import ACCOUNT, REGION

pytestmark = pytest.mark.after_every_e2e_test

DATA = Path(__file__).resolve().parent / "data"
#: Context keys the stack's conditions test, as IAM would fill them for the caller's own requests.
OWN_STATEMENT = {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
#: The Redshift warehouse's unit tests that are the Glue job's calls and the report function's.
REDSHIFT_JOB_TESTS = [
    "test_load_file_runs_the_exact_transaction_and_stages_what_duckdb_would_insert",
    "test_a_file_without_rejected_rows_copies_no_rejected_file_but_still_replaces_old_rejections",
    "test_a_failed_copy_raises_load_failed_with_the_load_error_detail",
    "test_a_load_that_outlives_the_timeout_is_cancelled",
    "test_record_failure_inserts_a_failed_audit_row_with_named_parameters",
]
REDSHIFT_REPORT_TESTS = ["test_query_binds_named_parameters_and_returns_plain_python_rows"]


@dataclass(frozen=True)
class Check:
    """One request IAM decides: who, what, on which resource, and why it is made."""

    role: str
    action: str
    resource: str
    why: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class Stack:
    """A deployed stack as IAM sees it: its resources, roles and parameters."""

    pipeline: LocalPipeline
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, pipeline: LocalPipeline) -> Stack:
        cfn = pipeline.clients("cloudformation")
        resources = cfn.describe_stack_resources(StackName=pipeline.stack_name)["StackResources"]
        described = cfn.describe_stacks(StackName=pipeline.stack_name)["Stacks"][0]
        return cls(
            pipeline,
            {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources},
            {p["ParameterKey"]: p["ParameterValue"] for p in described.get("Parameters", [])},
        )

    def client(self, service: str) -> Any:
        return self.pipeline.clients(service)

    def function_role(self, function_name: str) -> str:
        return role_name(self.client("lambda").get_function(FunctionName=function_name)["Configuration"]["Role"])

    @property
    def functions(self) -> dict[str, str]:
        """Logical id -> function name."""
        return {
            logical: physical
            for logical, physical in self.physical.items()
            if logical.endswith("Function") and not logical.endswith("LogGroup")
        }

    @property
    def job(self) -> dict[str, Any]:
        return dict(self.client("glue").get_job(JobName=self.physical["JoinAndLoadJob"])["Job"])


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def s3_arn(bucket: str, key: Optional[str] = None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.lstrip("/")


# --- recorded calls -> IAM requests --------------------------------------------------------------------

S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}
S3_BUCKET_ACTIONS = {"ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket", "HeadBucket": "s3:ListBucket"}
#: Calls IAM does not authorize (the caller's own identity).
NO_PERMISSION = {("sts", "GetCallerIdentity")}


Request = tuple[str, str, tuple[tuple[str, str], ...]]
ARN = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"


def s3_requests(operation: str, params: dict[str, Any], stack: Stack) -> Optional[list[Request]]:
    if operation in S3_OBJECT_ACTIONS:
        return [(S3_OBJECT_ACTIONS[operation], s3_arn(params["Bucket"], params["Key"]), ())]
    if operation in S3_BUCKET_ACTIONS:
        return [(S3_BUCKET_ACTIONS[operation], s3_arn(params["Bucket"]), ())]
    if operation == "DeleteObjects":
        return [("s3:DeleteObject", s3_arn(params["Bucket"], o["Key"]), ()) for o in params["Delete"]["Objects"]]
    if operation == "CopyObject":
        source = params["CopySource"]
        bucket, key = (
            (source["Bucket"], source["Key"]) if isinstance(source, dict) else source.lstrip("/").split("/", 1)
        )
        return [
            ("s3:GetObject", s3_arn(bucket, key), ()),
            ("s3:PutObject", s3_arn(params["Bucket"], params["Key"]), ()),
        ]
    return None


def named_resource_requests(service: str) -> Any:
    """Calls authorized on the resource their parameters name."""

    def requests(operation: str, params: dict[str, Any], stack: Stack) -> Optional[list[Request]]:
        if service == "dynamodb" and "TableName" in params:
            return [(f"dynamodb:{operation}", ARN.format("dynamodb", f"table/{params['TableName']}"), ())]
        if service == "glue" and operation in ("StartCrawler", "GetCrawler"):
            return [(f"glue:{operation}", ARN.format("glue", f"crawler/{params['Name']}"), ())]
        if service == "glue" and operation in ("StartJobRun", "GetJobRun"):
            return [(f"glue:{operation}", ARN.format("glue", f"job/{params['JobName']}"), ())]
        if service == "glue" and operation in ("GetTables", "BatchCreatePartition"):
            # Data Catalog calls: authorized on the catalog, the database and the table(s) they reach
            table = params.get("TableName", "*")
            return [
                (f"glue:{operation}", ARN.format("glue", resource), ())
                for resource in (
                    "catalog",
                    f"database/{params['DatabaseName']}",
                    f"table/{params['DatabaseName']}/{table}",
                )
            ]
        if service == "sns" and operation == "Publish":
            return [("sns:Publish", params["TopicArn"], ()), *kms_behind_topic(params["TopicArn"], stack)]
        return None

    return requests


def redshift_data_requests(operation: str, params: dict[str, Any], stack: Stack) -> Optional[list[Request]]:
    if operation in ("ExecuteStatement", "BatchExecuteStatement"):
        return [(f"redshift-data:{operation}", redshift_target(params, stack), ())]
    if operation in ("DescribeStatement", "GetStatementResult", "CancelStatement"):
        return [(f"redshift-data:{operation}", "*", tuple(OWN_STATEMENT.items()))]
    return None


MAPPERS = {
    "s3": s3_requests,
    "dynamodb": named_resource_requests("dynamodb"),
    "glue": named_resource_requests("glue"),
    "sns": named_resource_requests("sns"),
    "redshift-data": redshift_data_requests,
}


def iam_requests(call: dict[str, Any], stack: Stack) -> list[Request]:
    """The (action, resource, condition context) IAM evaluates for one recorded API call."""
    service, operation, params = call["service"], call["operation"], call["params"]
    if (service, operation) in NO_PERMISSION:
        return []
    mapper = MAPPERS.get(service)
    found = mapper(operation, params, stack) if mapper else None
    if found is None:
        raise AssertionError(f"no IAM mapping for {call['prefix']}:{operation} {params}: add it to MAPPERS")
    return found


def redshift_target(params: dict[str, Any], stack: Stack) -> str:
    """The Data API authorizes a statement on the workgroup (or cluster) ARN the stack was given."""
    assert params.get("WorkgroupName") == WORKGROUP, params
    return stack.parameters["RedshiftResourceArn"]


def kms_behind_topic(topic_arn: str, stack: Stack) -> list[Request]:
    """Publishing to an SSE-KMS topic: the publisher needs the key (SNS docs: encryption at rest)."""
    attributes = stack.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    return kms_use(attributes.get("KmsMasterKeyId"), stack)


def kms_use(key: Optional[str], stack: Stack) -> list[Request]:
    if not key:
        return []
    key_arn = stack.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    return [("kms:GenerateDataKey", key_arn, ()), ("kms:Decrypt", key_arn, ())]


# --- what AWS services do with the stack's roles ------------------------------------------------------


def on_behalf(stack: Stack) -> list[Check]:
    checks: list[Check] = []
    job = stack.job
    job_role = role_name(job["Role"])
    # Glue fetches the script and every --extra-py-files object with the job's role
    uris = [job["Command"]["ScriptLocation"], *job["DefaultArguments"]["--extra-py-files"].split(",")]
    for uri in uris:
        checks.append(Check(job_role, "s3:GetObject", s3_arn(*split_s3_uri(uri)), "Glue reads the job's files"))
    # and writes the Python shell job's output and error logs with it
    for group in ("/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error"):
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            resource = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{job['Name']}"
            checks.append(Check(job_role, action, resource, "Glue writes the job's logs"))
    # the crawler lists and reads the data prefix, writes the catalog and its logs
    crawler = stack.client("glue").get_crawler(Name=stack.physical["FlightsCrawler"])["Crawler"]
    crawler_role = role_name(crawler["Role"])
    bucket = stack.pipeline.bucket
    checks.append(Check(crawler_role, "s3:ListBucket", s3_arn(bucket), "the crawler lists the data prefix"))
    for page in stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="daily-flights/"):
        for item in page.get("Contents", []):
            checks.append(Check(crawler_role, "s3:GetObject", s3_arn(bucket, item["Key"]), "the crawler reads a file"))
    database = crawler["DatabaseName"]
    for action, resource in [
        ("glue:GetDatabase", f"database/{database}"),
        ("glue:CreateTable", f"table/{database}/daily_flights"),
        ("glue:UpdateTable", f"table/{database}/daily_flights"),
        ("glue:BatchCreatePartition", f"table/{database}/daily_flights"),
    ]:
        checks.append(Check(crawler_role, action, f"arn:aws:glue:{REGION}:{ACCOUNT}:{resource}", "the crawler"))
    crawler_logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws-glue/crawlers:log-stream:{crawler['Name']}"
    checks.append(Check(crawler_role, "logs:PutLogEvents", crawler_logs, "the crawler writes its log"))
    checks += state_machine_calls(stack)
    checks += lambda_service_calls(stack)
    return checks


def state_machine_calls(stack: Stack) -> list[Check]:
    """What Step Functions does with the state machine's role: every Task of the deployed definition."""
    sfn = stack.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=stack.pipeline.outputs["StateMachineArn"])
    role = role_name(machine["roleArn"])
    checks = []
    for name, state in json.loads(machine["definition"])["States"].items():
        resource = state.get("Resource", "")
        if resource.startswith("arn:aws:lambda:"):
            checks.append(Check(role, "lambda:InvokeFunction", resource, f"Step Functions runs {name}"))
        elif resource.startswith("arn:aws:states:::aws-sdk:glue:"):
            action = "glue:" + resource.rsplit(":", 1)[1][0].upper() + resource.rsplit(":", 1)[1][1:]
            job = f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{state['Parameters']['JobName']}"
            checks.append(Check(role, action, job, f"Step Functions runs {name}"))
        elif resource:
            raise AssertionError(f"{name}: no IAM mapping for a Task resource {resource}")
    # MiniStack accepts TracingConfiguration without keeping it: the template traces outside `local`
    traced = (machine.get("tracingConfiguration") or {}).get("enabled", stack.parameters["Environment"] != "local")
    if traced:
        for action in ("PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets"):
            checks.append(Check(role, f"xray:{action}", "*", "Step Functions sends the execution's traces"))
    if (machine.get("loggingConfiguration") or {}).get("destinations"):
        for action in ("CreateLogDelivery", "GetLogDelivery", "UpdateLogDelivery", "DescribeLogGroups"):
            checks.append(Check(role, f"logs:{action}", "*", "Step Functions delivers execution logs"))
    # EventBridge starts executions with the rule target's role
    events = stack.client("events")
    rule = f"airline-pipeline-{stack.parameters['Environment']}-file-landed"
    for target in events.list_targets_by_rule(Rule=rule)["Targets"]:
        checks.append(Check(role_name(target["RoleArn"]), "states:StartExecution", target["Arn"], "EventBridge"))
    return checks


def lambda_service_calls(stack: Stack) -> list[Check]:
    """What Lambda does with a function's role: logs, traces (when active), dead letters."""
    checks = []
    for name in stack.functions.values():
        configuration = stack.client("lambda").get_function(FunctionName=name)["Configuration"]
        role = role_name(configuration["Role"])
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}"
        checks.append(Check(role, "logs:CreateLogStream", f"{group}:*", "Lambda writes the function's log"))
        checks.append(Check(role, "logs:PutLogEvents", f"{group}:log-stream:x", "Lambda writes the function's log"))
        if (configuration.get("TracingConfig") or {}).get("Mode") == "Active":
            for action in ("PutTraceSegments", "PutTelemetryRecords"):
                checks.append(Check(role, f"xray:{action}", "*", "Lambda sends the function's traces"))
        dead_letters = (configuration.get("DeadLetterConfig") or {}).get("TargetArn")
        if dead_letters:
            checks.append(Check(role, "sqs:SendMessage", dead_letters, "Lambda sends a failed event to the DLQ"))
            queue = stack.client("sqs").get_queue_url(QueueName=dead_letters.rsplit(":", 1)[1])["QueueUrl"]
            key = stack.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["KmsMasterKeyId"])
            for action, resource, _ in kms_use(key["Attributes"].get("KmsMasterKeyId"), stack):
                checks.append(Check(role, action, resource, "Lambda encrypts the dead letter"))
    return checks


# --- policies and their evaluation --------------------------------------------------------------------


def managed_policy(arn: str) -> dict[str, Any]:
    """An AWS managed policy's document: AWSGlueServiceRole as its reference page documents it
    (tests/e2e/data), the others from moto's copy of the AWS managed policies."""
    name = arn.rsplit("/", 1)[1]
    shipped = DATA / f"{name}.json"
    if shipped.is_file():
        return dict(json.loads(shipped.read_text())["document"])
    return dict(json.loads(aws_managed_policies_data)[name]["Document"])


def role_policies(stack: Stack, role: str) -> list[dict[str, Any]]:
    iam = stack.client("iam")
    documents = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        documents.append(json.loads(document) if isinstance(document, str) else document)
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        assert attached["PolicyArn"].startswith("arn:aws:iam::aws:policy/"), attached
        documents.append(managed_policy(attached["PolicyArn"]))
    return documents


def allowed(documents: list[dict[str, Any]], check: Check) -> bool:
    """IAM's rule for one account and identity policies: an explicit Deny wins, else any Allow."""
    results = [
        IAMPolicy(json.dumps(document)).is_action_permitted(check.action, check.resource, None, dict(check.context))
        for document in documents
    ]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def evaluate(stack: Stack, checks: Iterable[Check]) -> tuple[list[Check], list[Check], set[str]]:
    cache: dict[str, list[dict[str, Any]]] = {}
    passed, denied, roles = [], [], set()
    for check in checks:
        if check.role not in cache:
            cache[check.role] = role_policies(stack, check.role)
        roles.add(check.role)
        (passed if allowed(cache[check.role], check) else denied).append(check)
    return passed, denied, roles


# --- the recorded calls, per stack ----------------------------------------------------------------------


def recorded(call_log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in call_log.read_text().splitlines() if line.strip()]


def component_checks(calls: list[dict[str, Any]], stack: Stack) -> list[Check]:
    """The recorded calls of this stack's components, as checks of their roles."""
    checks = []
    names = set(stack.functions.values())
    for call in calls:
        kind, _, name = call["component"].partition(":")
        if kind == "lambda" and name in names:
            role = stack.function_role(name)
        elif kind == "glue-job" and stack.parameters["Environment"] == "local":
            role = role_name(stack.job["Role"])
        else:
            continue
        for action, resource, context in iam_requests(call, stack):
            checks.append(Check(role, action, resource, f"{call['component']} {call['operation']}", context))
    return checks


def translated(checks: list[Check], source: Stack, target: Stack) -> list[Check]:
    """The same requests made by the other stack's same resources: physical ids swapped by logical id."""
    renames = sorted(
        (
            (source.physical[logical], physical)
            for logical, physical in target.physical.items()
            if logical in source.physical
        ),
        key=lambda pair: -len(pair[0]),
    )
    role_of = {
        source.function_role(name): target.function_role(target.functions[logical])
        for logical, name in source.functions.items()
        if logical in target.functions
    }
    role_of[role_name(source.job["Role"])] = role_name(target.job["Role"])
    moved = []
    for check in checks:
        resource = check.resource
        for old, new in renames:
            resource = resource.replace(old, new)
        moved.append(Check(role_of[check.role], check.action, resource, check.why, check.context))
    return moved


def redshift_calls(tmp_path: Path, component: str, tests: list[str]) -> list[dict[str, Any]]:
    """Run the Redshift warehouse's unit tests with the recorder on: the calls the warehouse makes."""
    log = tmp_path / f"{component.replace(':', '-')}.jsonl"
    log.touch()
    env = {
        **os.environ,
        "PYTHONPATH": str(RECORDER),
        "AIRLINE_PIPELINE_CALL_LOG": str(log),
        "AIRLINE_PIPELINE_CALL_COMPONENT": component,
        "AIRLINE_PIPELINE_CALL_FROM": "airline_pipeline",
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    selected = [f"tests/unit/test_redshift_warehouse.py::{test}" for test in tests]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selected],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return recorded(log)


def test_every_call_the_stacks_make_is_allowed_by_their_roles(
    pipeline: LocalPipeline,
    aws_like: LocalPipeline,
    call_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the calls this session's Lambdas and Glue job made, and both deployed stacks
    calls = recorded(call_log)
    local, aws = Stack.read(pipeline), Stack.read(aws_like)
    assert aws.parameters["RedshiftResourceArn"] == AWS_LIKE_PARAMETERS["RedshiftResourceArn"] == WORKGROUP_ARN
    components = {call["component"] for call in calls}
    # (on the local stack the report and the bootstrap use the DuckDB file: no AWS call; their Redshift
    # calls come from the AWS-like stack's bootstrap and from the report's unit tests below)
    duckdb_only = ("ReportFunction", "WarehouseBootstrapFunction")
    callers = {f"lambda:{name}" for logical, name in local.functions.items() if logical not in duckdb_only}
    callers.add(f"lambda:{aws.functions['WarehouseBootstrapFunction']}")
    assert callers <= components, "every function made its calls"
    assert "glue-job:join_and_load.py" in components, "the job ran"

    # When each is mapped to what IAM decides, with the calls AWS makes on the stacks' behalf
    local_checks = component_checks(calls, local)
    aws_checks = component_checks(calls, aws) + translated(local_checks, local, aws)
    aws_job, aws_report = role_name(aws.job["Role"]), aws.function_role(aws.functions["ReportFunction"])
    # the freshness check reads the audit table through the same Warehouse.query as the report
    aws_freshness = aws.function_role(aws.functions["FreshnessFunction"])
    for component, tests, role in [
        ("glue-job:redshift", REDSHIFT_JOB_TESTS, aws_job),
        ("lambda:report-redshift", REDSHIFT_REPORT_TESTS, aws_report),
        ("lambda:freshness-redshift", REDSHIFT_REPORT_TESTS, aws_freshness),
    ]:
        for call in redshift_calls(tmp_path, component, tests):
            bucket = call["params"].get("Bucket")
            assert bucket in (None, STAGING_BUCKET), call  # the unit tests' staging bucket is the stack's
            for action, resource, context in iam_requests(call, aws):
                aws_checks.append(Check(role, action, resource, f"{component} {call['operation']}", context))
    local_passed, local_denied, local_roles = evaluate(local, local_checks + on_behalf(local))
    aws_passed, aws_denied, aws_roles = evaluate(aws, aws_checks + on_behalf(aws))

    # Then nothing is denied
    denied = sorted({(c.role, c.action, c.resource, c.why) for c in local_denied + aws_denied})
    listing = "\n".join(f"  DENIED {role}: {action} on {resource} ({why})" for role, action, resource, why in denied)
    assert not denied, f"{len(denied)} requests the deployed roles do not allow:\n{listing}"
    # and the Redshift calls were there to check, with the COPY's own role out of the stack's reach
    assert any(c.action == "redshift-data:BatchExecuteStatement" and c.role == aws_job for c in aws_passed)
    assert any(c.action == "redshift-data:CancelStatement" for c in aws_passed)
    aws_bootstrap = aws.function_role(aws.functions["WarehouseBootstrapFunction"])
    assert any(c.action == "redshift-data:ExecuteStatement" and c.role == aws_bootstrap for c in aws_passed)
    assert any(c.action == "xray:PutTraceSegments" and c.why.startswith("Step Functions") for c in aws_passed)
    checked = len(local_passed) + len(aws_passed)
    distinct = len({(c.role, c.action, c.resource) for c in local_passed + aws_passed})
    with capsys.disabled():
        print(
            f"\nIAM conformance: {len(calls)} recorded calls + on-behalf and Redshift calls -> {checked} checks "
            f"({distinct} distinct role/action/resource) on {len(local_roles)} + {len(aws_roles)} roles of 2 stacks; "
            f"0 denied. Not evaluated: Redshift COPY reading s3://{STAGING_BUCKET}/staging/ as {COPY_ROLE} "
            "(the namespace's role, not this stack's)."
        )


def test_the_shipped_managed_policy_is_the_documented_one() -> None:
    # The AWSGlueServiceRole document the check uses is its reference page's (v5), as moto has it too
    shipped = json.loads((DATA / "AWSGlueServiceRole.json").read_text())
    assert shipped["source"].startswith("AWS Managed Policy Reference Guide")
    moto_copy = json.loads(aws_managed_policies_data)["AWSGlueServiceRole"]
    assert (shipped["version"], shipped["document"]) == (moto_copy["DefaultVersionId"], moto_copy["Document"])
    # and it reaches only aws-glue-* buckets for objects: the job's own files need the job's policy
    object_statements = [s for s in shipped["document"]["Statement"] if "s3:GetObject" in s["Action"]]
    resources = {r for s in object_statements for r in s["Resource"]}
    assert all("aws-glue-" in r or "crawler-public" in r for r in resources)
