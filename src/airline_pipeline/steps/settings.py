"""Configuration of the Lambda steps, from environment variables: one model per function.

Each function requires exactly the variables it reads (the cookbook's per-handler settings): a
function deployed without one fails on its first invocation with a message naming the variable,
instead of misbehaving later, and no function fails for another's variable.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar, cast

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from airline_pipeline.adapters import ledger
from airline_pipeline.core.errors import ConfigError


class _StepSettings(BaseSettings):
    """Environment variables (upper-case names); template.yaml's Globals set them."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")


class LedgerSettings(_StepSettings):
    """The load ledger (validate claims files, notify closes them)."""

    ledger_table: str = Field(description="LEDGER_TABLE: DynamoDB table of bucket/key/etag claims")
    claim_minutes: int = Field(
        default=ledger.CLAIM_MINUTES,
        ge=ledger.CLAIM_MINUTES,
        description="CLAIM_MINUTES: an in-flight claim older than this no longer blocks a retry; never shorter "
        "than an execution may run",
    )


class CrawlerSettings(_StepSettings):
    crawler_name: str = Field(description="CRAWLER_NAME: Glue crawler over the data prefix")
    crawler_timeout_seconds: int = Field(gt=0, description="CRAWLER_TIMEOUT_SECONDS: give up waiting after this")


class ReportSettings(_StepSettings):
    warehouse_uri: str = Field(description="WAREHOUSE_URI: duckdb:///... or redshift-data://...")


class LineageSettings(_StepSettings):
    """The steps that send OpenLineage events (when the client is configured) name the output table by it."""

    warehouse_uri: str = Field(description="WAREHOUSE_URI: the warehouse the lineage events name as output")


class ValidateSettings(LedgerSettings, LineageSettings):
    data_prefix: str = Field(description="DATA_PREFIX: the folder that triggers the pipeline, e.g. daily-flights/")
    poll_seconds: int = Field(gt=0, description="POLL_SECONDS: wait between crawler / job status checks")


class NotifySettings(LedgerSettings, LineageSettings):
    topic_arn: str = Field(description="TOPIC_ARN: SNS topic for outcome notifications")


class FreshnessSettings(_StepSettings):
    """The ExpectedBy check (template.yaml FreshnessFunction + Globals)."""

    warehouse_uri: str = Field(description="WAREHOUSE_URI: where the audit table is read")
    topic_arn: str = Field(description="TOPIC_ARN: where MISSING / RECOVERED are published")
    ledger_table: str = Field(description="LEDGER_TABLE: holds which alerts were sent (freshness#<date> items)")
    data_prefix: str = Field(description="DATA_PREFIX: named in the message (where the file should land)")
    expected_by: str = Field(min_length=1, description="EXPECTED_BY: the schedule, named in the message")
    freshness_lookback_days: int = Field(ge=1, le=366, description="FRESHNESS_LOOKBACK_DAYS: days checked")
    expected_lag_days: int = Field(ge=0, le=366, description="EXPECTED_LAG_DAYS: a check on day D expects D - lag")


#: Each Lambda step's settings, by its folder under functions/.
STEP_SETTINGS: dict[str, type[_StepSettings]] = {
    "validate": ValidateSettings,
    "crawler": CrawlerSettings,
    "report": ReportSettings,
    "notify": NotifySettings,
    "freshness": FreshnessSettings,
}

Model = TypeVar("Model", bound=_StepSettings)


def get_settings(model: type[Model]) -> Model:
    """The function's settings, read once per Lambda container; raises ConfigError naming what is missing."""
    return cast(Model, _load(model))


@cache
def _load(model: type[_StepSettings]) -> _StepSettings:
    try:
        return model()
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(error['loc'][0]).upper()}: {error['msg']}" for error in exc.errors() if error.get("loc")
        )
        raise ConfigError(f"invalid or missing environment variables: {problems}") from None


def clear_cache() -> None:
    """Forget the settings read (tests: every test is a new container)."""
    _load.cache_clear()
