"""AdmissionFunction: a batch of SQS messages (EventBridge ``Object Created`` events) in, the failed items out.

Powertools' batch processor reports each message that raised as a batch item failure
(``ReportBatchItemFailures``): those, and only those, come back from the queue later.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from airline_pipeline.steps.admission import Message, Starter
from airline_pipeline.steps.powertools import aws_client, logger, metrics, tracer
from airline_pipeline.steps.settings import AdmissionSettings, get_settings

# A batch in which every file waits is a normal answer (all items reported), not a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    starter = Starter(
        get_settings(AdmissionSettings), aws_client("stepfunctions"), aws_client("sqs"), aws_client("dynamodb")
    )

    def admit(record: SQSRecord) -> str:
        attributes = record.attributes
        return starter.admit(
            Message(record.body, record.receipt_handle, int(attributes.approximate_receive_count or 1))
        )

    response = process_partial_response(event=event, record_handler=admit, processor=processor, context=context)
    done = starter.outcome
    for name, files in (("Started", done.started), ("Duplicate", done.duplicates), ("Skipped", done.skipped),
                        ("Deferred", done.deferred)):  # fmt: skip
        metrics.add_metric(name=f"Admission{name}", unit=MetricUnit.Count, value=len(files))
    logger.info(
        "admission batch",
        extra={"started": len(done.started), "duplicates": len(done.duplicates), "skipped": len(done.skipped),
               "deferred": len(done.deferred)},
    )  # fmt: skip
    return dict(response)
