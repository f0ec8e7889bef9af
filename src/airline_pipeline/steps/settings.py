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


class ValidateSettings(LedgerSettings):
    data_prefix: str = Field(description="DATA_PREFIX: the folder that triggers the pipeline, e.g. daily-flights/")
    poll_seconds: int = Field(gt=0, description="POLL_SECONDS: wait between crawler / job status checks")


class CrawlerSettings(_StepSettings):
    crawler_name: str = Field(description="CRAWLER_NAME: Glue crawler over the data prefix")
    crawler_timeout_seconds: int = Field(gt=0, description="CRAWLER_TIMEOUT_SECONDS: give up waiting after this")


class ReportSettings(_StepSettings):
    warehouse_uri: str = Field(description="WAREHOUSE_URI: duckdb:///... or redshift-data://...")


class NotifySettings(LedgerSettings):
    topic_arn: str = Field(description="TOPIC_ARN: SNS topic for outcome notifications")


#: Each Lambda step's settings, by its folder under functions/.
STEP_SETTINGS: dict[str, type[_StepSettings]] = {
    "validate": ValidateSettings,
    "crawler": CrawlerSettings,
    "report": ReportSettings,
    "notify": NotifySettings,
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
