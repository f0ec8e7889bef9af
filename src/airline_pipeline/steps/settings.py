"""Configuration of the Lambda steps, from environment variables, in one model.

Every value the template sets is required here: a function deployed without one fails on its
first invocation with a message naming the variable, instead of misbehaving later.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from airline_pipeline.adapters import ledger
from airline_pipeline.core.errors import ConfigError


class Settings(BaseSettings):
    """Environment variables (upper-case names) of every function; see template.yaml Globals."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    data_prefix: str = Field(description="DATA_PREFIX: the folder that triggers the pipeline, e.g. daily-flights/")
    ledger_table: str = Field(description="LEDGER_TABLE: DynamoDB table of bucket/key/etag claims")
    crawler_name: str = Field(description="CRAWLER_NAME: Glue crawler over the data prefix")
    crawler_timeout_seconds: int = Field(gt=0, description="CRAWLER_TIMEOUT_SECONDS: give up waiting after this")
    topic_arn: str = Field(description="TOPIC_ARN: SNS topic for outcome notifications")
    warehouse_uri: str = Field(description="WAREHOUSE_URI: duckdb:///... or redshift-data://...")
    poll_seconds: int = Field(gt=0, description="POLL_SECONDS: wait between crawler / job status checks")
    claim_minutes: int = Field(
        default=ledger.CLAIM_MINUTES,
        ge=ledger.CLAIM_MINUTES,
        description="CLAIM_MINUTES: an in-flight claim older than this no longer blocks a retry; never shorter "
        "than an execution may run",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once per Lambda container; raises ConfigError naming what is missing."""
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(error['loc'][0]).upper()}: {error['msg']}" for error in exc.errors() if error.get("loc")
        )
        raise ConfigError(f"invalid or missing environment variables: {problems}") from None
