"""The load engine: one file's fact rows, rejected rows and audit row, handed to a warehouse's sink.

One place, so DuckDB and Redshift cannot drift apart on what a load reads or records. Everything
here runs on a DuckDB connection (the warehouse's own, or a private in-memory one for Redshift); the
warehouse-specific part is the :class:`~airline_pipeline.engine.sink.Sink`.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Optional

from airline_pipeline.core import schema, status
from airline_pipeline.core.contract import CONTRACT_VERSION
from airline_pipeline.core.errors import NoDataRows
from airline_pipeline.core.outcome import ROW_COUNTS, Batch, LoadSummary, utcnow
from airline_pipeline.core.quality import THRESHOLD_ERROR, THRESHOLD_WARNING
from airline_pipeline.engine import facts, scan
from airline_pipeline.engine.sink import Sink

#: DuckDB's memory cap during a load. At 192MB a process peaks near 240 MiB for a day (3.4M rows) and
#: near 290 MiB for 100 days in one file: memory stays flat as files grow (bench/results/latest.md).
DEFAULT_MEMORY_LIMIT = "192MB"


def memory_limit(explicit: Optional[str] = None) -> str:
    """The load's DuckDB memory_limit: the URI's, else ``AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT``, else the default."""
    return explicit or os.environ.get("AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)


def load_file(
    con: Any, file: scan.PreparedFile, batch: Batch, sink: Sink, *, dim_table: str, created: Optional[str] = None
) -> LoadSummary:
    """Validate and join ``file`` (joined with ``dim_table`` on ``con``) and hand its rows to ``sink``.

    Returns the LOADED outcome - or REJECTED, when the batch's policy refuses the file (its rejected
    rows and audit row are still written, its fact rows are not); the caller calls ``sink.apply()``
    to make the rows visible. Raises
    :class:`~airline_pipeline.core.errors.NoDataRows` for a file with a header and no data rows.
    ``created`` names the warehouse when this process created it (see :func:`loaded_summary`).
    """
    loaded_at = utcnow()
    counts = facts.load_rows(
        con,
        file,
        sink.write_facts,
        dim_table=dim_table,
        min_dep_delay=batch.min_dep_delay,
        lineage=facts.fact_params(batch.flight_date, batch.source_file, batch.batch_id, loaded_at),
    )
    if counts.rows_read == 0:
        raise NoDataRows(f"{batch.source_file} has the header but no data rows; nothing to load")
    breach = batch.policy.breach(rows_read=counts.rows_read, rows_rejected=counts.rows_rejected)
    refused = breach is not None and batch.policy.on_threshold == "fail"
    if refused:
        sink.refuse()
    sink.write_rejected(*rejected_rows_select(batch, loaded_at))
    summary = loaded_summary(
        con, batch, counts, file=file, dim_table=dim_table, unknown_airports=sink.unknown_airports(), created=created
    )
    if breach is not None:
        summary = quality_outcome(summary, breach, refused=refused)
    sink.write_audit(audit_row(batch, summary, finished_at=utcnow()))
    return summary


def loaded_summary(
    con: Any,
    batch: Batch,
    counts: facts.LoadCounts,
    *,
    file: scan.PreparedFile,
    dim_table: str,
    unknown_airports: int,
    created: Optional[str] = None,
) -> LoadSummary:
    """The LOADED outcome, after the load's last read of the file; call it before committing.

    The unknown airport ids are looked up only when there are any. Then the source is checked to be
    the version the load started with (:class:`~airline_pipeline.core.errors.FileChanged` otherwise):
    every read of the file is behind us, so the rows about to be committed are one snapshot.
    ``created`` names the warehouse when this process created it (a mistyped ``--warehouse``).
    """
    airports = int(con.execute(f"SELECT count(*) FROM {dim_table}").fetchall()[0][0])
    summary = batch.summary(
        schema.LOADED,
        **{name: getattr(counts, name) for name in ROW_COUNTS},
        blank_lines=counts.blank_lines,
        unknown_airports=unknown_airports,
        unknown_airport_ids=(
            facts.unknown_airport_ids(con, file, dim_table, batch.min_dep_delay) if unknown_airports else []
        ),
        warning=_empty_dimension_warning(created) if airports == 0 else None,
    )
    file.check_unchanged()
    return summary


def quality_outcome(summary: LoadSummary, breach: str, *, refused: bool) -> LoadSummary:
    """The outcome of a file over a quality threshold: REJECTED (nothing loaded) or LOADED with a warning."""
    if not refused:
        warning = f"{THRESHOLD_WARNING}: {breach}"
        return summary.replace(warning="; ".join(filter(None, (warning, summary.warning))))
    where = f"{schema.REJECTED} WHERE batch_id = '{summary.batch_id}'"
    return summary.replace(
        status=status.REJECTED,
        rows_loaded=0,
        rows_refused=summary.rows_loaded,
        unknown_airports=0,
        unknown_airport_ids=[],
        error=THRESHOLD_ERROR,
        message=f"refused: {breach}; nothing loaded; {summary.rows_rejected:,} rows in {where}",
        warning=None,
    )


def _empty_dimension_warning(created: Optional[str]) -> str:
    """Loaded with no airports to join: every flight has NULL airport names. Say so, and say why it may be."""
    where = (
        f"the warehouse {created} did not exist and was created by this command (a mistyped --warehouse?); "
        if created
        else ""
    )
    return (
        f"{where}{schema.AIRPORTS} is empty: every flight was loaded with unknown airports (NULL names). "
        "Load the airports (airline-pipeline load-airports) and ingest the file again"
    )


def rejected_rows_select(batch: Batch, rejected_at: datetime) -> tuple[str, list[Any]]:
    """The file's rejected rows (after :func:`facts.load_rows`) in ``schema.REJECTED_COLUMNS`` order.

    Returns the SELECT and its bind values; ``rejected_at`` is the load's ``loaded_at``.
    """
    sql = f"""SELECT ? AS batch_id, ? AS source_file, CAST(? AS DATE) AS flight_date,
                     line_number, raw_line, reason, detail, CAST(? AS TIMESTAMP) AS rejected_at
              FROM ({facts.rejected_rows_sql()})"""
    return sql, [batch.batch_id, batch.source_file, batch.flight_date, rejected_at]


def audit_row(batch: Batch, summary: LoadSummary, *, finished_at: Optional[datetime]) -> list[Any]:
    """One load attempt's audit values, in ``schema.AUDIT_COLUMNS`` order (no ``finished_at`` while STARTED)."""
    values = {
        # A refused load's identity may be too long to keep: its record holds a marked, hashed form.
        "batch_id": schema.recorded_identity("batch_id", batch.batch_id),
        "source_file": schema.recorded_identity("source_file", batch.source_file),
        "etag": batch.etag,
        "flight_date": batch.flight_date,
        "status": summary.status,
        **{name: getattr(summary, name) for name in ROW_COUNTS},
        "unknown_airports": summary.unknown_airports,
        "unknown_airport_ids": ",".join(str(i) for i in summary.unknown_airport_ids),
        "min_dep_delay": batch.min_dep_delay,
        "started_at": batch.started_at,
        "finished_at": finished_at,
        "job_capacity_dpu": batch.job_capacity_dpu,
        "error": ((f"{summary.error}: {summary.message}" if summary.message else summary.error) or "")[:4000] or None,
        "warning": (summary.warning or "")[:1000] or None,
        "late": summary.late,
        "contract_version": CONTRACT_VERSION,
        "replace_scope": summary.replace_scope,
    }
    return [values[name] for name in schema.column_names(schema.AUDIT_COLUMNS)]
