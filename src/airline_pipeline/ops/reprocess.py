"""Reprocess a range of days through exactly the paths a new file takes.

Locally :func:`airline_pipeline.engine.ingest.ingest` (which replaces the file's earlier rows); in AWS
one Step Functions execution per file, started with the event EventBridge would have sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import Any, ClassVar, Optional

from pydantic import BaseModel, Field, field_serializer

from airline_pipeline.adapters import aws
from airline_pipeline.adapters.s3 import object_created_event
from airline_pipeline.adapters.warehouse import Warehouse
from airline_pipeline.core import schema
from airline_pipeline.core.defaults import DATA_PREFIX
from airline_pipeline.core.errors import ConfigError
from airline_pipeline.core.outcome import LoadSummary
from airline_pipeline.ops.day_files import FoundFile, find_local_files, find_s3_files, require_files

log = logging.getLogger(__name__)

#: ``replay-name`` of reprocess events: a deliberate re-run the ledger must not skip.
REPLAY_NAME = "airline-pipeline-reprocess"
#: Step Functions execution names: 1-80 characters of letters, digits, '-' and '_'.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_FINAL_EXECUTION_STATES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


# --- reprocess through ingest ------------------------------------------------------------------------


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of the range: its load's summary, and the date of its folder
    (kept even when the load failed and its summary has none)."""

    flight_date: date
    summary: LoadSummary

    #: The parts of the summary a reprocess line shows, after ``file`` and ``flight_date``.
    SHOWN: ClassVar[tuple[str, ...]] = (
        "status",
        "batch_id",
        "rows_loaded",
        "rows_rejected",
        "duration_seconds",
        "error",
        "message",
        "warning",
    )

    def as_json(self) -> dict[str, Any]:
        shown = {name: getattr(self.summary, name) for name in self.SHOWN}
        return {"file": self.summary.source_file, "flight_date": self.flight_date.isoformat(), **shown}


class ReprocessSummary(BaseModel):
    """The ``reprocess`` command's last stdout line."""

    date_from: date
    date_to: date
    source: str
    status: str
    files_found: int
    files_loaded: int
    files_failed: int
    rows_loaded: int
    rows_rejected: int
    files: list[FileResult] = Field(default_factory=list)
    #: When a file failed: ``FilesFailed`` and which ones, so the last line alone says what went wrong.
    error: Optional[str] = None
    message: Optional[str] = None

    @field_serializer("files")
    def _files(self, files: list[FileResult]) -> list[dict[str, Any]]:
        return [result.as_json() for result in files]


def reprocess(
    warehouse: Warehouse,
    *,
    date_from: date,
    date_to: date,
    source_dir: Optional[str] = None,
    bucket: Optional[str] = None,
    prefix: str = DATA_PREFIX,
    min_dep_delay: Optional[int] = None,
    s3_client: Any = None,
    progress: bool = False,
) -> ReprocessSummary:
    """Load every file of ``date_from..date_to`` again, one ``ingest`` each (which replaces its rows).

    A failing file does not stop the others; the summary says which failed and why.
    Raises :class:`NoFilesFound` when the range matches no file.
    """
    from airline_pipeline.engine.ingest import ingest

    if (source_dir is None) == (bucket is None):
        raise ConfigError("give exactly one of --source DIR or --bucket B")
    if source_dir is not None:
        files = find_local_files(source_dir, date_from=date_from, date_to=date_to)
        where, data_prefix = source_dir, ""
    else:
        assert bucket is not None
        files = find_s3_files(bucket, date_from=date_from, date_to=date_to, prefix=prefix, s3_client=s3_client)
        where, data_prefix = f"s3://{bucket}/{prefix}", prefix
    require_files(files, where, date_from, date_to)
    log.info("reprocessing %d files of %s..%s from %s", len(files), date_from, date_to, where)

    results = []
    with _progress_bar(len(files), progress, desc="reprocess") as bar:
        for found in files:
            summary = ingest(found.location, warehouse, min_dep_delay=min_dep_delay, data_prefix=data_prefix)
            results.append(FileResult(found.flight_date, summary))
            bar.set_postfix(failed=sum(r.summary.status != schema.LOADED for r in results), refresh=False)
            bar.update(1)
    failed_files = [r.summary for r in results if r.summary.status != schema.LOADED]
    failed = len(failed_files)
    return ReprocessSummary(
        date_from=date_from,
        date_to=date_to,
        source=where,
        status=schema.FAILED if failed else schema.LOADED,
        files_found=len(files),
        files_loaded=len(results) - failed,
        files_failed=failed,
        rows_loaded=sum(r.summary.rows_loaded for r in results),
        rows_rejected=sum(r.summary.rows_rejected for r in results),
        files=results,
        error="FilesFailed" if failed else None,
        message=(
            f"{failed} of {len(results)} files failed, e.g. {failed_files[0].source_file}: "
            f"{failed_files[0].error}: {failed_files[0].message} - fix them and reprocess their dates"
            if failed
            else None
        ),
    )


# --- reprocess through the state machine -------------------------------------------------------------


class ExecutionResult(BaseModel):
    file: str
    flight_date: date
    execution_name: str
    execution_arn: Optional[str] = None
    #: STARTED, START_FAILED, or with ``wait`` the execution's final (or last seen) status.
    status: str
    error: Optional[str] = None


class StateMachineReprocessSummary(BaseModel):
    date_from: date
    date_to: date
    source: str
    state_machine_arn: str
    status: str
    files_found: int
    executions_started: int
    executions_failed: int
    executions: list[ExecutionResult] = Field(default_factory=list)
    error: Optional[str] = None
    message: Optional[str] = None


def execution_name(found: FoundFile) -> str:
    """Unique, readable and valid: ``reprocess-20130115-flights_2013-01-15-3f2a9c1e4b``."""
    stem = _NAME_UNSAFE.sub("-", PurePosixPath(found.location).stem).strip("-")[:40]
    return f"reprocess-{found.flight_date:%Y%m%d}-{stem}-{uuid.uuid4().hex[:10]}"[:80]


def _arn_region_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "states":
        raise ConfigError(f"'{arn}' is not a Step Functions state machine ARN")
    return parts[3], parts[4]


def reprocess_via_state_machine(
    *,
    state_machine_arn: str,
    bucket: str,
    date_from: date,
    date_to: date,
    prefix: str = DATA_PREFIX,
    wait: bool = False,
    poll_seconds: float = 5.0,
    wait_timeout: float = 3600.0,
    s3_client: Any = None,
    sfn_client: Any = None,
    progress: bool = False,
) -> StateMachineReprocessSummary:
    """Start one execution per file with the EventBridge ``Object Created`` event as input.

    The input is built by :func:`~airline_pipeline.adapters.s3.object_created_event`: the event EventBridge
    would send, marked with ``replay-name`` like an archive replay, so the validate step loads the
    file again even when its ledger entry says LOADED. With ``wait`` the executions are polled until
    they end.
    """
    region, account = _arn_region_account(state_machine_arn)
    files = find_s3_files(bucket, date_from=date_from, date_to=date_to, prefix=prefix, s3_client=s3_client)
    where = f"s3://{bucket}/{prefix}"
    require_files(files, where, date_from, date_to)
    sfn = sfn_client or aws.client("stepfunctions")
    results = []
    with _progress_bar(len(files), progress, desc="start executions") as bar:
        for found in files:
            results.append(_start_execution(sfn, state_machine_arn, bucket, found, region=region, account=account))
            bar.update(1)
    if wait:
        results = _wait_for_executions(sfn, results, poll_seconds=poll_seconds, timeout=wait_timeout)
    ok_states = {"SUCCEEDED"} if wait else {"STARTED"}
    failed = sum(r.status not in ok_states for r in results)
    return StateMachineReprocessSummary(
        date_from=date_from,
        date_to=date_to,
        source=where,
        state_machine_arn=state_machine_arn,
        status="FAILED" if failed else ("SUCCEEDED" if wait else "STARTED"),
        files_found=len(files),
        executions_started=sum(r.execution_arn is not None for r in results),
        executions_failed=failed,
        executions=results,
        error="ExecutionsFailed" if failed else None,
        message=(
            f"{failed} of {len(results)} executions did not {'succeed' if wait else 'start'}: see executions[]"
            if failed
            else None
        ),
    )


def _start_execution(
    sfn: Any, arn: str, bucket: str, found: FoundFile, *, region: str, account: str
) -> ExecutionResult:
    """One ``start_execution`` with the event EventBridge would send for this object; errors become results."""
    key = found.location[len(f"s3://{bucket}/") :]
    event = object_created_event(
        bucket,
        key,
        size=found.size or 0,
        etag=found.etag or "",
        region=region,
        account=account,
        replay_name=REPLAY_NAME,
    )
    result = ExecutionResult(
        file=found.location, flight_date=found.flight_date, execution_name=execution_name(found), status="STARTED"
    )
    try:
        started = sfn.start_execution(stateMachineArn=arn, name=result.execution_name, input=json.dumps(event))
    except Exception as exc:  # botocore ClientError or transport: report it, go on with the rest
        log.error("could not start an execution for %s: %s", found.location, exc)
        return result.model_copy(update={"status": "START_FAILED", "error": str(exc)})
    log.info("started %s for %s", result.execution_name, found.location)
    return result.model_copy(update={"execution_arn": started["executionArn"]})


def _wait_for_executions(
    sfn: Any, results: list[ExecutionResult], *, poll_seconds: float, timeout: float
) -> list[ExecutionResult]:
    """Poll ``describe_execution`` until every started execution is in a final state (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    pending = {r.execution_arn for r in results if r.execution_arn}
    status: dict[str, tuple[str, Optional[str]]] = {}
    while pending:
        for arn in sorted(pending):
            described = sfn.describe_execution(executionArn=arn)
            state = described["status"]
            status[arn] = (state, described.get("error") or described.get("cause"))
            if state in _FINAL_EXECUTION_STATES:
                pending.discard(arn)
                log.info("%s: %s", arn.rsplit(":", 1)[-1], state)
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(poll_seconds)
    if pending:
        log.warning("%d executions still running after %.0fs", len(pending), timeout)
    return [
        r.model_copy(update={"status": status[r.execution_arn][0], "error": status[r.execution_arn][1]})
        if r.execution_arn in status
        else r
        for r in results
    ]


# --- plumbing ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool, *, desc: str) -> Iterator[Any]:
    """A tqdm bar on stderr (a silent one when disabled); log lines go through it so they do not break it."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    redirect = logging_redirect_tqdm() if enabled else contextlib.nullcontext()
    with redirect, tqdm(total=total, desc=desc, unit="file", file=sys.stderr, disable=not enabled) as bar:
        yield bar
