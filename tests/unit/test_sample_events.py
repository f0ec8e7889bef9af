"""The sample events in events/ are what the functions really receive, and they agree with each other.

``sam local invoke <Fn> -e events/<x>.json --env-vars events/env.json`` takes these files, and the
handler tests invoke the functions with them; so they must keep the shapes AWS sends (checked
against Powertools' models, the event builder and the ASL's Parameters) and tell one consistent
story: ``s3_object_created.json`` is a state machine input, each ``validate*.json`` wraps such an
event with its execution's name as ValidateFile does, and the notify inputs carry exactly what the
validate step returns for them, in the same execution.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Callable

import pytest
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from lambda_support import (
    BAD_HEADER_CSV,
    EVENTS_DIR,
    LOGICAL_IDS,
    ROOT,
    SAMPLE_FLIGHTS,
    Stack,
    env_json,
    load_event,
    load_function,
    load_template,
    md5,
)

from airline_pipeline.adapters.s3 import encode_key, object_created_event
from airline_pipeline.adapters.sources import decode_event_key
from airline_pipeline.ops.reprocess import REPLAY_NAME, FoundFile, execution_name
from airline_pipeline.steps.notify import NotifyRequest
from airline_pipeline.steps.settings import STEP_SETTINGS

#: The validate function's inputs (ValidateFile's Parameters: the S3 event and the execution's name).
VALIDATE_EVENTS = {
    "validate": SAMPLE_FLIGHTS.read_bytes(),
    "validate_duplicate": SAMPLE_FLIGHTS.read_bytes(),
    "validate_replay": SAMPLE_FLIGHTS.read_bytes(),
    "validate_bad_header": BAD_HEADER_CSV,
}
#: Every sample S3 event (the state machine's input), by file: the raw one and the wrapped ones.
S3_EVENTS = {"s3_object_created": SAMPLE_FLIGHTS.read_bytes(), **VALIDATE_EVENTS}
NOTIFY_EVENTS = ["notify_success", "notify_failure_validation", "notify_failure_lambda", "notify_failure_glue_job"]
#: Step Functions execution names: 1-80 characters, no whitespace, brackets, wildcards or punctuation.
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
EXPECTED_FILES = {
    *S3_EVENTS,
    *NOTIFY_EVENTS,
    "crawler_start",
    "crawler_status",
    "crawler_catalog",
    "report",
    "glue_library_create",
    "warehouse_bootstrap_create",
    "freshness_scheduled",
    "env",
}


def test_the_expected_events_are_there() -> None:
    assert {path.stem for path in EVENTS_DIR.glob("*.json")} == EXPECTED_FILES
    for path in EVENTS_DIR.glob("*.json"):
        json.loads(path.read_text())  # and each is JSON


def s3_event(name: str) -> dict[str, Any]:
    """The S3 ``Object Created`` event of a sample: the file itself, or the ``event`` a validate input wraps."""
    loaded = load_event(name)
    return dict(loaded["event"]) if name in VALIDATE_EVENTS else loaded


@pytest.mark.parametrize("name", sorted(S3_EVENTS))
def test_s3_event_has_the_shape_eventbridge_delivers(name: str) -> None:
    # Given a sample S3 event
    event = s3_event(name)

    # Then Powertools' model reads it, as the handler does
    parsed = S3EventNotificationEventBridgeModel.model_validate(event)
    assert (parsed.source, parsed.detail_type) == ("aws.s3", "Object Created")
    # and it has every field the project's event builder writes (AWS adds version-id and source-ip-address)
    built = object_created_event("bucket", "key", size=1, etag="e")
    assert set(built) - {"replay-name"} <= set(event)
    assert set(built["detail"]) <= set(event["detail"])
    assert set(built["detail"]["object"]) <= set(event["detail"]["object"])
    # the key is URL-encoded, as S3 notifications encode it
    key = event["detail"]["object"]["key"]
    assert "date%3D" in key
    assert "=" not in key
    assert encode_key(decode_event_key(key)) == key
    # and the bucket, account and region agree with each other
    bucket = event["detail"]["bucket"]["name"]
    assert event["resources"] == [f"arn:aws:s3:::{bucket}"]
    assert bucket == f"airline-pipeline-dev-{event['account']}-{event['region']}"
    assert event["detail"]["requester"] == event["account"]
    assert len(event["detail"]["object"]["sequencer"]) == 18
    datetime.fromisoformat(event["time"].replace("Z", "+00:00"))


@pytest.mark.parametrize(("name", "content"), sorted(S3_EVENTS.items()))
def test_s3_event_size_and_etag_are_the_objects(name: str, content: bytes) -> None:
    # Given the object a sample event announces, Then the event's size and etag are that object's
    obj = s3_event(name)["detail"]["object"]
    assert (obj["size"], obj["etag"]) == (len(content), md5(content))


@pytest.mark.parametrize("name", sorted(VALIDATE_EVENTS))
def test_validate_event_is_what_validate_file_passes(name: str, asl: dict[str, Any]) -> None:
    # Given a sample validate input
    request = load_event(name)

    # Then it has the keys of ValidateFile's Parameters, the event is the whole state machine input
    # and the execution a valid execution name, and the handler's model reads it
    parameters = asl["States"]["ValidateFile"]["Parameters"]
    assert parameters == {"event.$": "$", "execution.$": "$$.Execution.Name"}
    assert {key.removesuffix(".$") for key in parameters} == set(request)
    assert EXECUTION_NAME.fullmatch(request["execution"]), request["execution"]
    parsed = load_function("validate").ValidateRequest.model_validate(request)
    assert parsed.execution == request["execution"]
    assert parsed.event.id == request["event"]["id"]


def test_validate_event_wraps_the_state_machine_input() -> None:
    # validate.json is ValidateFile's input for s3_object_created.json, in the execution that loaded it
    request = load_event("validate")
    assert request["event"] == load_event("s3_object_created")
    assert request["execution"] == load_event("notify_success")["execution"]


def test_every_validate_event_is_its_own_execution() -> None:
    executions = [load_event(name)["execution"] for name in sorted(VALIDATE_EVENTS)]
    assert len(set(executions)) == len(executions), executions


def test_duplicate_and_replay_events_are_for_the_same_bytes() -> None:
    first, duplicate, replay = (s3_event(n) for n in ("validate", "validate_duplicate", "validate_replay"))
    # a second upload of the same bytes: another event, another version, the same key and etag
    assert duplicate["id"] != first["id"]
    assert duplicate["detail"]["object"]["version-id"] != first["detail"]["object"]["version-id"]
    assert (duplicate["detail"]["object"]["key"], duplicate["detail"]["object"]["etag"]) == (
        first["detail"]["object"]["key"],
        first["detail"]["object"]["etag"],
    )
    # a replay names itself as `airline-pipeline reprocess` does
    assert replay["replay-name"] == REPLAY_NAME
    assert "replay-name" not in first
    assert replay["detail"]["object"] == first["detail"]["object"]


def test_replay_runs_in_an_execution_named_as_reprocess_names_it() -> None:
    # Given the replay's object, as `airline-pipeline reprocess --via-state-machine` finds it
    request = load_event("validate_replay")
    obj = request["event"]["detail"]
    found = FoundFile(
        location=f"s3://{obj['bucket']['name']}/{decode_event_key(obj['object']['key'])}",
        flight_date=datetime(2013, 1, 15).date(),
        size=obj["object"]["size"],
        etag=obj["object"]["etag"],
    )
    # Then the sample's execution has the form reprocess gives its executions (a random suffix aside)
    named = execution_name(found)
    assert request["execution"].rsplit("-", 1)[0] == named.rsplit("-", 1)[0]
    assert len(request["execution"].rsplit("-", 1)[1]) == len(named.rsplit("-", 1)[1])


def test_step_events_follow_one_execution() -> None:
    # The crawler, report and success events belong to the execution that loaded s3_object_created.json
    success = load_event("notify_success")
    execution = success["execution"]
    assert load_event("crawler_start") == {"action": "start", "execution": execution}
    status = load_event("crawler_status")
    assert (status["action"], status["execution"]) == ("status", execution)
    assert status["started_at"] == success["pipeline"]["crawler"]["started_at"]
    catalog = load_event("crawler_catalog")
    validation = success["pipeline"]["validation"]
    assert (catalog["action"], catalog["execution"]) == ("catalog", execution)
    assert (catalog["bucket"], catalog["key"], catalog["header"]) == (
        validation["bucket"],
        validation["key"],
        validation["header"],
    )
    report = load_event("report")
    assert report == {"batch_id": execution, "source_uri": success["pipeline"]["validation"]["source_uri"]}
    assert success["pipeline"]["report"]["batch_id"] == execution
    assert success["pipeline"]["jobRun"]["run"]["Arguments"]["--batch_id"] == execution
    first = load_event("s3_object_created")
    assert {k: v for k, v in success["pipeline"].items() if k in first} == first
    assert load_event("validate") == {"event": first, "execution": execution}


@pytest.mark.parametrize("name", NOTIFY_EVENTS)
def test_notify_event_is_what_the_state_machine_passes(name: str, asl: dict[str, Any]) -> None:
    # Given a sample notify input
    event = load_event(name)

    # Then it has the keys of the ASL's NotifySuccess / NotifyFailure Parameters and parses as the request
    state = "NotifySuccess" if event["outcome"] == "success" else "NotifyFailure"
    assert {key.removesuffix(".$") for key in asl["States"][state]["Parameters"]} == set(event)
    request = NotifyRequest.model_validate(event)
    assert request.started_at is not None
    # the pipeline is the whole state: the S3 event plus what the states added
    pipeline = event["pipeline"]
    S3EventNotificationEventBridgeModel.model_validate({k: v for k, v in pipeline.items() if k != "validation"})
    assert {"validation"} <= set(pipeline)
    if event["outcome"] == "success":
        assert {"crawler", "job", "jobRun", "report"} <= set(pipeline)
        assert "failure" not in pipeline
        return
    # and its failure has the keys of the Pass state that built it
    failure = pipeline["failure"]
    builders = [
        s["Parameters"]
        for s in asl["States"].values()
        if s["Type"] == "Pass" and s["Parameters"].get("state") == failure["state"] and s.get("Next") == "NotifyFailure"
    ]
    assert any({key.removesuffix(".$") for key in params} == set(failure) for params in builders), builders


def test_lambda_failure_cause_is_the_lambda_error_json(asl: dict[str, Any]) -> None:
    # As the emulator reports a Lambda error: Error Runtime.HandlerError, Cause a JSON string
    pipeline = load_event("notify_failure_lambda")["pipeline"]
    assert pipeline["error"]["Error"] == "Runtime.HandlerError"
    cause = json.loads(pipeline["error"]["Cause"])
    assert set(cause) == {"errorMessage", "errorType"}
    # and StartCrawlerFailed passed the caught error as is
    assert asl["States"]["StartCrawlerFailed"]["Parameters"] == {"state": "StartCrawler", "caught.$": "$.error"}
    assert pipeline["failure"] == {"state": "StartCrawler", "caught": pipeline["error"]}


@pytest.mark.parametrize(
    ("validate_event", "notify_event", "content"),
    [
        ("validate", "notify_success", SAMPLE_FLIGHTS.read_bytes()),
        ("validate_bad_header", "notify_failure_validation", BAD_HEADER_CSV),
    ],
)
def test_notify_event_carries_what_validate_returns(
    stack: Stack, invoke: Callable[..., Any], validate_event: str, notify_event: str, content: bytes
) -> None:
    # Given the object of a sample validate input in the bucket
    request = load_event(validate_event)
    stack.put(decode_event_key(request["event"]["detail"]["object"]["key"]), content)

    # When the validate function checks it
    result = invoke("validate", request)

    # Then its result is exactly the $.validation the matching notify sample carries, in the same
    # execution, whose state is the same S3 event
    notify = load_event(notify_event)
    assert notify["pipeline"]["validation"] == result
    assert notify["execution"] == request["execution"]
    assert {k: v for k, v in notify["pipeline"].items() if k in request["event"]} == request["event"]


# --- events/env.json (sam local invoke --env-vars) and the custom resource event ------------------


def test_env_json_names_every_function_and_only_template_variables() -> None:
    template = load_template()
    functions = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    env = env_json()
    assert set(env) == functions == set(LOGICAL_IDS.values())
    declared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    steps = {LOGICAL_IDS[name]: model for name, model in STEP_SETTINGS.items()}
    for function, variables in env.items():
        # sam local invoke only sets variables the template declares: anything else would be ignored
        own = set(template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))
        assert set(variables) <= declared | own, (function, set(variables) - declared - own)
        model = steps.get(function)
        required = (
            {name.upper() for name, field in model.model_fields.items() if field.is_required()} if model else set()
        )
        assert required <= set(variables), (function, required - set(variables))
        assert all(isinstance(value, str) for value in variables.values())


def test_env_json_names_the_dev_stacks_resources() -> None:
    env = env_json()["ValidateFunction"]
    event = load_event("s3_object_created")
    assert env["LEDGER_TABLE"] == "airline-pipeline-dev-ledger"
    assert env["CRAWLER_NAME"] == "airline-pipeline-dev-daily-flights"
    assert env["TOPIC_ARN"] == f"arn:aws:sns:{event['region']}:{event['account']}:airline-pipeline-dev-notifications"
    assert env["WAREHOUSE_URI"].startswith("redshift-data://airline-pipeline-dev/dev?iam_role=arn:aws:iam::")
    assert f"staging=s3://{event['detail']['bucket']['name']}/staging/" in env["WAREHOUSE_URI"]
    assert env["DATA_PREFIX"] == load_template()["Parameters"]["DataPrefix"]["Default"]
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true", "sam local invoke has no X-Ray daemon"


def test_samconfig_points_local_invoke_at_env_json() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["default"]["local_invoke"]["parameters"]["env_vars"] == "events/env.json"


def test_custom_resource_event_matches_the_template() -> None:
    event = load_event("glue_library_create")
    resource = load_template()["Resources"]["GlueLibrary"]
    assert event["RequestType"] == "Create"
    assert event["ResourceType"] == resource["Type"] == "Custom::GlueLibrary"
    assert event["LogicalResourceId"] == "GlueLibrary"
    assert set(event["ResourceProperties"]) == set(resource["Properties"])
    assert event["ResourceProperties"]["Prefix"] == resource["Properties"]["Prefix"]
    assert event["ServiceToken"] == event["ResourceProperties"]["ServiceToken"]
    assert event["ServiceToken"].endswith(":function:airline-pipeline-dev-glue-library")
    assert event["ResponseURL"].startswith("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/")
    assert {"StackId", "RequestId"} <= set(event)
    assert "PhysicalResourceId" not in event, "CloudFormation sends none on Create"
