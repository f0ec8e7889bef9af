"""ValidateFunction: the S3 "Object Created" event (and the execution's name) in, ``ValidationResult`` out."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from airline_pipeline.adapters import lineage
from airline_pipeline.adapters.warehouse import describe
from airline_pipeline.steps.powertools import aws_client, ledger, metrics, step_handler
from airline_pipeline.steps.settings import ValidateSettings, get_settings
from airline_pipeline.steps.validate import ValidationResult, validate_object


class ValidateRequest(BaseModel):
    """The state machine's input event, as EventBridge delivered it, and the execution that owns the file."""

    event: S3EventNotificationEventBridgeModel
    execution: str


@step_handler(ValidateRequest, correlation_id_path="execution")
def handler(request: ValidateRequest, context: LambdaContext) -> ValidationResult:
    settings = get_settings(ValidateSettings)
    event = request.event
    result = validate_object(
        bucket=event.detail.bucket.name,
        event_key=event.detail.object.key,
        etag=event.detail.object.etag or "",
        execution=request.execution,
        data_prefix=settings.data_prefix,
        poll_seconds=settings.poll_seconds,
        ledger=ledger(settings),
        s3=aws_client("s3"),
        replay=bool(event.replay_name),
    )
    if result.status == "accepted":  # the OpenLineage run starts (when configured); notify ends it
        lineage.emit_start(
            batch_id=request.execution, source_file=result.source_uri, warehouse_uri=describe(settings.warehouse_uri)
        )
    metrics.add_metric(name=f"Files{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
    return result
