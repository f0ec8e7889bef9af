"""template.yaml: the design decisions, asserted on the template itself (read the way cfn-lint reads it).

Storage is private and encrypted, the trigger is exact and does not lose events, IAM is scoped (every
``Resource: "*"`` is one AWS cannot scope, and says why in a comment), every function runs the
domain layer on python3.11, the Glue job runs what GlueLibrary published (and may read it), logs
expire, and the Rules refuse parameter combinations that would deploy a broken pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from lambda_support import FUNCTIONS_DIR, LOGICAL_IDS, ROOT, load_template

from airline_pipeline.adapters import ledger
from airline_pipeline.adapters.warehouse.bootstrap import LOADER, READER
from airline_pipeline.steps.settings import STEP_SETTINGS

TEMPLATE_LINES = (ROOT / "template.yaml").read_text().splitlines()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def functions(resources: dict[str, Any]) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


# --- the data bucket ---------------------------------------------------------------------------------


def test_bucket_sends_events_to_eventbridge(resources: dict[str, Any]) -> None:
    notifications = resources["DataBucket"]["Properties"]["NotificationConfiguration"]
    assert notifications == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_bucket_is_encrypted(resources: dict[str, Any]) -> None:
    (rule,) = resources["DataBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256", "aws:kms:dsse")
    assert rule["BucketKeyEnabled"] is True


def test_bucket_blocks_public_access(resources: dict[str, Any]) -> None:
    block = resources["DataBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert resources["DataBucket"]["Properties"]["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]


def test_bucket_policy_denies_plain_http(resources: dict[str, Any]) -> None:
    policy = resources["DataBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "DataBucket"}
    denials = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denials) == 1
    (deny,) = denials
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Resource"] == [{"Fn::GetAtt": ["DataBucket", "Arn"]}, {"Fn::Sub": "${DataBucket.Arn}/*"}]


# --- the trigger -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule(resources: dict[str, Any]) -> dict[str, Any]:
    event = resources["PipelineStateMachine"]["Properties"]["Events"]["FileLanded"]
    assert event["Type"] == "EventBridgeRule"
    return dict(event["Properties"])


def test_rule_matches_csv_objects_under_the_prefix_only(rule: dict[str, Any]) -> None:
    pattern = rule["Pattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    # one wildcard for prefix AND suffix: several values in one array would be OR'ed
    assert pattern["detail"]["object"]["key"] == [{"wildcard": {"Fn::Sub": "${DataPrefix}*.csv"}}]


def test_data_prefix_cannot_widen_the_rule(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["DataPrefix"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch(parameter["Default"])
    assert not pattern.fullmatch("daily-flights"), "the prefix is a folder: it must end with /"
    assert not pattern.fullmatch(""), "an empty prefix would trigger on every .csv in the bucket"


def test_rule_retries_and_keeps_undeliverable_events(rule: dict[str, Any], resources: dict[str, Any]) -> None:
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert 60 <= rule["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}}
    # and EventBridge may write to that queue, for this rule only
    (statement,) = resources["TriggerDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    rule_name = rule["RuleName"]["Fn::Sub"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"].endswith(f":rule/{rule_name}")


# --- IAM: no Resource "*" without a reason ----------------------------------------------------------


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement-like mapping (it has Effect and Action) anywhere in the template."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from statements(value)


def is_star(resource: Any) -> bool:
    return resource == "*" or (isinstance(resource, list) and "*" in resource)


def comment_before(statement: Any) -> str:
    """The YAML comment lines inside ``statement`` above its ``Resource:`` key."""
    resource_key = next(key for key in statement if key == "Resource")
    lines = TEMPLATE_LINES[statement.start_mark.line : resource_key.start_mark.line]
    return " ".join(line.strip() for line in lines if line.strip().startswith("#"))


#: The statements AWS gives no resource type to scope, and what their comment must say.
UNSCOPABLE = {
    "cloudwatch log delivery": ({"logs:CreateLogDelivery", "logs:PutResourcePolicy"}, "resource-level"),
    "data api statements": ({"redshift-data:DescribeStatement", "redshift-data:GetStatementResult"}, "no resource"),
    "kms key policy": ({"kms:*"}, "is this key"),
    "kms key policy services": ({"kms:Decrypt"}, "is this key"),
    "x-ray trace submission": ({"xray:PutTraceSegments", "xray:GetSamplingRules"}, "no resource type"),
    "tagging api (RedshiftDbRoles)": ({"tag:GetResources", "tag:GetTagKeys"}, "no resource type"),
}


def test_every_star_resource_is_an_unscopable_action_with_a_comment(template: dict[str, Any]) -> None:
    stars = [s for s in statements(template["Resources"]) if is_star(s.get("Resource"))]
    assert stars, "the template has the documented '*' statements"
    for statement in stars:
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        kinds = [kind for kind, (marker, _) in UNSCOPABLE.items() if marker <= actions]
        assert kinds, f"Resource '*' for {sorted(actions)} (line {statement.start_mark.line + 1})"
        comment = comment_before(statement)
        assert comment, f"Resource '*' at line {statement.start_mark.line + 1} has no comment saying why"
        assert UNSCOPABLE[kinds[0]][1] in comment, comment
        if kinds[0] == "data api statements":
            # limited to the caller's own statements
            assert statement["Condition"] == {
                "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
            }
        if kinds[0].startswith("kms key policy"):
            assert statement.start_mark.line > 0
            key_policy = template["Resources"]["PipelineKey"]["Properties"]["KeyPolicy"]["Statement"]
            assert statement in key_policy


def test_no_wildcard_actions_outside_the_key_policy(template: dict[str, Any]) -> None:
    key_policy = template["Resources"]["PipelineKey"]["Properties"]["KeyPolicy"]["Statement"]
    for statement in statements(template["Resources"]):
        if statement in key_policy or statement.get("Effect") == "Deny":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(action.endswith(":*") or action == "*" for action in actions), actions


# --- functions and the layer ------------------------------------------------------------------------


def test_every_function_runs_python311_with_the_domain_layer(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.11"
    # SAM puts Globals layers BEFORE a function's own: none there, so each function can list the domain layer last
    assert "Layers" not in globals_
    found = functions(resources)
    assert set(found) == {
        "ValidateFunction",
        "CrawlerFunction",
        "ReportFunction",
        "NotifyFunction",
        "GlueLibraryFunction",
        "WarehouseBootstrapFunction",
        "FreshnessFunction",
    }
    for name, function in found.items():
        properties = function["Properties"]
        assert properties.get("Runtime", globals_["Runtime"]) == "python3.11", name
        # Lambda merges layers in list order, later files overwriting earlier ones: the domain layer is last
        assert properties["Layers"][-1] == {"Ref": "DomainLayer"}, name
        assert properties["Handler"] == "app.handler", name
        folder = ROOT / properties["CodeUri"]
        assert folder.parent == FUNCTIONS_DIR
        assert (folder / "app.py").is_file(), name
        assert properties["Timeout"] <= 300, name


def test_the_layer_is_built_from_the_repository(resources: dict[str, Any]) -> None:
    layer = resources["DomainLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile"}
    assert layer["Properties"]["ContentUri"] == "layers/domain/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert "build-DomainLayer:" in (ROOT / "layers" / "domain" / "Makefile").read_text()


def test_report_gets_awswrangler_from_the_aws_sdk_for_pandas_layer(resources: dict[str, Any]) -> None:
    layers = resources["ReportFunction"]["Properties"]["Layers"]
    conditional, domain = layers
    condition, arn, otherwise = conditional["Fn::If"]
    assert condition == "UsesRedshift"
    # one awswrangler release in every region: the layer ARN comes from the generated mapping
    assert arn == {"Fn::FindInMap": ["AWSSDKPandasLayer", {"Ref": "AWS::Region"}, "Python311"]}
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert domain == {"Ref": "DomainLayer"}


def test_globals_set_every_setting(template: dict[str, Any]) -> None:
    # Given each step's settings model and the variables its function gets: Globals + its own Environment
    variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function, model in STEP_SETTINGS.items():
        resource = template["Resources"][LOGICAL_IDS[function]]
        own = set(resource["Properties"].get("Environment", {}).get("Variables", {}))
        required = {name.upper() for name, field in model.model_fields.items() if field.is_required()}
        # Then every variable it requires is set (the freshness check's own three only on its function)
        assert required <= variables | own, (function, required - variables - own)


def test_ledger_table_is_the_one_the_code_writes(resources: dict[str, Any]) -> None:
    table = resources["LedgerTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "file_id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert ledger.file_id("b", "k", "e") == "s3://b/k#e"


def policy_actions(function: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in statements(function["Properties"].get("Policies", [])):
        found.update(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    return found


@pytest.mark.parametrize(
    ("function", "needed"),
    [
        # validate: Ledger.claim (PutItem, GetItem on conflict), Ledger.finish (UpdateItem); S3 via S3ReadPolicy
        ("ValidateFunction", {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}),
        ("CrawlerFunction", {"glue:StartCrawler", "glue:GetCrawler"}),
        ("NotifyFunction", {"dynamodb:UpdateItem", "kms:GenerateDataKey", "kms:Decrypt"}),
        ("GlueLibraryFunction", {"s3:PutObject", "s3:GetObject"}),
    ],
)
def test_function_may_make_the_calls_its_step_makes(resources: dict[str, Any], function: str, needed: set[str]) -> None:
    assert needed <= policy_actions(resources[function])


# --- the Glue job ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def job(resources: dict[str, Any]) -> dict[str, Any]:
    return dict(resources["JoinAndLoadJob"]["Properties"])


def test_glue_job_is_a_python_shell_39_job(job: dict[str, Any]) -> None:
    assert job["Command"]["Name"] == "pythonshell"
    assert job["Command"]["PythonVersion"] == "3.9"
    assert job["MaxCapacity"] in (0.0625, 1)
    assert job["MaxRetries"] == 0, "Step Functions owns retries (and reports the failure)"
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] >= 1


def test_glue_job_runs_what_glue_library_published_and_nothing_from_pypi(
    job: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the job's definition
    arguments = job["DefaultArguments"]

    # Then its script and its modules are the files the custom resource published (not a SAM
    # artifact-bucket key the job's role cannot read, not a PyPI spec)
    assert job["Command"]["ScriptLocation"] == {"Fn::GetAtt": ["GlueLibrary", "ScriptLocation"]}
    assert arguments["--extra-py-files"] == {"Fn::GetAtt": ["GlueLibrary", "ExtraPyFiles"]}
    assert "--additional-python-modules" not in arguments, "Python shell installs no S3 paths from there"
    # and Glue's preinstalled analytics set is off: every module comes from those wheels
    assert arguments["library-set"] == "none"
    # and they are republished whenever a new GlueArtifactsLayer version is built
    assert resources["GlueLibrary"]["Properties"]["Artifacts"] == {"Ref": "GlueArtifactsLayer"}


def test_only_the_publisher_carries_the_glue_artifacts_layer(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    layer = resources["GlueArtifactsLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile"}
    assert layer["Properties"]["ContentUri"] == "layers/glue/"
    assert "build-GlueArtifactsLayer:" in (ROOT / "layers" / "glue" / "Makefile").read_text()
    assert "Layers" not in template["Globals"]["Function"]  # each function lists its own, the domain layer last
    carriers = [name for name, f in functions(resources).items() if f["Properties"].get("Layers")]
    with_glue = [n for n in carriers if {"Ref": "GlueArtifactsLayer"} in resources[n]["Properties"]["Layers"]]
    assert with_glue == ["GlueLibraryFunction"]


def s3_object_resources(role_or_function: dict[str, Any], action: str) -> list[str]:
    """The ``Fn::Sub`` object ARNs a role's (or a function's) statements allow ``action`` on."""
    found = []
    policies = role_or_function["Properties"]["Policies"]
    for statement in statements(policies):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found += [t["Fn::Sub"] for t in targets if isinstance(t, dict) and "Fn::Sub" in t]
    return found


def test_the_job_role_reads_the_prefix_glue_library_publishes_under(resources: dict[str, Any]) -> None:
    # Given where the custom resource publishes (Glue reads the script and the wheels with the job's role)
    prefix = resources["GlueLibrary"]["Properties"]["Prefix"]
    assert resources["GlueLibrary"]["Properties"]["Bucket"] == {"Ref": "DataBucket"}
    published = f"${{DataBucket.Arn}}/{prefix}*"

    # Then the job's role may read exactly there, and the publisher may write and check there
    assert published in s3_object_resources(resources["GlueJobRole"], "s3:GetObject")
    assert published in s3_object_resources(resources["GlueLibraryFunction"], "s3:PutObject")
    assert published in s3_object_resources(resources["GlueLibraryFunction"], "s3:GetObject")


WAREHOUSE_URI = {"Fn::Sub": "${WarehouseEngine}://${WarehouseLocation}"}


def test_every_reader_of_the_warehouse_gets_the_same_uri(
    template: dict[str, Any], job: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Globals"]["Function"]["Environment"]["Variables"]["WAREHOUSE_URI"] == WAREHOUSE_URI
    assert job["DefaultArguments"]["--warehouse"] == WAREHOUSE_URI
    assert template["Outputs"]["WarehouseUri"]["Value"] == WAREHOUSE_URI


def test_glue_job_runs_what_the_state_machine_starts(job: dict[str, Any], resources: dict[str, Any]) -> None:
    arguments = job["DefaultArguments"]
    assert arguments["--data_prefix"] == {"Ref": "DataPrefix"}
    machine = resources["PipelineStateMachine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["GlueJobName"] == {"Ref": "JoinAndLoadJob"}
    (glue_statement,) = [s for s in statements(machine["Policies"]) if "glue:StartJobRun" in s["Action"]]
    assert set(glue_statement["Action"]) == {"glue:StartJobRun", "glue:GetJobRun"}
    assert glue_statement["Resource"]["Fn::Sub"].endswith(":job/${JoinAndLoadJob}")


# --- tracing and logs --------------------------------------------------------------------------------


def test_a_traced_state_machine_may_send_its_traces(resources: dict[str, Any]) -> None:
    # Given the state machine traces with X-Ray outside the emulator - through an !If, so SAM adds no
    # X-Ray policy of its own (it does only for a literal `Enabled: true`)
    machine = resources["PipelineStateMachine"]["Properties"]
    assert machine["Tracing"]["Enabled"] == {"Fn::If": ["IsLocal", False, True]}

    # Then its role may submit traces, as the Step Functions docs list
    allowed = set().union(*(set(s["Action"]) for s in statements(machine["Policies"])))
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}
    assert xray <= allowed


def test_every_log_group_expires(template: dict[str, Any], resources: dict[str, Any]) -> None:
    # Given every function: Lambda would create /aws/lambda/<name> on first use, kept forever
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    for name in functions(resources):
        # Then the stack owns that group, with the retention parameter
        group = groups.get(f"/aws/lambda/${{{name}}}")
        assert group is not None, f"{name} has no log group of the stack's"
        assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    # and so does the state machine's
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionInDays"} for g in groups.values())
    assert (
        template["Parameters"]["LogRetentionInDays"]["Default"]
        in (template["Parameters"]["LogRetentionInDays"]["AllowedValues"])
    )
    # and the custom resource, invoked during the deploy, logs only once its group exists
    assert resources["GlueLibrary"]["DependsOn"] == "GlueLibraryFunctionLogGroup"


# --- parameters and the Rules that refuse broken combinations ----------------------------------------


def rule_value(node: Any, parameters: dict[str, str]) -> Any:
    """Evaluate a Rules expression the way CloudFormation documents its rule functions."""
    if isinstance(node, dict):
        ((function, argument),) = node.items()
        if function == "Ref":
            return parameters[argument]
        values = [rule_value(a, parameters) for a in argument] if isinstance(argument, list) else argument
        operations = {
            "Fn::Equals": lambda v: v[0] == v[1],
            "Fn::Not": lambda v: not v[0],
            "Fn::And": all,
            "Fn::Or": any,
            "Fn::Contains": lambda v: v[1] in v[0],
        }
        return operations[function](values)
    if isinstance(node, list):
        return [rule_value(item, parameters) for item in node]
    return node


def refusals(template: dict[str, Any], **given: str) -> list[str]:
    parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    parameters.update(given)
    refused = []
    for rule in template["Rules"].values():
        if rule_value(rule.get("RuleCondition", True), parameters):
            refused += [a["AssertDescription"] for a in rule["Assertions"] if not rule_value(a["Assert"], parameters)]
    return refused


WORKGROUP = "arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.mark.parametrize(
    ("given", "refused_because"),
    [
        ({"Environment": "local", "WarehouseEngine": "duckdb"}, None),
        ({"Environment": "prod", "WarehouseEngine": "redshift-data", "RedshiftResourceArn": WORKGROUP}, None),
        ({"Environment": "prod", "WarehouseEngine": "redshift-data"}, "needs RedshiftResourceArn"),
        ({"Environment": "dev", "WarehouseEngine": "duckdb"}, "in AWS every Lambda and Glue run would open"),
        (
            {"Environment": "local", "WarehouseEngine": "duckdb", "RedshiftResourceArn": WORKGROUP},
            "belongs to WarehouseEngine redshift-data",
        ),
    ],
)
def test_rules_refuse_parameters_that_deploy_a_broken_pipeline(
    template: dict[str, Any], given: dict[str, str], refused_because: Optional[str]
) -> None:
    # Given a combination of deploy parameters, When CloudFormation checks the Rules
    refused = refusals(template, WarehouseLocation="x", **given)

    # Then only the broken ones are refused, with a description that says what to fix
    if refused_because is None:
        assert refused == []
    else:
        assert any(refused_because in reason for reason in refused), refused


def test_the_engine_is_a_checkable_parameter(template: dict[str, Any]) -> None:
    # A Rules section compares whole values: the engine is its own parameter, not a URI prefix
    assert template["Parameters"]["WarehouseEngine"]["AllowedValues"] == ["redshift-data", "duckdb"]
    assert "Default" not in template["Parameters"]["WarehouseEngine"]
    assert "Default" not in template["Parameters"]["WarehouseLocation"]
    pattern = re.compile(template["Parameters"]["RedshiftResourceArn"]["AllowedPattern"])
    assert pattern.fullmatch(WORKGROUP)
    assert pattern.fullmatch("")
    assert not pattern.fullmatch("analytics"), "a workgroup name is not its ARN"


def samconfig_overrides(env: str) -> dict[str, str]:
    import shlex

    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    pairs = shlex.split(config[env]["deploy"]["parameters"]["parameter_overrides"])
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.mark.parametrize(("env", "engine"), [("default", "redshift-data"), ("prod", "redshift-data")])
def test_aws_config_envs_deploy_redshift_and_ask_for_the_rest_once(
    template: dict[str, Any], env: str, engine: str
) -> None:
    # Given a samconfig.toml environment for AWS
    overrides = samconfig_overrides(env)

    # Then it deploys Redshift, and what it cannot know (per account) is asked by the guided deploy the
    # README gives as the first command for that environment
    assert overrides["WarehouseEngine"] == engine
    unset = {n for n, p in template["Parameters"].items() if "Default" not in p} - set(overrides)
    assert unset == {"WarehouseLocation"}
    readme = (ROOT / "README.md").read_text()
    guided = "sam deploy --guided" + ("" if env == "default" else f" --config-env {env}")
    assert guided in readme
    assert refusals(template, **overrides, WarehouseLocation="x", RedshiftResourceArn=WORKGROUP) == []


def test_the_local_config_env_is_complete_but_for_the_demos_file(template: dict[str, Any]) -> None:
    overrides = samconfig_overrides("local")
    unset = {n for n, p in template["Parameters"].items() if "Default" not in p} - set(overrides)
    assert unset == {"WarehouseLocation"}, "the demo passes the DuckDB file's path"
    assert refusals(template, **overrides, WarehouseLocation="/tmp/w.duckdb") == []


# --- alarms ------------------------------------------------------------------------------------------


def test_every_unsuccessful_end_of_an_execution_raises_an_alarm(resources: dict[str, Any]) -> None:
    # Given the alarms of the template
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]

    # Then failed, timed-out and aborted executions of this state machine each have one (the last two
    # never reach NotifyFailure: only the alarm tells of them), summed per 5 minutes
    watched = {alarm["MetricName"]: alarm for alarm in alarms if alarm.get("Namespace") == "AWS/States"}
    assert set(watched) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for name, alarm in watched.items():
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "PipelineStateMachine"}}], name
        assert (alarm["Statistic"], alarm["Period"]) == ("Sum", 300), name
        # and one such execution is enough; no executions at all is not an alarm
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold"), name
        assert alarm["EvaluationPeriods"] == 1, name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}], name
        # plain alarms: the local emulator refuses metric math, and the same template deploys there
        assert "Metrics" not in alarm, name


# --- Redshift: the pipeline's database identities, the bootstrap -----------------------------------------


@pytest.fixture(scope="module")
def translated(template: dict[str, Any], monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    """template.yaml after the SAM transform, as CloudFormation receives it (artifact URIs stubbed)."""
    import copy

    from samtranslator.translator.transform import transform

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = copy.deepcopy(dict(template))
    for resource in document["Resources"].values():
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://artifacts/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return dict(transform(document, {}, NoManagedPolicies())["Resources"])


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_after_the_sam_transform_every_function_merges_the_domain_layer_last(translated: dict[str, Any]) -> None:
    # Given the Lambda functions CloudFormation creates (SAM merged Globals layers before each function's own)
    lambdas = {name: r for name, r in translated.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(lambdas) == 7
    for name, function in lambdas.items():
        # Then the last layer, whose files overwrite the others' in /opt, is the domain layer
        last = function["Properties"]["Layers"][-1]
        assert translated[last["Ref"]]["Type"] == "AWS::Lambda::LayerVersion", name
        assert last["Ref"].startswith("DomainLayer"), name


def role_tags(tags: list[dict[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


def test_pipeline_roles_carry_their_database_principal(translated: dict[str, Any]) -> None:
    # Given the IAM roles the Glue job and the report function run as
    loader = role_tags(translated["GlueJobRole"]["Properties"]["Tags"])
    reader = role_tags(translated["ReportFunctionRole"]["Properties"]["Tags"])

    # Then each names its database principal for Serverless (roles) and provisioned db_user (groups),
    # exactly the principals the bootstrap creates and grants
    assert (loader["RedshiftDbRoles"], loader["RedshiftDbGroups"]) == (LOADER, LOADER)
    assert (reader["RedshiftDbRoles"], reader["RedshiftDbGroups"]) == (READER, READER)


def resolve_cluster(select: dict[str, Any], arn: str) -> str:
    """``!Select [6, !Split [":", !Sub "${RedshiftResourceArn}:::::::"]]`` for a given ARN."""
    index, split = select["Fn::Select"]
    separator, source = split["Fn::Split"]
    return str(source["Fn::Sub"].replace("${RedshiftResourceArn}", arn).split(separator)[index])


def db_user_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements a resource gets under the UsesDbUser condition."""
    found = []
    for node in statements(resource):
        if "redshift:GetClusterCredentials" in node["Action"] or "redshift:JoinGroup" in node["Action"]:
            found.append(node)
    return found


@pytest.mark.parametrize(
    ("resource", "principal"),
    [("GlueJobRole", LOADER), ("ReportFunction", READER), ("FreshnessFunction", READER)],
)
def test_a_provisioned_db_user_gets_get_cluster_credentials_on_its_user_and_database(
    resources: dict[str, Any], template: dict[str, Any], resource: str, principal: str
) -> None:
    # Given the statements a Data API caller needs with DbUser on a provisioned cluster
    credentials, join = db_user_statements(resources[resource])
    cluster_arn = "arn:aws:redshift:us-east-1:123456789012:cluster:analytics-cluster"

    # Then GetClusterCredentials is allowed on exactly arn:...:dbuser:<cluster>/<user> and dbname:<cluster>/<db>
    assert credentials["Action"] == ["redshift:GetClusterCredentials"]
    arns = []
    for entry in credentials["Resource"]:
        pattern, variables = entry["Fn::Sub"]
        arns.append(pattern.replace("${Cluster}", resolve_cluster(variables["Cluster"], cluster_arn)))
    prefix = "arn:${AWS::Partition}:redshift:${AWS::Region}:${AWS::AccountId}"
    assert arns == [
        f"{prefix}:dbuser:analytics-cluster/${{RedshiftDbUser}}",
        f"{prefix}:dbname:analytics-cluster/${{RedshiftDatabase}}",
    ]
    # and JoinGroup on its own group only
    pattern, variables = join["Resource"]["Fn::Sub"]
    assert pattern.replace("${Cluster}", resolve_cluster(variables["Cluster"], cluster_arn)) == (
        f"{prefix}:dbgroup:analytics-cluster/{principal}"
    )
    # And only when a db user is given, on Redshift: Serverless deployments never get it
    assert template["Conditions"]["UsesDbUser"] == {
        "Fn::And": [{"Condition": "UsesRedshift"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "RedshiftDbUser"}, ""]}]}]
    }
    text = "\n".join(TEMPLATE_LINES)
    assert text.count("- UsesDbUser") == 4  # the report's statements, the freshness check's, the job's two


def test_the_warehouse_is_bootstrapped_before_the_pipeline_can_run(resources: dict[str, Any]) -> None:
    # Given the bootstrap custom resource
    properties = resources["WarehouseBootstrap"]["Properties"]

    # Then it gets the warehouse and the administrator, runs again with new code, and the state machine
    # (whose rule starts runs) waits for it
    assert properties["ServiceToken"] == {"Fn::GetAtt": ["WarehouseBootstrapFunction", "Arn"]}
    assert properties["WarehouseUri"] == {"Fn::Sub": "${WarehouseEngine}://${WarehouseLocation}"}
    assert properties["AdminSecretArn"] == {"Ref": "RedshiftAdminSecretArn"}
    assert properties["AdminDbUser"] == {"Ref": "RedshiftAdminDbUser"}
    assert properties["DbUser"] == {"Ref": "RedshiftDbUser"}
    assert properties["LayerVersion"] == {"Ref": "DomainLayer"}
    assert resources["PipelineStateMachine"]["DependsOn"] == "WarehouseBootstrap"


def test_the_pipeline_role_arns_are_exported(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for name in ("GlueJobRoleArn", "ReportFunctionRoleArn", "WarehouseBootstrapRoleArn"):
        assert outputs[name]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}


def test_the_freshness_check_writes_only_its_own_ledger_items(resources: dict[str, Any]) -> None:
    # (moto's IAM evaluator, which test_iam.py uses, ignores ForAllValues:StringLike: checked here instead)
    from airline_pipeline.steps.freshness import KEY_PREFIX

    # Given the freshness function, deployed only when ExpectedBy is set
    function = resources["FreshnessFunction"]
    assert function["Condition"] == resources["FreshnessFunctionLogGroup"]["Condition"] == "HasExpectedBy"
    statements = [s for p in function["Properties"]["Policies"] if "Statement" in p for s in p["Statement"]]
    [ledger] = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
    # Then it may write the ledger table only where the partition key is one of its alert keys
    assert ledger["Resource"] == {"Fn::GetAtt": ["LedgerTable", "Arn"]}
    assert sorted(ledger["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert ledger["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{KEY_PREFIX}*"]}}
    # and its rule runs on the ExpectedBy schedule
    event = function["Properties"]["Events"]["ExpectedBy"]
    assert (event["Type"], event["Properties"]["Schedule"]) == ("Schedule", {"Ref": "ExpectedBy"})
