"""ReportFunction: ``{"batch_id": ...}`` in, the batch's ``BatchReport`` (read from the warehouse) out."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from airline_pipeline.adapters.warehouse import open_reader
from airline_pipeline.steps.powertools import metrics, step_handler
from airline_pipeline.steps.settings import ReportSettings, get_settings
from airline_pipeline.steps.verify_load import BatchReport, batch_report


class ReportRequest(BaseModel):
    batch_id: str
    source_uri: str = ""


@step_handler(ReportRequest, correlation_id_path="batch_id")
def handler(event: ReportRequest, context: LambdaContext) -> BatchReport:
    with open_reader(get_settings(ReportSettings).warehouse_uri) as warehouse:
        report = batch_report(warehouse, event.batch_id)
    metrics.add_metric(name="RowsLoaded", unit=MetricUnit.Count, value=report.rows_loaded)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=report.rows_rejected)
    metrics.add_metric(name="UnknownAirportFlights", unit=MetricUnit.Count, value=report.unknown_airports)
    return report
