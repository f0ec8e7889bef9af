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
from airline_pipeline.ledger import Ledger, file_id
from airline_pipeline.ops import cost
from airline_pipeline.sources import decode_event_key

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


#: Longest cause kept in the JSON summary (a Glue run's ErrorMessage can be a 2,000-character traceback).
_CAUSE_LIMIT = 1000
#: Longest cause kept in the message body, which a person reads.
_BODY_CAUSE_LIMIT = 2000


def describe_failure(failure: dict[str, Any]) -> tuple[str, str, str]:
    """``(failed state, error type, cause text)`` from the state machine's ``$.failure``.

    Shapes: ``caught`` (a Catch's ``{"Error", "Cause"}``, Cause possibly absent or a Lambda error's
    JSON), ``error``/``cause`` (an invalid file, a failed crawl) or ``job_run`` (a failed Glue run).
    """
    state = str(failure.get("state") or "unknown")
    caught: dict[str, Any] = failure["caught"] if isinstance(failure.get("caught"), dict) else {}
    error = str(failure.get("error") or caught.get("Error") or "UnknownError")
    cause: Any = failure.get("cause") or caught.get("Cause")
    job_run = failure.get("job_run")
    if not cause and isinstance(job_run, dict):
        lines = [line.strip() for line in str(job_run.get("ErrorMessage") or "").splitlines() if line.strip()]
        # The job writes "<ErrorCode>: <message>" as the first line of stderr, before any traceback. An
        # exception that escaped before it (a bad --warehouse, a missing module) leaves only the
        # traceback, whose last line names it.
        if lines and lines[0].startswith("Traceback (most recent call last)"):
            lines = lines[-1:]
        cause = lines[0] if lines else f"Glue job run {job_run.get('Id', '')} ended {error}"
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
            and error_type != "Runtime.HandlerError"
            and error in {"States.TaskFailed", "Runtime.HandlerError"}
        ):
            error = error_type
    return state, error, text.strip()


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
        priced = cost.estimate(cost.execution_run(state))
        summary["estimated_cost_usd"] = round(priced.total, 6)
        lines += ["", f"{priced.summary()}; Redshift compute not included."]
    else:
        failed_state, error, cause = describe_failure(state.get("failure") or {})
        summary.update({"failed_state": failed_state, "error": error, "cause": cause[:_CAUSE_LIMIT]})
        loaded, todo = _AFTERMATH.get(failed_state, _BEFORE_LOAD)
        subject = f"[airline-pipeline] FAILED {flight_date} {name}: {error} in {failed_state}"
        lines = [
            f"{source} (flight date {flight_date}) failed in {failed_state}.",
            "",
            f"Failed step: {failed_state}",
            f"Error:       {error}",
            f"Cause:       {cause[:_BODY_CAUSE_LIMIT] or '(none given)'}",
            "",
            loaded,
            todo,
            f"Execution:   {request.execution}",
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
    if ledger is not None:
        _close_claim(request, ledger)
    return NotifyResult(message_id=response["MessageId"], **notification.model_dump())


def _close_claim(request: NotifyRequest, ledger: Ledger) -> None:
    """LOADED or FAILED on this execution's claim, so a retry of a failed file is not skipped.

    A rejected file was closed by the validate step, a skipped one is another execution's. When the
    validate step itself crashed there is no result: the claim is found from the event (the ledger
    only changes it if this execution owns it).
    """
    validation = request.pipeline.get("validation") or {}
    if validation.get("status") in ("rejected", "skipped"):
        return
    item = validation.get("file_id") or _file_id_from_event(request.pipeline)
    if item:
        status = ledger_states.LOADED if request.outcome == "success" else ledger_states.FAILED
        ledger.finish(item, status, owner=request.execution, detail=f"execution {request.execution}")


def _event_object(state: dict[str, Any]) -> tuple[str, str, str]:
    """Bucket, key (as the event sent it) and etag of the ``Object Created`` event; "" where absent."""
    detail = state.get("detail") or {}
    obj = detail.get("object") or {}
    return str((detail.get("bucket") or {}).get("name") or ""), str(obj.get("key") or ""), str(obj.get("etag") or "")


def _file_id_from_event(state: dict[str, Any]) -> Optional[str]:
    bucket, key, etag = _event_object(state)
    return file_id(bucket, decode_event_key(key), etag) if bucket and key else None


def _source_from_event(state: dict[str, Any]) -> str:
    bucket, key, _ = _event_object(state)
    return f"s3://{bucket}/{key}" if bucket else "unknown file"


def _ids(report: dict[str, Any]) -> str:
    ids = report.get("unknown_airport_ids") or []
    return f"(airport ids {', '.join(str(i) for i in ids)})" if ids else ""


def _ascii(text: str) -> str:
    """SNS subjects: ASCII without line breaks or control characters (S3 keys may hold a tab or a CR)."""
    return "".join(c if c.isprintable() else " " for c in text.encode("ascii", "replace").decode("ascii"))
