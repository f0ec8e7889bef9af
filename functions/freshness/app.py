"""FreshnessFunction: the ExpectedBy schedule's Scheduled Event in, MISSING / RECOVERED notifications per day out."""

from __future__ import annotations

from datetime import timezone

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from airline_pipeline.adapters.warehouse import open_reader
from airline_pipeline.steps.freshness import AlertLog, CheckResult, check
from airline_pipeline.steps.powertools import aws_client, metrics, step_handler
from airline_pipeline.steps.settings import FreshnessSettings, get_settings


@step_handler(EventBridgeModel, correlation_id_path="id")
def handler(event: EventBridgeModel, context: LambdaContext) -> CheckResult:
    settings = get_settings(FreshnessSettings)
    # the schedule's own time: a retried invocation checks the same moment
    now = event.time.astimezone(timezone.utc).replace(tzinfo=None)
    alerts = AlertLog(settings.ledger_table, dynamodb=aws_client("dynamodb"))
    with open_reader(settings.warehouse_uri) as reader:
        result = check(reader, alerts, sns=aws_client("sns"), settings=settings, now=now)
    metrics.add_metric(name="DaysNotLoaded", unit=MetricUnit.Count, value=len(result.not_loaded))
    metrics.add_metric(name="MissingNotifications", unit=MetricUnit.Count, value=len(result.missing_sent))
    return result
