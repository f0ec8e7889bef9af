"""statemachine/pipeline.asl.json: every way through the pipeline ends where the design says.

Walks the state graph: every Task retries and catches, every failure is told (NotifyFailure) before
the execution fails, the success path ends right after NotifySuccess, nothing is unreachable or a
dead end. Also: the template provides exactly the substitutions the definition uses, and the
fields the Choice states read are ones the steps really return.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Iterable
from typing import Any

import botocore.session
import pytest
from lambda_support import FUNCTIONS_DIR, ROOT, load_function, load_template

from airline_pipeline.adapters import ledger
from airline_pipeline.steps.crawler import CrawlerState
from airline_pipeline.steps.notify import NotifyRequest, describe_failure
from airline_pipeline.steps.state import Failure
from airline_pipeline.steps.validate import ValidationResult

ASL = ROOT / "statemachine" / "pipeline.asl.json"
NOTIFY_FAILURE = "NotifyFailure"
NOTIFY_SUCCESS = "NotifySuccess"
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def states_of(asl: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in asl["States"].items() if state["Type"] == kind}


def transitions(state: dict[str, Any]) -> list[str]:
    """Every state this one can go to: Next, Choices, Default and Catch targets."""
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [state["Default"]] if "Default" in state else []
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return targets


def reachable(asl: dict[str, Any], start: str, *, avoiding: Iterable[str] = ()) -> set[str]:
    blocked = set(avoiding)
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        name = queue.popleft()
        if name in seen or name in blocked:
            continue
        seen.add(name)
        queue.extend(transitions(asl["States"][name]))
    return seen


def predecessors(asl: dict[str, Any], target: str) -> set[str]:
    return {name for name, state in asl["States"].items() if target in transitions(state)}


def is_terminal(state: dict[str, Any]) -> bool:
    return state["Type"] in ("Succeed", "Fail") or state.get("End") is True


def failure_builders(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Pass states that describe a failure in ``$.failure`` for the notifier."""
    return {name: s for name, s in states_of(asl, "Pass").items() if s.get("ResultPath") == "$.failure"}


# --- the graph ------------------------------------------------------------------------------------


def test_every_state_is_reachable(asl: dict[str, Any]) -> None:
    assert reachable(asl, asl["StartAt"]) == set(asl["States"])


def test_no_dead_ends(asl: dict[str, Any]) -> None:
    terminals = {name for name, state in asl["States"].items() if is_terminal(state)}
    for name, state in asl["States"].items():
        # every state names existing successors, or ends the execution
        assert transitions(state) or is_terminal(state), f"{name} goes nowhere"
        assert set(transitions(state)) <= set(asl["States"]), f"{name} names a missing state"
        # and some way from it leads to the end (poll loops included)
        assert reachable(asl, name) & terminals, f"{name} cannot end the execution"


def test_every_task_retries_and_catches_everything(asl: dict[str, Any]) -> None:
    for name, task in states_of(asl, "Task").items():
        assert task.get("Retry"), f"{name} has no Retry"
        for retry in task["Retry"]:
            assert retry["MaxAttempts"] >= 1
            assert retry["IntervalSeconds"] >= 1
            assert "States.ALL" not in retry["ErrorEquals"], f"{name} retries everything, bugs included"
        catches = task.get("Catch", [])
        assert [c["ErrorEquals"] for c in catches] == [["States.ALL"]], f"{name} does not catch every error"


def test_lambda_tasks_retry_lambdas_transient_errors(asl: dict[str, Any]) -> None:
    for name, task in states_of(asl, "Task").items():
        if not task["Resource"].startswith("${"):
            continue
        retried = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
        assert retried >= LAMBDA_TRANSIENT | {"States.TaskFailed"}, name


def test_every_catch_keeps_the_state_and_goes_to_a_failure_description(asl: dict[str, Any]) -> None:
    builders = failure_builders(asl)
    for name, task in states_of(asl, "Task").items():
        if name in (NOTIFY_FAILURE, NOTIFY_SUCCESS):
            continue
        (catch,) = task["Catch"]
        # the error is added to the state, not replacing it (the notifier needs the event and validation)
        assert catch["ResultPath"] == "$.error", name
        target = catch["Next"]
        assert target in builders, f"{name}'s Catch goes to {target}, not to a failure description"
        assert builders[target]["Parameters"]["state"] == name, f"{target} names another state than {name}"
        # the caught error is passed whole: a Pass state that read $.error.Cause would itself fail
        # (States.Runtime) on the errors that come without a Cause, and the failure would go untold
        assert builders[target]["Parameters"] == {"state": name, "caught.$": "$.error"}, target


def test_every_failure_description_goes_to_notify_failure(asl: dict[str, Any]) -> None:
    builders = failure_builders(asl)
    assert set(builders) == predecessors(asl, NOTIFY_FAILURE)
    tasks = states_of(asl, "Task")
    for name, builder in builders.items():
        assert builder["Next"] == NOTIFY_FAILURE, name
        parameters = {key.removesuffix(".$") for key in builder["Parameters"]}
        # one of the shapes the notifier reads: a caught error, a result's error and cause, a Glue run
        assert parameters in ({"state", "caught"}, {"state", "error", "cause"}, {"state", "error", "job_run"}), name
        # the failing state is a Task (the Glue job's run is named as one step: start + poll)
        assert builder["Parameters"]["state"] in {*tasks, "RunLoadJob"}, name


def test_the_notifier_reads_every_failure_shape_the_pass_states_build(asl: dict[str, Any]) -> None:
    # Given each failure description as its Pass state builds it from a state (a value for each path)
    state = {
        "error": {"Error": "States.TaskFailed", "Cause": "the cause"},
        "validation": {"error": "InvalidHeader", "message": "the cause"},
        "crawler": {"error": "CrawlFailed", "message": "the cause"},
        "jobRun": {"state": "FAILED", "run": {"Id": "jr_1", "ErrorMessage": "LoadFailed: the cause\nTraceback ..."}},
    }

    def resolve(path: str) -> Any:
        if path.startswith("States.Format"):
            return "GlueJobFAILED"
        value: Any = state
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        return value

    for name, builder in failure_builders(asl).items():
        failure = {
            key.removesuffix(".$"): resolve(value) if key.endswith(".$") else value
            for key, value in builder["Parameters"].items()
        }
        # When the notifier describes it, Then it finds the state, an error name and the cause
        failed_state, error, cause = describe_failure(Failure.model_validate(failure))
        assert failed_state == builder["Parameters"]["state"], name
        assert error != "UnknownError", name
        assert "the cause" in cause, name


def test_choice_failure_branches_go_through_notify_failure(asl: dict[str, Any]) -> None:
    builders = failure_builders(asl)
    for name, choice in states_of(asl, "Choice").items():
        assert "Default" in choice, f"{name} has no Default"
        for rule in choice["Choices"]:
            target = asl["States"][rule["Next"]]
            if rule["Next"] in builders:
                assert target["Next"] == NOTIFY_FAILURE
            else:
                # anything else continues the pipeline or ends it quietly as a skipped duplicate
                assert target["Type"] in ("Task", "Wait", "Succeed"), f"{name} -> {rule['Next']}"


def test_notify_failure_ends_in_the_fail_state_whatever_happens(asl: dict[str, Any]) -> None:
    notify = asl["States"][NOTIFY_FAILURE]
    fail = asl["States"][notify["Next"]]
    assert fail["Type"] == "Fail"
    assert {catch["Next"] for catch in notify["Catch"]} == {notify["Next"]}
    assert notify["Catch"][0]["ResultPath"] != "$.failure", "keep the failure that was being notified"
    assert fail["Error"]
    assert fail["Cause"]


def test_no_failure_ends_the_execution_untold(asl: dict[str, Any]) -> None:
    # Without the two notifying states, no Fail state can be reached from the start
    fails = set(states_of(asl, "Fail"))
    assert fails
    assert not reachable(asl, asl["StartAt"], avoiding={NOTIFY_FAILURE, NOTIFY_SUCCESS}) & fails
    for fail in fails:
        assert predecessors(asl, fail) <= {NOTIFY_FAILURE, NOTIFY_SUCCESS}, fail


def test_success_ends_right_after_notify_success(asl: dict[str, Any]) -> None:
    notify = asl["States"][NOTIFY_SUCCESS]
    assert asl["States"][notify["Next"]]["Type"] == "Succeed"
    # a failed success notification still fails the execution (the rows are loaded; the alarm fires),
    # in a Fail state of its own that says the rows are loaded - not the NotLoaded of a real failure
    (catch,) = notify["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    loaded_untold = asl["States"][catch["Next"]]
    assert catch["Next"] == "LoadedButNotNotified"
    assert loaded_untold["Type"] == "Fail"
    assert loaded_untold["Error"] == "NotificationFailed"
    assert "loaded" in loaded_untold["Cause"]
    assert loaded_untold["Error"] != asl["States"][asl["States"][NOTIFY_FAILURE]["Next"]]["Error"]
    # the only other way to succeed is the skipped duplicate, straight from the validation Choice
    for name in states_of(asl, "Succeed"):
        assert predecessors(asl, name) in ({NOTIFY_SUCCESS}, {"RouteFile"}), name
    route = asl["States"]["RouteFile"]
    skipped = [rule for rule in route["Choices"] if asl["States"][rule["Next"]]["Type"] == "Succeed"]
    assert skipped == [{"Variable": "$.validation.status", "StringEquals": "skipped", "Next": "SkippedDuplicate"}]
    # and the report comes right before the success notification
    assert predecessors(asl, NOTIFY_SUCCESS) == {"Report"}


def test_notify_states_pass_the_whole_state(asl: dict[str, Any]) -> None:
    fields = set(NotifyRequest.model_fields)
    for name, outcome in ((NOTIFY_SUCCESS, "success"), (NOTIFY_FAILURE, "failure")):
        parameters = asl["States"][name]["Parameters"]
        assert parameters["outcome"] == outcome
        assert parameters["pipeline.$"] == "$"
        assert parameters["execution.$"] == "$$.Execution.Name"
        assert {key.removesuffix(".$") for key in parameters} == fields


# --- integrations, waits and what the Choices read -------------------------------------------------


def test_no_sync_integrations(asl: dict[str, Any]) -> None:
    for name, task in states_of(asl, "Task").items():
        assert not task["Resource"].endswith((".sync", ".sync:2", ".waitForTaskToken")), name


def test_wait_states_read_the_poll_interval_from_the_state(asl: dict[str, Any]) -> None:
    waits = states_of(asl, "Wait")
    assert waits
    for name, wait in waits.items():
        assert set(wait) & {"Seconds", "Timestamp", "TimestampPath"} == set(), name
        assert wait["SecondsPath"] == "$.validation.poll_seconds", name
    assert "poll_seconds" in ValidationResult.model_fields


def choice_variables(asl: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set()

    def collect(rule: dict[str, Any]) -> None:
        if "Variable" in rule:
            found.add(rule["Variable"])
        for nested in rule.get("Or", []) + rule.get("And", []):
            collect(nested)

    for rule in asl["States"][name]["Choices"]:
        collect(rule)
    return found


def test_choices_read_fields_the_steps_return(asl: dict[str, Any]) -> None:
    assert choice_variables(asl, "RouteFile") == {"$.validation.status", "$.validation.ok"}
    assert {"status", "ok"} <= set(ValidationResult.model_fields)
    crawler_fields = {v.removeprefix("$.crawler.") for v in choice_variables(asl, "CrawlerFinished")}
    assert crawler_fields == {"done", "failed", "timed_out"}
    assert crawler_fields <= set(CrawlerState.model_fields)
    assert choice_variables(asl, "LoadJobFinished") == {"$.jobRun.state"}
    assert asl["States"]["GetLoadJobRun"]["ResultSelector"]["state.$"] == "$.JobRun.JobRunState"


def test_load_job_choice_ends_the_loop_on_every_final_glue_state(asl: dict[str, Any]) -> None:
    # Glue's own list of run states (botocore's service model), minus the ones a run passes through
    model = botocore.session.get_session().get_service_model("glue")
    glue_states = set(model.shape_for("JobRunState").enum)
    running = {"STARTING", "RUNNING", "STOPPING", "WAITING"}
    assert running <= glue_states
    compared = {
        rule["StringEquals"]
        for choice in asl["States"]["LoadJobFinished"]["Choices"]
        for rule in [choice, *choice.get("Or", [])]
        if "StringEquals" in rule
    }
    assert compared == glue_states - running


def test_crawler_loop_gives_up(asl: dict[str, Any]) -> None:
    # The crawler has no .sync: the loop is bounded by the function's timed_out flag
    rules = {rule["Variable"]: rule["Next"] for rule in asl["States"]["CrawlerFinished"]["Choices"]}
    assert rules["$.crawler.timed_out"] == "CrawlerFailed"
    assert asl["States"]["CrawlerFinished"]["Default"] == "WaitForCrawler"


def test_lambda_parameters_are_what_the_handlers_accept(asl: dict[str, Any]) -> None:
    models = {
        "${ValidateFunctionArn}": load_function("validate").ValidateRequest,
        "${CrawlerFunctionArn}": load_function("crawler").CrawlerRequest,
        "${ReportFunctionArn}": load_function("report").ReportRequest,
        "${NotifyFunctionArn}": NotifyRequest,
    }
    lambda_tasks = {name: task for name, task in states_of(asl, "Task").items() if task["Resource"].startswith("${")}
    assert {task["Resource"] for task in lambda_tasks.values()} <= set(models)
    for name, task in lambda_tasks.items():
        accepted = set(models[task["Resource"]].model_fields)
        assert {key.removesuffix(".$") for key in task["Parameters"]} <= accepted, name


def test_validate_file_gets_the_event_and_the_execution_that_owns_the_claim(asl: dict[str, Any]) -> None:
    # The ledger claim's owner is the execution: a retried step claims again as the same owner, and a
    # redelivered event (a new execution) does not
    validate = asl["States"]["ValidateFile"]
    assert validate["Parameters"] == {"event.$": "$", "execution.$": "$$.Execution.Name"}
    assert set(load_function("validate").ValidateRequest.model_fields) == {"event", "execution"}
    # and its result is added to the state, which stays the S3 event (the notifier names the file from it)
    assert validate["ResultPath"] == "$.validation"


def test_failed_lambda_steps_are_retried_soon_and_briefly(asl: dict[str, Any]) -> None:
    # A failed Lambda step (States.TaskFailed) is retried after 3 s, then with backoff, for well under a
    # minute in all: long enough for a blip, short enough for a notification while the upload is fresh
    for name, task in states_of(asl, "Task").items():
        for retry in task["Retry"]:
            if retry["ErrorEquals"] != ["States.TaskFailed"]:
                continue
            assert retry["IntervalSeconds"] == 3, name
            waits = [retry["IntervalSeconds"] * retry["BackoffRate"] ** n for n in range(retry["MaxAttempts"])]
            assert sum(waits) <= 30, (name, waits)


def test_glue_job_arguments_are_the_scripts(asl: dict[str, Any]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("glue_join_and_load", ROOT / "glue" / "join_and_load.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    arguments = asl["States"]["StartLoadJob"]["Parameters"]["Arguments"]
    started = {key.removesuffix(".$").removeprefix("--") for key in arguments}
    defaults = load_template()["Resources"]["JoinAndLoadJob"]["Properties"]["DefaultArguments"]
    configured = {key.removeprefix("--") for key in defaults} & set(script.ARGUMENTS)
    # Then every argument the execution passes is one the script reads (none is dead weight) ...
    assert started <= set(script.ARGUMENTS), started - set(script.ARGUMENTS)
    # ... and the script reads exactly what the execution and the job's DefaultArguments give it
    assert set(script.ARGUMENTS) == started | configured
    assert set(script.REQUIRED) <= started | configured
    # and the script uses each of them (an argument it only declares is as dead as one it never gets)
    body = inspect.getsource(script.main)
    unused = [name for name in script.ARGUMENTS if f'args["{name}"]' not in body and f'args.get("{name}"' not in body]
    assert unused == []


# --- the template side ------------------------------------------------------------------------------


def test_substitutions_match_the_template_both_ways() -> None:
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL.read_text()))
    provided = load_template()["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert used == set(provided)
    assert load_template()["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionUri"] == (
        "statemachine/pipeline.asl.json"
    )


def test_each_function_arn_substitution_is_its_function() -> None:
    template = load_template()
    provided = template["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for name, value in provided.items():
        if name.endswith("FunctionArn"):
            logical_id = name.removesuffix("Arn")
            assert value == {"Fn::GetAtt": [logical_id, "Arn"]}
            assert (FUNCTIONS_DIR / template["Resources"][logical_id]["Properties"]["CodeUri"].split("/")[1]).is_dir()
    assert provided["GlueJobName"] == {"Ref": "JoinAndLoadJob"}


def test_asl_validator_accepts_the_definition() -> None:
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot run asl-validator (npm ci installs it with node)")
    if not validator.exists():
        pytest.skip("node_modules/.bin/asl-validator is missing: run `npm ci`")
    done = subprocess.run(
        [str(validator), "--json-path", str(ASL.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout


def test_a_ledger_claim_outlives_the_longest_execution(asl: dict[str, Any]) -> None:
    # Given the longest an execution may run (the definition's TimeoutSeconds) and the claim every
    # Lambda uses (the settings' default, derived in ledger.py from the same timeout)
    from airline_pipeline.steps.settings import LedgerSettings

    default_claim_minutes = LedgerSettings.model_fields["claim_minutes"].default

    # Then the two agree, and a claim - written after its execution started - expires only once its
    # execution can no longer be running: a duplicate event cannot load the file alongside it
    assert asl["TimeoutSeconds"] == ledger.EXECUTION_TIMEOUT_SECONDS
    assert default_claim_minutes * 60 > asl["TimeoutSeconds"]


# --- issue 14: the catalog check and the job's capacity ---------------------------------------------


def test_the_crawler_runs_only_when_the_catalog_step_says_so(asl: dict[str, Any]) -> None:
    # An accepted file goes to the catalog check first; its Choice reads a field the step returns
    from airline_pipeline.steps.catalog import CatalogDecision

    assert asl["States"]["RouteFile"]["Default"] == "CheckCatalog"
    assert asl["States"]["CheckCatalog"]["Next"] == "CatalogRoute"
    assert asl["States"]["CheckCatalog"]["ResultPath"] == "$.catalog"
    route = asl["States"]["CatalogRoute"]
    assert route["Choices"] == [{"Variable": "$.catalog.crawl", "BooleanEquals": True, "Next": "StartCrawler"}]
    assert route["Default"] == "StartLoadJob"
    assert "crawl" in CatalogDecision.model_fields
    # and the crawler is reached only through that Choice: no path from validation around it
    assert predecessors(asl, "StartCrawler") == {"CatalogRoute"}
    assert "StartCrawler" not in reachable(asl, "ValidateFile", avoiding={"CatalogRoute"})
    # the check reads what ValidateFile returns
    parameters = asl["States"]["CheckCatalog"]["Parameters"]
    read = {
        value.removeprefix("$.validation.") for key, value in parameters.items() if value.startswith("$.validation.")
    }
    assert read == {"bucket", "key", "header"}
    assert read <= set(ValidationResult.model_fields)


def test_the_job_runs_with_the_capacity_validate_chose_and_records_it(asl: dict[str, Any]) -> None:
    parameters = asl["States"]["StartLoadJob"]["Parameters"]
    # StartJobRun's MaxCapacity overrides the job's (1 DPU) for this run only
    assert parameters["MaxCapacity.$"] == "$.validation.job_capacity"
    assert "job_capacity" in ValidationResult.model_fields
    # and the job is told, to write it into the audit row (Glue arguments are strings)
    assert parameters["Arguments"]["--job_capacity_dpu.$"] == "States.Format('{}', $.validation.job_capacity)"
