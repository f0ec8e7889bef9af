"""FreshnessFunction: the ExpectedBy schedule's target; MISSING / RECOVERED notifications per day."""

from __future__ import annotations

from datetime import datetime, timezone

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from airline_pipeline.steps.freshness import AlertLog, CheckRequest, CheckResult, check, get_freshness_settings
from airline_pipeline.steps.powertools import aws_client, metrics, step_handler
from airline_pipeline.warehouse import open_warehouse


@step_handler(CheckRequest, correlation_id_path="id")
def handler(event: CheckRequest, context: LambdaContext) -> CheckResult:
    settings = get_freshness_settings()
    # the schedule's own time: a retried invocation checks the same moment
    now = (event.time or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    alerts = AlertLog(settings.ledger_table, dynamodb=aws_client("dynamodb"))
    with open_warehouse(settings.warehouse_uri) as warehouse:
        result = check(warehouse, alerts, sns=aws_client("sns"), settings=settings, now=now)
    metrics.add_metric(name="DaysNotLoaded", unit=MetricUnit.Count, value=len(result.not_loaded))
    metrics.add_metric(name="MissingNotifications", unit=MetricUnit.Count, value=len(result.missing_sent))
    return result
