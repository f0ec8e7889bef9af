"""Step 5: tell people what happened, and close the file's ledger entry.

One SNS message per execution: a subject and body a person can act on (which file, which step
failed, the cause, where the rejected rows are), and the same facts as JSON in the ``summary``
message attribute for machines. The execution's state arrives typed
(:class:`~airline_pipeline.steps.state.PipelineState`); its failure shapes describe themselves.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any, Literal, NamedTuple, Optional, cast

from pydantic import BaseModel, Field

from airline_pipeline.adapters import ledger as ledger_states
from airline_pipeline.adapters.ledger import Ledger, file_id
from airline_pipeline.adapters.sources import decode_event_key
from airline_pipeline.core import cost
from airline_pipeline.core.outcome import ROW_COUNTS
from airline_pipeline.steps.state import Failure, FailureDescription, PipelineState
from airline_pipeline.steps.verify_load import BatchReport

_SUBJECT_LIMIT = 99  # SNS: fewer than 100 ASCII characters


class NotifyRequest(BaseModel):
    """What the state machine passes: the outcome and its whole state (``pipeline``)."""

    outcome: Literal["success", "failure"]
    execution: str
    started_at: Optional[datetime] = None
    pipeline: PipelineState = Field(default_factory=PipelineState)


class Notification(BaseModel):
    subject: str
    body: str
    summary: dict[str, Any]


class NotifyResult(BaseModel):
    """``$.notification``: what was published (the demo prints it)."""

    message_id: str
    subject: str
    body: str
    summary: dict[str, Any]


#: Longest cause kept in the JSON summary (a Glue run's ErrorMessage can be a 2,000-character traceback).
_CAUSE_LIMIT = 1000
#: Longest cause kept in the message body, which a person reads.
_BODY_CAUSE_LIMIT = 2000


def describe_failure(failure: Failure) -> FailureDescription:
    """``(failed state, error type, cause text)`` of the state machine's ``$.failure``."""
    return failure.describe()


_REPROCESS = (
    "Once the cause is fixed: airline-pipeline reprocess --from DATE --to DATE --bucket B --via-state-machine ARN"
)
#: What a failure at each step means for the warehouse, and what to do about it.
_AFTERMATH = {
    "ValidateFile": (
        "Nothing was loaded: the file was refused before any work was done.",
        "Fix the file and upload it again (a new upload is a new version).",
    ),
    "RunLoadJob": (
        "Nothing from this file was loaded: a load is one transaction, and any earlier copy of the file is intact.",
        _REPROCESS,
    ),
    "GetLoadJobRun": (
        "The load job was started, but its state could not be read: it may still load the file (all or nothing).",
        "Check `airline-pipeline history` for this batch before you reprocess the file.",
    ),
    "Report": (
        "The load job succeeded, but its outcome could not be read back: check `airline-pipeline history`.",
        "If the history shows no LOADED row for this batch, reprocess the file.",
    ),
}
_BEFORE_LOAD = ("Nothing was loaded: the load job had not started.", _REPROCESS)


def build_notification(request: NotifyRequest, *, now: Optional[datetime] = None) -> Notification:
    """Subject, body and JSON summary for one execution's outcome."""
    now = now or datetime.now(timezone.utc)
    state = request.pipeline
    validation, report = state.validation, state.report
    source = validation.source_uri if validation else _source_from_event(state)
    flight_date = (validation and validation.flight_date) or (report and report.flight_date) or "unknown date"
    duration = round((now - request.started_at).total_seconds(), 1) if request.started_at else None
    summary: dict[str, Any] = {
        "outcome": request.outcome,
        "execution": request.execution,
        "batch_id": request.execution,
        "source_file": source,
        "flight_date": str(flight_date),
        "duration_seconds": duration,
    }
    about = _About(source, str(flight_date), PurePosixPath(source).name or source, duration, request.execution)
    if request.outcome == "success":
        subject, lines = _success(about, report or _NO_REPORT, summary)
        priced = cost.estimate(execution_run(state))
        summary["estimated_cost_usd"] = round(priced.total, 6)
        lines += ["", f"{priced.summary()}; Redshift compute not included."]
    else:
        subject, lines = _failure(about, state.failure or Failure(), summary)
    return Notification(subject=_ascii(subject)[:_SUBJECT_LIMIT], body="\n".join(lines), summary=summary)


class _About(NamedTuple):
    source: str
    flight_date: str
    name: str
    duration: Optional[float]
    execution: str


#: A success without a report cannot happen (Report precedes NotifySuccess); None fields say so if it does.
_NO_REPORT = cast(
    BatchReport,
    SimpleNamespace(
        **{
            **dict.fromkeys(field.name for field in dataclasses.fields(BatchReport)),
            "unknown_airport_ids": [],
            "top_rejection_reasons": [],
        }
    ),
)


def _success(about: _About, report: BatchReport, summary: dict[str, Any]) -> tuple[str, list[str]]:
    for field in (*ROW_COUNTS, "unknown_airports", "unknown_airport_ids"):
        summary[field] = getattr(report, field)
    summary["top_rejection_reasons"] = [reason.model_dump() for reason in report.top_rejection_reasons]
    summary["rejected_rows_location"] = report.rejected_rows_location
    subject = f"[airline-pipeline] LOADED {about.flight_date} {about.name}: {report.rows_loaded} rows"
    if report.rows_rejected:
        subject += f", {report.rows_rejected} rejected"
    lines = [
        f"Loaded {about.source} (flight date {about.flight_date}).",
        "",
        f"Rows read:      {report.rows_read}",
        f"Rows loaded:    {report.rows_loaded}",
        f"Rows rejected:  {report.rows_rejected}",
        f"Rows filtered:  {report.rows_filtered} (MinDepDelay)",
        f"Unknown airports: {report.unknown_airports} flights {_ids(report.unknown_airport_ids)}",
        f"Duration:       {about.duration} s (execution {about.execution})",
    ]
    lines += [
        f"  - {reason.rows} x {reason.reason} (first at line {reason.first_line}: {reason.example})"
        for reason in report.top_rejection_reasons
    ]
    if report.rejected_rows_location:
        lines += ["", f"Rejected rows: SELECT * FROM {report.rejected_rows_location}"]
    return subject, lines


def execution_run(state: PipelineState) -> cost.FileRun:
    """What a successful execution used, read from its state (statemachine/pipeline.asl.json).

    The job's capacity is what the load recorded in its audit row (``$.report``), else what
    ValidateFile chose; its duration is the Glue run's ExecutionTime, else the load's own. The crawler
    counts when this execution started it (``$.crawler``), at its billing minimum. Redshift is left
    out: its cost depends on the workgroup's base capacity, which the pipeline does not know.
    """
    validation, report = state.validation, state.report
    run = state.job_run.run if state.job_run else None
    dpu = (
        (report and report.job_capacity_dpu)
        or (validation and validation.job_capacity)
        or (run and run.max_capacity)
        or cost.LARGE_DPU
    )
    seconds = (run and run.execution_time) or (report and report.duration_seconds) or 0.0
    poll_seconds = (validation and validation.poll_seconds) or 20
    crawled = state.crawler is not None
    catalog_check = state.catalog is not None
    crawler_polls = 1 if crawled else 0
    calls = 1 + int(catalog_check) + (1 + crawler_polls if crawled else 0) + 1 + 1
    return cost.FileRun(
        job_dpu=float(dpu),
        job_seconds=float(seconds),
        crawler_seconds=0.0 if crawled else None,
        lambda_invocations=calls,
        lambda_seconds=calls * cost.ASSUMED_LAMBDA_SECONDS,
        state_transitions=cost.success_transitions(
            crawled=crawled,
            crawler_polls=crawler_polls,
            job_polls=cost.polls(seconds, poll_seconds),
            catalog_check=catalog_check,
        ),
    )


def _failure(about: _About, failure: Failure, summary: dict[str, Any]) -> tuple[str, list[str]]:
    failed_state, error, cause = failure.describe()
    summary.update({"failed_state": failed_state, "error": error, "cause": cause[:_CAUSE_LIMIT]})
    loaded, todo = _AFTERMATH.get(failed_state, _BEFORE_LOAD)
    subject = f"[airline-pipeline] FAILED {about.flight_date} {about.name}: {error} in {failed_state}"
    lines = [
        f"{about.source} (flight date {about.flight_date}) failed in {failed_state}.",
        "",
        f"Failed step: {failed_state}",
        f"Error:       {error}",
        f"Cause:       {cause[:_BODY_CAUSE_LIMIT] or '(none given)'}",
        "",
        loaded,
        todo,
        f"Execution:   {about.execution}",
    ]
    return subject, lines


def notify(request: NotifyRequest, *, sns: Any, topic_arn: str, ledger: Optional[Ledger] = None) -> NotifyResult:
    """Publish the notification, then record the outcome in the ledger (never the other way round)."""
    notification = build_notification(request)
    message_id = publish(sns, topic_arn, notification, outcome=request.outcome)
    if ledger is not None:
        _close_claim(request, ledger)
    return NotifyResult(message_id=message_id, **notification.model_dump())


def publish(sns: Any, topic_arn: str, notification: Notification, *, outcome: str) -> str:
    """One SNS message: subject and body for people, ``outcome`` and the JSON ``summary`` as message
    attributes for machines. Both the load notifications and the freshness alerts go out this way."""
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=notification.subject,
        Message=notification.body,
        MessageAttributes={
            "outcome": {"DataType": "String", "StringValue": outcome},
            "summary": {"DataType": "String", "StringValue": json.dumps(notification.summary, default=str)},
        },
    )
    return str(response["MessageId"])


def _close_claim(request: NotifyRequest, ledger: Ledger) -> None:
    """LOADED or FAILED on this execution's claim, so a retry of a failed file is not skipped.

    A rejected file was closed by the validate step, a skipped one is another execution's. When the
    validate step itself crashed there is no result: the claim is found from the event (the ledger
    only changes it if this execution owns it).
    """
    validation = request.pipeline.validation
    if validation is not None and validation.status in ("rejected", "skipped"):
        return
    item = validation.file_id if validation is not None else _file_id_from_event(request.pipeline)
    if item:
        status = ledger_states.LOADED if request.outcome == "success" else ledger_states.FAILED
        ledger.finish(item, status, owner=request.execution, detail=f"execution {request.execution}")


def _file_id_from_event(state: PipelineState) -> Optional[str]:
    event = state.event()
    if event is None:
        return None
    obj = event.detail.object
    return file_id(event.detail.bucket.name, decode_event_key(obj.key), obj.etag or "")


def _source_from_event(state: PipelineState) -> str:
    event = state.event()
    return f"s3://{event.detail.bucket.name}/{event.detail.object.key}" if event else "unknown file"


def _ids(ids: list[int]) -> str:
    return f"(airport ids {', '.join(str(i) for i in ids)})" if ids else ""


def _ascii(text: str) -> str:
    """SNS subjects: ASCII without line breaks or control characters (S3 keys may hold a tab or a CR)."""
    return "".join(c if c.isprintable() else " " for c in text.encode("ascii", "replace").decode("ascii"))
