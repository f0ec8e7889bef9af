"""NotifyFunction: the outcome and the execution's state in, the published message out."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from airline_pipeline.adapters import lineage
from airline_pipeline.adapters.warehouse import describe
from airline_pipeline.core import status
from airline_pipeline.steps.notify import NotifyRequest, NotifyResult, notify
from airline_pipeline.steps.powertools import aws_client, ledger, metrics, step_handler
from airline_pipeline.steps.settings import NotifySettings, get_settings


@step_handler(NotifyRequest, correlation_id_path="execution")
def handler(event: NotifyRequest, context: LambdaContext) -> NotifyResult:
    settings = get_settings(NotifySettings)
    result = notify(
        event,
        sns=aws_client("sns"),
        topic_arn=settings.topic_arn,
        ledger=ledger(settings),
    )
    # the OpenLineage run the validate step started ends here (when configured)
    outcome = status.LOADED if event.outcome == "success" else status.FAILED
    lineage.emit_load(
        {**result.summary, "status": outcome}, warehouse_uri=describe(settings.warehouse_uri), start=False
    )
    metrics.add_metric(name="Notifications", unit=MetricUnit.Count, value=1)
    if event.outcome == "failure":
        metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
    return result
