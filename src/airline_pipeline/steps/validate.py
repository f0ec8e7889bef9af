"""Step 1: is the landed object a file we should load, and is it ours to load?

Reads only the head of the object (a range GET), so a bad 10 GB upload costs 64 KiB. A bad file is
a *result* (``ok: false`` with a stable ``error`` code) that the state machine routes to the
failure notification: exception names do not survive the trip to Step Functions everywhere.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, Optional

from pydantic import BaseModel

from airline_pipeline.adapters import ledger as ledger_states
from airline_pipeline.adapters.ledger import Ledger, file_id
from airline_pipeline.adapters.sources import SourceFile, decode_event_key, open_source
from airline_pipeline.core.contract import HEAD_BYTES, check_head, flight_date_or_none
from airline_pipeline.core.cost import job_capacity
from airline_pipeline.core.errors import InvalidFile, UnreadableFile


class ValidationResult(BaseModel):
    """What the state machine carries forward as ``$.validation``."""

    ok: bool
    status: Literal["accepted", "skipped", "rejected"]
    error: Optional[str] = None
    message: str
    bucket: str
    key: str
    source_uri: str
    etag: str
    size: int
    flight_date: Optional[date] = None
    file_id: str
    #: The state machine's wait between status checks (Wait states cannot read template parameters).
    poll_seconds: int
    #: The load job's DPUs for this file (StartJobRun MaxCapacity), chosen by its size.
    job_capacity: float
    #: The file's header line (the catalog step compares it with the catalog's columns).
    header: Optional[str] = None


def validate_object(
    *,
    bucket: str,
    event_key: str,
    etag: str,
    execution: str,
    data_prefix: str,
    poll_seconds: int,
    ledger: Ledger,
    s3: Any,
    replay: bool = False,
) -> ValidationResult:
    """Check the object an ``Object Created`` event names; claim it for ``execution`` if it is new.

    ``replay`` (the event carries ``replay-name``: an archive replay or ``airline-pipeline
    reprocess``) claims the file even when the ledger says it is already loaded.
    """
    source = _find_object(bucket, event_key, s3)
    etag = etag or source.etag
    item = file_id(bucket, source.key, etag)

    def result(status: Literal["accepted", "skipped", "rejected"], message: str, **extra: Any) -> ValidationResult:
        extra.setdefault("flight_date", flight_date_or_none(source.key))
        return ValidationResult(
            ok=status != "rejected",
            status=status,
            message=message,
            bucket=bucket,
            key=source.key,
            source_uri=source.uri,
            etag=etag,
            size=source.size,
            file_id=item,
            poll_seconds=poll_seconds,
            job_capacity=job_capacity(source.size),
            **extra,
        )

    claim = ledger.claim(item, owner=execution, force=replay)
    if not claim.claimed:
        return result("skipped", f"{source.uri} (etag {etag}) is already {claim.status} (execution {claim.owner})")
    try:
        checked = check_head(
            source.read_head(HEAD_BYTES, s3_client=s3), total_size=source.size, key=source.key, prefix=data_prefix
        )
    except InvalidFile as exc:
        # Unreadable now (throttled, timed out) is not "can never load": FAILED lets the next event retry.
        final = ledger_states.FAILED if isinstance(exc, UnreadableFile) else ledger_states.REJECTED
        ledger.finish(item, final, owner=execution, detail=f"{exc.code}: {exc}")
        return result("rejected", str(exc), error=exc.code)
    return result(
        "accepted",
        f"{source.uri}: header ok, {source.size:,} bytes",
        flight_date=checked.flight_date,
        header=checked.header,
    )


def _find_object(bucket: str, event_key: str, s3: Any) -> SourceFile:
    """S3 notifications URL-encode keys; some emitters do not. Try the decoded key, then the raw one."""
    decoded = decode_event_key(event_key)
    try:
        return open_source(f"s3://{bucket}/{decoded}", s3_client=s3)
    except UnreadableFile as not_found:
        if decoded == event_key:
            raise
        try:
            return open_source(f"s3://{bucket}/{event_key}", s3_client=s3)
        except UnreadableFile:
            raise not_found from None  # name the real (decoded) key, not its URL-encoded form
