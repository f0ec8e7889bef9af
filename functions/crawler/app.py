"""CrawlerFunction: ``{"action": "start"}`` or ``{"action": "status", "started_at": ...}`` in, ``CrawlerState`` out;
``{"action": "catalog", "bucket", "key", "header"}`` in, ``CatalogDecision`` out (register the partition or crawl)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional, Union

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from airline_pipeline.steps.catalog import CatalogDecision, plan_catalog
from airline_pipeline.steps.crawler import CrawlerState, crawler_status, start_crawler
from airline_pipeline.steps.powertools import aws_client, metrics, step_handler
from airline_pipeline.steps.settings import CrawlerSettings, get_settings


class CrawlerRequest(BaseModel):
    action: Literal["start", "status", "catalog"]
    execution: str = ""
    started_at: Optional[datetime] = None
    bucket: str = ""
    key: str = ""
    header: str = ""


@step_handler(CrawlerRequest, correlation_id_path="execution")
def handler(event: CrawlerRequest, context: LambdaContext) -> Union[CatalogDecision, CrawlerState]:
    settings = get_settings(CrawlerSettings)
    glue = aws_client("glue")
    if event.action == "catalog":
        decision = plan_catalog(
            glue, crawler_name=settings.crawler_name, bucket=event.bucket, key=event.key, header=event.header
        )
        metrics.add_metric(name="CrawlsNeeded" if decision.crawl else "CrawlsSkipped", unit=MetricUnit.Count, value=1)
        return decision
    metrics.add_metric(name="CrawlerChecks", unit=MetricUnit.Count, value=1)
    if event.action == "start" or event.started_at is None:
        return start_crawler(glue, settings.crawler_name)
    return crawler_status(
        glue, settings.crawler_name, started_at=event.started_at, timeout_seconds=settings.crawler_timeout_seconds
    )
