"""ValidateFunction: S3 "Object Created" event in, ``ValidationResult`` out (see steps/validate.py)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from airline_pipeline.ledger import Ledger
from airline_pipeline.settings import get_settings
from airline_pipeline.steps.powertools import aws_client, metrics, step_handler
from airline_pipeline.steps.validate import ValidationResult, validate_object


@step_handler(S3EventNotificationEventBridgeModel, correlation_id_path="id")
def handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> ValidationResult:
    settings = get_settings()
    result = validate_object(
        bucket=event.detail.bucket.name,
        event_key=event.detail.object.key,
        etag=event.detail.object.etag or "",
        event_id=event.id,
        data_prefix=settings.data_prefix,
        poll_seconds=settings.poll_seconds,
        ledger=Ledger(settings.ledger_table, dynamodb=aws_client("dynamodb"), claim_minutes=settings.claim_minutes),
        s3=aws_client("s3"),
        replay=bool(event.replay_name),
    )
    metrics.add_metric(name=f"Files{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
    return result
