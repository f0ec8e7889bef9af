"""What both warehouses build the same way: the airports input, the rejected rows, the audit row.

One place, so DuckDB and Redshift cannot drift apart on what a load reads or records. Everything
here runs on a DuckDB connection (the warehouse's own, or a private in-memory one for Redshift).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any, Optional

from airline_pipeline import schema, transform
from airline_pipeline.errors import InvalidFile
from airline_pipeline.models import Batch, LoadSummary

#: ``:name`` placeholders of read queries (not ``::`` casts).
PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

AIRPORT_HEADER = ("airport_id", "city", "state", "name")
#: The temp table :func:`read_airports` fills.
AIRPORTS_IN = "airports_in"

#: The rows of ``airports_in`` to upsert, in ``schema.AIRPORTS_COLUMNS`` order: the last row of a
#: repeated id wins, as a sequence of upserts would have it.
LATEST_AIRPORTS_SQL = f"""SELECT {", ".join(schema.column_names(schema.AIRPORTS_COLUMNS))} FROM (
        SELECT *, row_number() OVER (PARTITION BY airport_id ORDER BY rn DESC) AS pick
        FROM (SELECT *, row_number() OVER () AS rn FROM {AIRPORTS_IN})
    ) WHERE pick = 1"""


#: DuckDB's memory cap during a load. At 192MB a process peaks near 240 MiB for a day (3.4M rows) and
#: near 290 MiB for 100 days in one file: memory stays flat as files grow (bench/results/latest.md).
DEFAULT_MEMORY_LIMIT = "192MB"


def memory_limit(explicit: Optional[str] = None) -> str:
    """The load's DuckDB memory_limit: the URI's, else ``AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT``, else the default."""
    return explicit or os.environ.get("AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)


def loaded_summary(
    con: Any, batch: Batch, counts: transform.LoadCounts, *, path: str, dim_table: str, unknown_airports: int
) -> LoadSummary:
    """The LOADED outcome; the unknown airport ids are looked up only when there are any."""
    return batch.summary(
        schema.LOADED,
        rows_read=counts.rows_read,
        rows_loaded=counts.rows_loaded,
        rows_rejected=counts.rows_rejected,
        rows_filtered=counts.rows_filtered,
        blank_lines=counts.blank_lines,
        unknown_airports=unknown_airports,
        unknown_airport_ids=(
            transform.unknown_airport_ids(con, path, dim_table, batch.min_dep_delay) if unknown_airports else []
        ),
    )


def read_first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline().strip()
    except OSError as exc:
        raise InvalidFile(f"cannot read {path}: {exc}") from exc


def read_airports(con: Any, path: str) -> int:
    """Check the airports CSV at ``path`` and read it into the temp table ``airports_in``; returns its rows.

    All or nothing: a wrong header, a malformed row or a row without ``airport_id`` raises
    :class:`~airline_pipeline.errors.InvalidFile` before anything is loaded.
    """
    header = read_first_line(path)
    if tuple(field.strip().lower() for field in header.split(",")) != AIRPORT_HEADER:
        raise InvalidFile(f"{path}: expected header '{','.join(AIRPORT_HEADER)}', found '{header}'")
    quoted = path.replace("'", "''")
    source = f"""read_csv('{quoted}', header = true, auto_detect = false, store_rejects = true,
             quote = '"', escape = '"',
             columns = {{'airport_id': 'BIGINT', 'city': 'VARCHAR', 'state': 'VARCHAR', 'name': 'VARCHAR'}})"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {AIRPORTS_IN} AS SELECT * FROM {source}")
    bad = con.execute("SELECT line, csv_line, error_message FROM reject_errors ORDER BY line LIMIT 5").fetchall()
    if bad:
        shown = "; ".join(f"line {line}: {text!r} ({message.splitlines()[0]})" for line, text, message in bad)
        raise InvalidFile(f"{path}: airports file has malformed rows, nothing loaded: {shown}")
    nulls = int(con.execute(f"SELECT count(*) FROM {AIRPORTS_IN} WHERE airport_id IS NULL").fetchall()[0][0])
    if nulls:
        raise InvalidFile(f"{path}: {nulls} rows have no airport_id, nothing loaded")
    return int(con.execute(f"SELECT count(*) FROM {AIRPORTS_IN}").fetchall()[0][0])


def rejected_rows_select(batch: Batch, rejected_at: datetime) -> tuple[str, list[Any]]:
    """The file's rejected rows (after :func:`transform.load_rows`) in ``schema.REJECTED_COLUMNS`` order.

    Returns the SELECT and its bind values; ``rejected_at`` is the load's ``loaded_at``.
    """
    sql = f"""SELECT ? AS batch_id, ? AS source_file, CAST(? AS DATE) AS flight_date,
                     line_number, raw_line, reason, detail, CAST(? AS TIMESTAMP) AS rejected_at
              FROM ({transform.rejected_rows_sql()})"""
    return sql, [batch.batch_id, batch.source_file, batch.flight_date, rejected_at]


def audit_row(batch: Batch, summary: LoadSummary, *, finished_at: Optional[datetime]) -> list[Any]:
    """One load attempt's audit values, in ``schema.AUDIT_COLUMNS`` order (no ``finished_at`` while STARTED)."""
    values = {
        "batch_id": batch.batch_id,
        "source_file": batch.source_file,
        "etag": batch.etag,
        "flight_date": batch.flight_date,
        "status": summary.status,
        "rows_read": summary.rows_read,
        "rows_loaded": summary.rows_loaded,
        "rows_rejected": summary.rows_rejected,
        "rows_filtered": summary.rows_filtered,
        "unknown_airports": summary.unknown_airports,
        "unknown_airport_ids": ",".join(str(i) for i in summary.unknown_airport_ids),
        "min_dep_delay": batch.min_dep_delay,
        "started_at": batch.started_at,
        "finished_at": finished_at,
        "error": (summary.error or "")[:4000] or None,
    }
    return [values[name] for name in schema.column_names(schema.AUDIT_COLUMNS)]
