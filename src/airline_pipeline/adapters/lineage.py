"""OpenLineage run events for each load: START, then COMPLETE or FAIL, one runId per batch.

The input file and the output table are the datasets (named as the OpenLineage naming spec names S3
objects, local files and Redshift tables); row counts and the quality outcome are standard facets:
``dataQualityMetrics`` (rows read) and ``dataQualityAssertions`` (rejected rows, unknown airports,
every row accounted for, the load policy's quality threshold - expected and actual values included)
on the input, ``outputStatistics`` (rows loaded) on the output, ``errorMessage`` on a failed run.

Off by default: events are sent only when the OpenLineage client is configured - ``OPENLINEAGE_URL``
(HTTP, e.g. Marquez or DataHub), ``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` where the client looks
for one, or ``OPENLINEAGE__TRANSPORT__...`` variables (file, console, Kafka, ...) - and through the
transport that configuration names. Sending never fails a load: a transport error is logged.

openlineage-python needs Python >= 3.10: the CLI and the Lambdas send events, the Glue job (3.9) does
not import this module. It sits in adapters/ (an outbound connection, like the ledger) so that the CLI
and the Lambda steps can both use it. The runId is derived from the batch id (the Step Functions execution name in
AWS), so the validate step's START and the notify step's COMPLETE/FAIL belong to one run.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from airline_pipeline import __version__
from airline_pipeline.core import schema, status
from airline_pipeline.core.quality import THRESHOLD_WARNING
from airline_pipeline.core.s3uri import S3Uri

log = logging.getLogger(__name__)

#: The job every load is a run of; its namespace is ``$OPENLINEAGE_NAMESPACE`` when set.
JOB_NAME = "airline_pipeline.load_daily_flights"
DEFAULT_NAMESPACE = "airline-pipeline"
#: A URI naming this producer (the spec asks for a URI; the project has no public URL of its own).
PRODUCER = f"urn:airline-pipeline:{__version__}"
#: uuid5 namespace of the run ids: the same batch id gives the same run id in every process.
_RUN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:airline-pipeline:run")
_REDSHIFT_PORT = "5439"
_CONFIG_FILES = (Path.cwd, lambda: Path.home() / ".openlineage")


def enabled() -> bool:
    """True when the OpenLineage client has a configuration (and ``OPENLINEAGE_DISABLED`` is not true)."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT__") for name in os.environ):
        return True
    return any((folder() / "openlineage.yml").is_file() for folder in _CONFIG_FILES)


def run_id(batch_id: str) -> str:
    """The run's id, derived from the batch id: START and COMPLETE/FAIL agree without sharing state."""
    return str(uuid.uuid5(_RUN_NAMESPACE, batch_id))


def input_dataset_name(source_file: str) -> tuple[str, str]:
    """(namespace, name) of the input file: ``s3://bucket`` + key, or ``file`` + absolute path."""
    if source_file.startswith("s3://"):
        location = S3Uri.parse(source_file)
        return f"s3://{location.bucket}", location.key
    return "file", str(Path(source_file).absolute())


def output_dataset_name(warehouse_uri: str) -> tuple[str, str]:
    """(namespace, name) of the fact table: Redshift per the naming spec, DuckDB by its file."""
    parts = urlsplit(warehouse_uri)
    if parts.scheme == "redshift-data":
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "unknown-region"
        database = parts.path.strip("/") or "dev"
        return f"redshift://{parts.netloc}.{region}:{_REDSHIFT_PORT}", f"{database}.{schema.FACT}"
    path = warehouse_uri.split("://", 1)[1] if "://" in warehouse_uri else warehouse_uri
    return f"duckdb://{path.split('?', 1)[0]}", schema.FACT


def _count(counts: dict[str, Any], name: str) -> int:
    return int(counts.get(name) or 0)


def run_event(
    state: str,
    *,
    batch_id: str,
    source_file: str,
    warehouse_uri: str,
    at: datetime,
    counts: Optional[dict[str, Any]] = None,
    error: Optional[str] = None,
) -> Any:
    """One OpenLineage ``RunEvent`` (``state``: START, COMPLETE or FAIL) of the load of ``source_file``.

    ``counts``: the load's ``rows_read``, ``rows_loaded``, ``rows_rejected``, ``rows_filtered``,
    ``rows_refused``, ``unknown_airports``, ``status`` and ``warning`` (COMPLETE; a FAIL may have them or
    not). ``error``: why the run failed.
    """
    from openlineage.client import event_v2
    from openlineage.client.facet_v2 import error_message_run, job_type_job

    input_facets, output_facets = _count_facets(counts) if counts else ({}, {})
    run_facets: dict[str, Any] = {}
    if error:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="python")
    in_namespace, in_name = input_dataset_name(source_file)
    out_namespace, out_name = output_dataset_name(warehouse_uri)
    return event_v2.RunEvent(
        eventType=event_v2.RunState[state],
        eventTime=at.astimezone(timezone.utc).isoformat(),
        run=event_v2.Run(runId=run_id(batch_id), facets=run_facets),
        job=event_v2.Job(
            namespace=os.environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE,
            name=JOB_NAME,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="AIRLINE_PIPELINE", jobType="JOB"
                )
            },
        ),
        inputs=[event_v2.InputDataset(namespace=in_namespace, name=in_name, inputFacets=input_facets)],
        outputs=[event_v2.OutputDataset(namespace=out_namespace, name=out_name, outputFacets=output_facets)],
        producer=PRODUCER,
    )


def _count_facets(counts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input's metrics and quality assertions and the output's statistics, from a load's counts."""
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset,
        data_quality_metrics_input_dataset,
        output_statistics_output_dataset,
    )

    read, loaded = _count(counts, "rows_read"), _count(counts, "rows_loaded")
    assertions = [
        data_quality_assertions_dataset.Assertion(
            assertion=name,
            success=actual == expected,
            severity=severity,
            expected=str(expected),
            actual=str(actual),
            description=description,
        )
        for name, severity, expected, actual, description in _quality_checks(counts)
    ]
    inputs = {
        "dataQualityMetrics": data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
            rowCount=read, columnMetrics={}
        ),
        "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=assertions
        ),
    }
    outputs = {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=loaded)}
    return inputs, outputs


def _quality_checks(counts: dict[str, Any]) -> list[tuple[str, str, Any, Any, str]]:
    """(name, severity, expected, actual, what it checks): rejected rows are quarantined and the file
    still loads, so they and unknown airports are warnings; a row not accounted for is an error."""
    accounted = sum(_count(counts, name) for name in ("rows_loaded", "rows_rejected", "rows_filtered", "rows_refused"))
    return [
        (
            "rejected_rows",
            "warn",
            0,
            _count(counts, "rows_rejected"),
            "rows refused by the contract (airlines.rejected_rows, with a reason)",
        ),
        (
            "unknown_airports",
            "warn",
            0,
            _count(counts, "unknown_airports"),
            "flights whose airport id airports_dim lacks (names left NULL)",
        ),
        (
            "row_count",
            "error",
            _count(counts, "rows_read"),
            accounted,
            "every row read is loaded, rejected, filtered (MinDepDelay) or refused with its file",
        ),
        *_threshold_check(counts),
    ]


def _threshold_check(counts: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The load policy's verdict (core.quality), when a threshold was crossed: refused (error) or warned."""
    refused = counts.get("status") == status.REJECTED
    warned = THRESHOLD_WARNING in str(counts.get("warning") or "")
    if not (refused or warned):
        return []
    verdict = "refused" if refused else "loaded with a warning"
    why = str(counts.get("message") or counts.get("warning") or "")
    return [
        ("quality_threshold", "error" if refused else "warn", "within", verdict, f"MaxRejectedShare/MinRows: {why}")
    ]


def emit(*events: Any) -> int:
    """Send ``events`` through the configured client; returns how many were sent. Never raises."""
    return _send(lambda: list(events)) if events else 0


def _send(build: Callable[[], list[Any]]) -> int:
    """Build the events and send them, when configured; a bad input or a transport error is only logged."""
    if not enabled():
        return 0
    try:
        from openlineage.client import OpenLineageClient

        events = build()
        client = OpenLineageClient()
        for event in events:
            client.emit(event)
        client.close()
    except Exception as exc:  # lineage is a side channel: it never fails a load
        log.warning("OpenLineage events not sent (%s: %s)", type(exc).__name__, exc)
        return 0
    return len(events)


def emit_start(*, batch_id: str, source_file: str, warehouse_uri: str, now: Optional[datetime] = None) -> int:
    """START of a run whose end another process reports (the validate step; notify sends the end)."""
    at = now or datetime.now(timezone.utc)
    return _send(
        lambda: [run_event("START", batch_id=batch_id, source_file=source_file, warehouse_uri=warehouse_uri, at=at)]
    )


def emit_load(
    summary: dict[str, Any], *, warehouse_uri: str, start: bool = True, now: Optional[datetime] = None
) -> int:
    """START (unless ``start`` is False) and COMPLETE or FAIL for a finished load's summary.

    ``summary``: ``batch_id``, ``source_file``, ``status`` and the counts, as ``ingest`` and the
    notification summary have them; START is dated ``duration_seconds`` before the end.
    """
    end = now or datetime.now(timezone.utc)
    return _send(lambda: _load_events(summary, warehouse_uri=warehouse_uri, start=start, end=end))


def _load_events(summary: dict[str, Any], *, warehouse_uri: str, start: bool, end: datetime) -> list[Any]:
    common: dict[str, Any] = {
        "batch_id": str(summary["batch_id"]),
        "source_file": str(summary["source_file"]),
        "warehouse_uri": warehouse_uri,
    }
    events = []
    if start:
        began = end - timedelta(seconds=float(summary.get("duration_seconds") or 0))
        events.append(run_event("START", at=began, **common))
    if summary.get("status") == status.LOADED:
        events.append(run_event("COMPLETE", at=end, counts=summary, **common))
    else:
        error = f"{summary.get('error') or 'failed'}: {summary.get('message') or summary.get('cause') or ''}".strip()
        has_counts = any(summary.get(name) for name in ("rows_read", "rows_loaded"))
        events.append(run_event("FAIL", at=end, counts=summary if has_counts else None, error=error, **common))
    return events
