"""Operator tasks: reprocess a range of days, and read the load history.

Reprocessing goes through exactly the paths a new file takes: locally :func:`airline_pipeline.engine.ingest.ingest`
(which replaces the file's earlier rows), in AWS one Step Functions execution per file started with the
event EventBridge would have sent. Everything reads through :meth:`Warehouse.query`, so the history works
on DuckDB and on Redshift alike.
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
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from pydantic import BaseModel, Field

from airline_pipeline.adapters.s3 import object_created_event
from airline_pipeline.adapters.warehouse import Row, Warehouse
from airline_pipeline.core import schema
from airline_pipeline.core.contract import flight_date_from_key
from airline_pipeline.core.defaults import DATA_PREFIX
from airline_pipeline.core.errors import ConfigError, InvalidKey, PipelineError
from airline_pipeline.core.outcome import LoadSummary

log = logging.getLogger(__name__)

#: ``replay-name`` of reprocess events: a deliberate re-run the ledger must not skip.
REPLAY_NAME = "airline-pipeline-reprocess"
#: Step Functions execution names: 1-80 characters of letters, digits, '-' and '_'.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_FINAL_EXECUTION_STATES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class NoFilesFound(PipelineError):
    """Nothing matched the requested dates: a typo in a date must not look like a successful reprocess."""


# --- finding the files of a date range ---------------------------------------------------------------


class FoundFile(BaseModel):
    """One input file of the range: where it is and which day its folder names."""

    location: str
    flight_date: date
    #: S3 only: what the ``Object Created`` event carries.
    size: Optional[int] = None
    etag: Optional[str] = None


def _check_range(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise ConfigError(f"--from {date_from} is after --to {date_to}")


def _folder_date(name: str) -> Optional[date]:
    """The day a ``date=...`` folder names, or None for a folder that is not one (logged, then skipped)."""
    try:
        return flight_date_from_key(name.rstrip("/") + "/")
    except InvalidKey as exc:
        log.warning("skipping %s: %s", name, exc)
        return None


def _is_csv(name: str) -> bool:
    return name.lower().endswith(".csv")


def find_local_files(directory: str, *, date_from: date, date_to: date) -> list[FoundFile]:
    """``DIR/date=YYYY-MM-DD/*.csv`` (or ``date=YYYYMMDD``) within the range, oldest first."""
    _check_range(date_from, date_to)
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--source {directory} is not a directory")
    found: list[FoundFile] = []
    for folder in sorted(root.glob("date=*")):
        day = _folder_date(folder.name) if folder.is_dir() else None
        if day is None or not date_from <= day <= date_to:
            continue
        found.extend(
            FoundFile(location=str(path), flight_date=day)
            for path in sorted(folder.iterdir())
            if path.is_file() and _is_csv(path.name)
        )
    return sorted(found, key=lambda f: (f.flight_date, f.location))


def find_s3_files(
    bucket: str,
    *,
    date_from: date,
    date_to: date,
    prefix: str = DATA_PREFIX,
    s3_client: Any = None,
) -> list[FoundFile]:
    """``s3://bucket/<prefix>date=.../*.csv`` within the range, with size and ETag.

    Lists the ``date=`` folders first (one delimiter listing) and then only the folders in range,
    so a one-day reprocess of a year of data costs a handful of requests.
    """
    _check_range(date_from, date_to)
    client = s3_client or _client("s3")
    paginator = client.get_paginator("list_objects_v2")
    folders = []
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}date=", Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            folder = common["Prefix"]
            day = _folder_date(PurePosixPath(folder).name)
            if day is not None and date_from <= day <= date_to:
                folders.append((day, folder))
    found: list[FoundFile] = []
    for day, folder in folders:
        for page in paginator.paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
            found.extend(
                FoundFile(
                    location=f"s3://{bucket}/{item['Key']}",
                    flight_date=day,
                    size=int(item["Size"]),
                    etag=str(item.get("ETag", "")).strip('"'),
                )
                for item in page.get("Contents", [])
                if _is_csv(item["Key"])
            )
    return sorted(found, key=lambda f: (f.flight_date, f.location))


def _require_files(files: list[FoundFile], where: str, date_from: date, date_to: date) -> None:
    if not files:
        raise NoFilesFound(
            f"no .csv files for {date_from}..{date_to} under {where} "
            "(expected date=YYYY-MM-DD/ or date=YYYYMMDD/ folders): check the dates and the location"
        )


# --- reprocess through ingest ------------------------------------------------------------------------


class FileResult(BaseModel):
    """What happened to one file of the range."""

    file: str
    flight_date: date
    status: str
    batch_id: Optional[str] = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    duration_seconds: float = 0.0
    error: Optional[str] = None
    message: Optional[str] = None
    warning: Optional[str] = None

    @classmethod
    def of(cls, summary: LoadSummary, flight_date: date) -> FileResult:
        """The file's line in the reprocess summary (the date of its folder, even when the load failed)."""
        fields = {name: getattr(summary, name) for name in cls.model_fields if name not in ("file", "flight_date")}
        return cls(file=summary.source_file, flight_date=flight_date, **fields)


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
    _require_files(files, where, date_from, date_to)
    log.info("reprocessing %d files of %s..%s from %s", len(files), date_from, date_to, where)

    results = []
    with _progress_bar(len(files), progress, desc="reprocess") as bar:
        for found in files:
            summary = ingest(found.location, warehouse, min_dep_delay=min_dep_delay, data_prefix=data_prefix)
            results.append(FileResult.of(summary, found.flight_date))
            bar.set_postfix(failed=sum(r.status != schema.LOADED for r in results), refresh=False)
            bar.update(1)
    failed_files = [r for r in results if r.status != schema.LOADED]
    failed = len(failed_files)
    return ReprocessSummary(
        date_from=date_from,
        date_to=date_to,
        source=where,
        status=schema.FAILED if failed else schema.LOADED,
        files_found=len(files),
        files_loaded=len(results) - failed,
        files_failed=failed,
        rows_loaded=sum(r.rows_loaded for r in results),
        rows_rejected=sum(r.rows_rejected for r in results),
        files=results,
        error="FilesFailed" if failed else None,
        message=(
            f"{failed} of {len(results)} files failed, e.g. {failed_files[0].file}: "
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
    _require_files(files, where, date_from, date_to)
    sfn = sfn_client or _client("stepfunctions")
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


# --- load history ------------------------------------------------------------------------------------


def history_sql(last: int) -> str:
    """Newest attempts first; ``last`` is inlined as an integer (Redshift binds no LIMIT parameter)."""
    if last < 1:
        raise ConfigError(f"--last must be at least 1, not {last}")
    return f"""SELECT batch_id, source_file, flight_date, status, rows_read, rows_loaded, rows_rejected,
       unknown_airports, started_at, finished_at, error
FROM {schema.AUDIT}
ORDER BY started_at DESC, finished_at DESC, batch_id DESC
LIMIT {int(last)}"""


#: The history's note on an attempt that has no outcome (yet).
UNFINISHED = "no outcome recorded: still running, or killed"


def load_history(warehouse: Warehouse, *, last: int = 20) -> list[Row]:
    """The ``last`` audit rows, newest first, each with ``duration_seconds`` added.

    A STARTED row is an attempt with no outcome: still running, or killed before it could record
    one (its rows were never committed). It has no ``finished_at`` and no duration.
    """
    rows = warehouse.query(history_sql(last))
    for row in rows:
        row["duration_seconds"] = _seconds_between(row.get("started_at"), row.get("finished_at"))
    return rows


def _seconds_between(start: Any, end: Any) -> Optional[float]:
    """Duration in seconds; tolerant of the ISO strings a Data API read may return."""
    if start is None or end is None:
        return None
    began, ended = (_timestamp(value) for value in (start, end))
    return round((ended - began).total_seconds(), 3)


def _timestamp(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _shorten(value: Any, width: int, *, keep_end: bool = False) -> str:
    """Cut long values so one attempt stays one line; paths keep their informative end."""
    text = "" if value is None else " ".join(str(value).split())
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if keep_end else text[: width - 1] + "…"


def format_history(rows: list[Row], *, file_width: int = 48, error_width: int = 60) -> str:
    """The history as an aligned text table (pandas does the layout)."""
    import pandas as pd

    if not rows:
        return "no load attempts recorded yet"
    table = pd.DataFrame(
        {
            "started_at (UTC)": [str(r["started_at"])[:19] for r in rows],
            "status": [r["status"] for r in rows],
            "flight_date": [str(r["flight_date"] or "-") for r in rows],
            "file": [_shorten(r["source_file"], file_width, keep_end=True) for r in rows],
            "loaded": [_count(r["rows_loaded"]) for r in rows],
            "rejected": [_count(r["rows_rejected"]) for r in rows],
            "seconds": ["-" if r["duration_seconds"] is None else f"{r['duration_seconds']:.0f}" for r in rows],
            "error": [
                _shorten(r["error"] or (UNFINISHED if r["status"] == schema.STARTED else ""), error_width) or "-"
                for r in rows
            ],
        }
    )
    for column in ("status", "flight_date", "file", "error"):
        table[column] = table[column].str.ljust(int(table[column].str.len().max()))
    return "\n".join(line.rstrip() for line in table.to_string(index=False, justify="left").splitlines())


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


# --- plumbing ----------------------------------------------------------------------------------------


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool, *, desc: str) -> Iterator[Any]:
    """A tqdm bar on stderr (a silent one when disabled); log lines go through it so they do not break it."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    redirect = logging_redirect_tqdm() if enabled else contextlib.nullcontext()
    with redirect, tqdm(total=total, desc=desc, unit="file", file=sys.stderr, disable=not enabled) as bar:
        yield bar
