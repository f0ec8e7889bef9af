"""Settings: every variable the template sets is required, and a missing one fails loudly, by name."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from lambda_support import LOGICAL_IDS, load_event

from airline_pipeline.adapters import ledger
from airline_pipeline.core.errors import ConfigError
from airline_pipeline.steps.settings import Settings, get_settings

REQUIRED = sorted(name.upper() for name, field in Settings.model_fields.items() if field.is_required())


def test_the_required_variables_are_the_templates() -> None:
    # Given the settings model, Then its required variables are the ones template.yaml's Globals set
    assert REQUIRED == [
        "CRAWLER_NAME",
        "CRAWLER_TIMEOUT_SECONDS",
        "DATA_PREFIX",
        "LEDGER_TABLE",
        "POLL_SECONDS",
        "TOPIC_ARN",
        "WAREHOUSE_URI",
    ]


@pytest.mark.parametrize("function", sorted(LOGICAL_IDS))
def test_env_json_configures_every_function(function: str, function_env: Callable[..., Any]) -> None:
    # Given a function's variables from events/env.json
    function_env(function)

    # When the settings are read, Then they are complete and typed
    settings = get_settings()
    assert settings.poll_seconds == 20
    assert settings.crawler_timeout_seconds == 1800
    assert settings.data_prefix == "daily-flights/"
    assert settings.claim_minutes * 60 > ledger.EXECUTION_TIMEOUT_SECONDS


@pytest.mark.parametrize("variable", REQUIRED)
def test_missing_variable_is_named(variable: str, function_env: Callable[..., Any]) -> None:
    # Given a deployment that lost one variable
    function_env("validate", **{variable: None})

    # When the settings are read, Then the error names the variable
    with pytest.raises(ConfigError, match=rf"invalid or missing environment variables: {variable}: Field required"):
        get_settings()


def test_every_missing_variable_is_named_at_once(function_env: Callable[..., Any]) -> None:
    # Given two variables missing
    function_env("notify", TOPIC_ARN=None, LEDGER_TABLE=None)

    # When the settings are read, Then both are named in one message
    with pytest.raises(ConfigError) as raised:
        get_settings()
    assert "TOPIC_ARN: Field required" in str(raised.value)
    assert "LEDGER_TABLE: Field required" in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("POLL_SECONDS", "twenty", "POLL_SECONDS: Input should be a valid integer"),
        ("POLL_SECONDS", "0", "POLL_SECONDS: Input should be greater than 0"),
        ("CRAWLER_TIMEOUT_SECONDS", "-5", "CRAWLER_TIMEOUT_SECONDS: Input should be greater than 0"),
        ("CLAIM_MINUTES", "3h", "CLAIM_MINUTES: Input should be a valid integer"),
        # shorter than an execution may run: a duplicate event could load the file beside it
        ("CLAIM_MINUTES", "180", f"CLAIM_MINUTES: Input should be greater than or equal to {ledger.CLAIM_MINUTES}"),
    ],
)
def test_malformed_variable_is_named(variable: str, value: str, words: str, function_env: Callable[..., Any]) -> None:
    # Given a variable with a value of the wrong kind
    function_env("crawler", **{variable: value})

    # When the settings are read, Then the error names the variable and what is wrong
    with pytest.raises(ConfigError, match=words):
        get_settings()


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_fails_on_first_invocation_naming_the_variable(invoke: Callable[..., Any]) -> None:
    # Given the validate function deployed without LEDGER_TABLE
    # When it is invoked, Then it fails before doing anything, naming the variable
    with pytest.raises(ConfigError, match="LEDGER_TABLE: Field required"):
        invoke("validate", load_event("validate"), LEDGER_TABLE=None)
