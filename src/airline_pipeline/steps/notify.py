"""Step 5: tell people what happened, and close the file's ledger entry.

One SNS message per execution: a subject and body a person can act on (which file, which step
failed, the cause, where the rejected rows are), and the same facts as JSON in the ``summary``
message attribute for machines. Failure causes arrive in several shapes - a Lambda error's
``Cause`` is a JSON string, a Glue run carries ``ErrorMessage`` - and are all reduced to text here.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

from airline_pipeline import ledger as ledger_states
from airline_pipeline.ledger import Ledger

_SUBJECT_LIMIT = 99  # SNS: fewer than 100 ASCII characters


class NotifyRequest(BaseModel):
    """What the state machine passes: the outcome and its whole state (``pipeline``)."""

    outcome: Literal["success", "failure"]
    execution: str
    started_at: Optional[datetime] = None
    pipeline: dict[str, Any] = Field(default_factory=dict)


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


def describe_failure(failure: dict[str, Any]) -> tuple[str, str, str]:
    """``(failed state, error type, cause text)`` from the state machine's ``$.failure``."""
    state = str(failure.get("state") or "unknown")
    error = str(failure.get("error") or "UnknownError")
    cause: Any = failure.get("cause")
    if cause is None and isinstance(failure.get("job_run"), dict):
        cause = (
            failure["job_run"].get("ErrorMessage") or f"Glue job run {failure['job_run'].get('Id', '')} ended {error}"
        )
    text = str(cause or "")
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        text = str(parsed["errorMessage"])
        error_type = str(parsed.get("errorType") or "")
        # Locally every Lambda error arrives as Runtime.HandlerError; the message keeps the real type.
        if (
            error_type
            and error_type not in {"Runtime.HandlerError"}
            and error in {"States.TaskFailed", "Runtime.HandlerError"}
        ):
            error = error_type
    return state, error, text.strip()


def build_notification(request: NotifyRequest, *, now: Optional[datetime] = None) -> Notification:
    """Subject, body and JSON summary for one execution's outcome."""
    now = now or datetime.now(timezone.utc)
    state = request.pipeline
    validation = state.get("validation") or {}
    report = state.get("report") or {}
    source = validation.get("source_uri") or _source_from_event(state)
    name = PurePosixPath(source).name or source
    flight_date = validation.get("flight_date") or report.get("flight_date") or "unknown date"
    duration = round((now - request.started_at).total_seconds(), 1) if request.started_at else None
    summary: dict[str, Any] = {
        "outcome": request.outcome,
        "execution": request.execution,
        "batch_id": request.execution,
        "source_file": source,
        "flight_date": flight_date,
        "duration_seconds": duration,
    }
    if request.outcome == "success":
        for field in ("rows_read", "rows_loaded", "rows_rejected", "rows_filtered", "unknown_airports"):
            summary[field] = report.get(field)
        summary["unknown_airport_ids"] = report.get("unknown_airport_ids", [])
        summary["top_rejection_reasons"] = report.get("top_rejection_reasons", [])
        summary["rejected_rows_location"] = report.get("rejected_rows_location")
        subject = f"[airline-pipeline] LOADED {flight_date} {name}: {report.get('rows_loaded')} rows"
        if report.get("rows_rejected"):
            subject += f", {report.get('rows_rejected')} rejected"
        lines = [
            f"Loaded {source} (flight date {flight_date}).",
            "",
            f"Rows read:      {report.get('rows_read')}",
            f"Rows loaded:    {report.get('rows_loaded')}",
            f"Rows rejected:  {report.get('rows_rejected')}",
            f"Rows filtered:  {report.get('rows_filtered')} (MinDepDelay)",
            f"Unknown airports: {report.get('unknown_airports')} flights {_ids(report)}",
            f"Duration:       {duration} s (execution {request.execution})",
        ]
        for reason in report.get("top_rejection_reasons", []):
            lines.append(
                f"  - {reason['rows']} x {reason['reason']} (first at line {reason['first_line']}: {reason['example']})"
            )
        if report.get("rejected_rows_location"):
            lines += ["", f"Rejected rows: SELECT * FROM {report['rejected_rows_location']}"]
    else:
        failed_state, error, cause = describe_failure(state.get("failure") or {})
        summary.update({"failed_state": failed_state, "error": error, "cause": cause})
        subject = f"[airline-pipeline] FAILED {flight_date} {name}: {error} in {failed_state}"
        lines = [
            f"{source} was NOT loaded (flight date {flight_date}).",
            "",
            f"Failed step: {failed_state}",
            f"Error:       {error}",
            f"Cause:       {cause or '(none given)'}",
            "",
            "Nothing from this file was loaded: every load is one transaction.",
            f"Execution:   {request.execution}",
            "Fix the file and upload it again, or reprocess it: airline-pipeline reprocess --help",
        ]
    return Notification(subject=_ascii(subject)[:_SUBJECT_LIMIT], body="\n".join(lines), summary=summary)


def notify(request: NotifyRequest, *, sns: Any, topic_arn: str, ledger: Optional[Ledger] = None) -> NotifyResult:
    """Publish the notification, then record the outcome in the ledger (never the other way round)."""
    notification = build_notification(request)
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=notification.subject,
        Message=notification.body,
        MessageAttributes={
            "outcome": {"DataType": "String", "StringValue": request.outcome},
            "summary": {"DataType": "String", "StringValue": json.dumps(notification.summary, default=str)},
        },
    )
    validation = request.pipeline.get("validation") or {}
    # A rejected file was already closed by the validate step; a skipped one belongs to another execution.
    if ledger is not None and validation.get("file_id") and validation.get("status") == "accepted":
        status = ledger_states.LOADED if request.outcome == "success" else ledger_states.FAILED
        ledger.finish(validation["file_id"], status, detail=f"execution {request.execution}")
    return NotifyResult(message_id=response["MessageId"], **notification.model_dump())


def _source_from_event(state: dict[str, Any]) -> str:
    detail = state.get("detail") or {}
    bucket = (detail.get("bucket") or {}).get("name", "")
    key = (detail.get("object") or {}).get("key", "")
    return f"s3://{bucket}/{key}" if bucket else "unknown file"


def _ids(report: dict[str, Any]) -> str:
    ids = report.get("unknown_airport_ids") or []
    return f"(airport ids {', '.join(str(i) for i in ids)})" if ids else ""


def _ascii(text: str) -> str:
    """SNS subjects: ASCII without line breaks or control characters (S3 keys may hold a tab or a CR)."""
    return "".join(c if c.isprintable() else " " for c in text.encode("ascii", "replace").decode("ascii"))
