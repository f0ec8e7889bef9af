"""Settings: each function requires exactly the variables it reads, and a missing one fails loudly, by name."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from lambda_support import LOGICAL_IDS, load_event

from airline_pipeline.adapters import ledger
from airline_pipeline.core.errors import ConfigError
from airline_pipeline.steps.settings import (
    STEP_SETTINGS,
    CrawlerSettings,
    NotifySettings,
    ValidateSettings,
    get_settings,
)


def required(function: str) -> list[str]:
    model = STEP_SETTINGS[function]
    return sorted(name.upper() for name, field in model.model_fields.items() if field.is_required())


REQUIRED = [(function, variable) for function in sorted(STEP_SETTINGS) for variable in required(function)]


def test_each_function_requires_only_the_variables_it_reads() -> None:
    # Given the per-function settings models, Then each requires its own variables, and together the template's
    assert {function: required(function) for function in STEP_SETTINGS} == {
        # validate and notify name the warehouse in the OpenLineage events they send (when configured)
        "validate": ["DATA_PREFIX", "LEDGER_TABLE", "POLL_SECONDS", "WAREHOUSE_URI"],
        "crawler": ["CRAWLER_NAME", "CRAWLER_TIMEOUT_SECONDS"],
        "report": ["WAREHOUSE_URI"],
        "notify": ["LEDGER_TABLE", "TOPIC_ARN", "WAREHOUSE_URI"],
        "freshness": [
            "DATA_PREFIX",
            "EXPECTED_BY",
            "EXPECTED_LAG_DAYS",
            "FRESHNESS_LOOKBACK_DAYS",
            "LEDGER_TABLE",
            "TOPIC_ARN",
            "WAREHOUSE_URI",
        ],
    }


@pytest.mark.parametrize("function", sorted(STEP_SETTINGS))
def test_a_function_needs_no_other_functions_variables(function: str, function_env: Callable[..., Any]) -> None:
    # Given a function whose environment holds only its own variables
    others = {name for other in STEP_SETTINGS for name in required(other)} - set(required(function))
    function_env(function, **dict.fromkeys(others))

    # When its settings are read, Then they load (the single shared model failed here)
    settings = get_settings(STEP_SETTINGS[function])
    assert {name.upper() for name in type(settings).model_fields} >= set(required(function))


@pytest.mark.parametrize("function", sorted(STEP_SETTINGS))
def test_env_json_configures_every_function(function: str, function_env: Callable[..., Any]) -> None:
    # Given a function's variables from events/env.json
    function_env(function)

    # When the settings are read, Then they are complete and typed
    settings = get_settings(STEP_SETTINGS[function])
    assert settings.model_dump()  # every required field present, or ConfigError above


def test_env_json_values_are_typed(function_env: Callable[..., Any]) -> None:
    function_env("validate")
    settings = get_settings(ValidateSettings)
    assert settings.poll_seconds == 20
    assert settings.data_prefix == "daily-flights/"
    assert settings.claim_minutes * 60 > ledger.EXECUTION_TIMEOUT_SECONDS
    function_env("crawler")
    assert get_settings(CrawlerSettings).crawler_timeout_seconds == 1800


@pytest.mark.parametrize(("function", "variable"), REQUIRED)
def test_missing_variable_is_named(function: str, variable: str, function_env: Callable[..., Any]) -> None:
    # Given a deployment that lost one of the function's variables
    function_env(function, **{variable: None})

    # When the settings are read, Then the error names the variable
    with pytest.raises(ConfigError, match=rf"invalid or missing environment variables: {variable}: Field required"):
        get_settings(STEP_SETTINGS[function])


def test_every_missing_variable_is_named_at_once(function_env: Callable[..., Any]) -> None:
    # Given two variables missing
    function_env("notify", TOPIC_ARN=None, LEDGER_TABLE=None)

    # When the settings are read, Then both are named in one message
    with pytest.raises(ConfigError) as raised:
        get_settings(NotifySettings)
    assert "TOPIC_ARN: Field required" in str(raised.value)
    assert "LEDGER_TABLE: Field required" in str(raised.value)


@pytest.mark.parametrize(
    ("function", "variable", "value", "words"),
    [
        ("validate", "POLL_SECONDS", "twenty", "POLL_SECONDS: Input should be a valid integer"),
        ("validate", "POLL_SECONDS", "0", "POLL_SECONDS: Input should be greater than 0"),
        ("crawler", "CRAWLER_TIMEOUT_SECONDS", "-5", "CRAWLER_TIMEOUT_SECONDS: Input should be greater than 0"),
        ("notify", "CLAIM_MINUTES", "3h", "CLAIM_MINUTES: Input should be a valid integer"),
        (
            "freshness",
            "FRESHNESS_LOOKBACK_DAYS",
            "0",
            "FRESHNESS_LOOKBACK_DAYS: Input should be greater than or equal to 1",
        ),
        ("freshness", "EXPECTED_BY", "", "EXPECTED_BY: String should have at least 1 character"),
        # shorter than an execution may run: a duplicate event could load the file beside it
        (
            "validate",
            "CLAIM_MINUTES",
            "180",
            f"CLAIM_MINUTES: Input should be greater than or equal to {ledger.CLAIM_MINUTES}",
        ),
    ],
)
def test_malformed_variable_is_named(
    function: str, variable: str, value: str, words: str, function_env: Callable[..., Any]
) -> None:
    # Given a variable with a value of the wrong kind
    function_env(function, **{variable: value})

    # When the settings are read, Then the error names the variable and what is wrong
    with pytest.raises(ConfigError, match=words):
        get_settings(STEP_SETTINGS[function])


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_fails_on_first_invocation_naming_the_variable(invoke: Callable[..., Any]) -> None:
    # Given the validate function deployed without LEDGER_TABLE
    # When it is invoked, Then it fails before doing anything, naming the variable
    with pytest.raises(ConfigError, match="LEDGER_TABLE: Field required"):
        invoke("validate", load_event("validate"), LEDGER_TABLE=None)


def test_logical_ids_cover_the_step_settings() -> None:
    assert set(STEP_SETTINGS) <= set(LOGICAL_IDS)
