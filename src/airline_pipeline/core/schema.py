"""The warehouse tables, defined once for both engines.

Column names and types of ``airports_dim`` and ``daily_flights_fact`` are the seeds' own; the fact
table gains lineage columns, and two tables record every load attempt and every rejected row.
The type names are valid in DuckDB and in Redshift alike; Redshift gets distribution/sort keys on top.
"""

from __future__ import annotations

import re
from typing import Optional

from airline_pipeline.core import status

SCHEMA = "airlines"

Column = tuple[str, str]

#: ``source_file`` holds any S3 URI whole: ``s3://`` (5 bytes) + a bucket name (at most 63) + ``/`` +
#: a key (at most 1,024 bytes) = 1,093 bytes. A longer name (only a very deep local path can be) is
#: refused, never cut: a cut name would collide with another file's, and replacing one file's rows
#: would delete the other's.
SOURCE_FILE_TYPE = "VARCHAR(1100)"
#: ``batch_id`` holds any Step Functions execution name whole (at most 80 characters, 4 bytes each
#: in UTF-8) and any readable ``--batch-id``; longer ones are refused, never cut.
BATCH_ID_TYPE = "VARCHAR(320)"
#: The columns that identify a file's rows: never truncated (see :func:`identity_problem`).
IDENTITY_TYPES = {"source_file": SOURCE_FILE_TYPE, "batch_id": BATCH_ID_TYPE}

AIRPORTS_COLUMNS: tuple[Column, ...] = (
    ("airport_id", "BIGINT"),
    ("city", "VARCHAR(100)"),
    ("state", "VARCHAR(100)"),
    ("name", "VARCHAR(200)"),
)

#: Order matters: Parquet COPY into Redshift matches columns by position.
FACT_COLUMNS: tuple[Column, ...] = (
    ("carrier", "VARCHAR(10)"),
    ("dep_airport", "VARCHAR(200)"),
    ("arr_airport", "VARCHAR(200)"),
    ("dep_city", "VARCHAR(100)"),
    ("arr_city", "VARCHAR(100)"),
    ("dep_state", "VARCHAR(100)"),
    ("arr_state", "VARCHAR(100)"),
    ("dep_delay", "BIGINT"),
    ("arr_delay", "BIGINT"),
    ("flight_date", "DATE"),
    ("source_file", SOURCE_FILE_TYPE),
    ("batch_id", BATCH_ID_TYPE),
    ("loaded_at", "TIMESTAMP"),
)

AUDIT_COLUMNS: tuple[Column, ...] = (
    ("batch_id", BATCH_ID_TYPE),
    ("source_file", SOURCE_FILE_TYPE),
    ("etag", "VARCHAR(128)"),
    ("flight_date", "DATE"),
    ("status", "VARCHAR(16)"),
    ("rows_read", "BIGINT"),
    ("rows_loaded", "BIGINT"),
    ("rows_rejected", "BIGINT"),
    ("rows_filtered", "BIGINT"),
    ("unknown_airports", "BIGINT"),
    ("unknown_airport_ids", "VARCHAR(1024)"),
    ("min_dep_delay", "BIGINT"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
    ("error", "VARCHAR(4096)"),
    # Added after the first release (core.schema_changes), oldest first: last, where ALTER TABLE ... ADD
    # COLUMN puts them (Parquet COPY is positional).
    ("job_capacity_dpu", "DOUBLE PRECISION"),
    ("warning", "VARCHAR(1024)"),
    ("late", "BOOLEAN"),
    ("contract_version", "VARCHAR(16)"),
    ("replace_scope", "VARCHAR(8)"),
)

REJECTED_COLUMNS: tuple[Column, ...] = (
    ("batch_id", BATCH_ID_TYPE),
    ("source_file", SOURCE_FILE_TYPE),
    ("flight_date", "DATE"),
    ("line_number", "BIGINT"),
    ("raw_line", "VARCHAR(4096)"),
    ("reason", "VARCHAR(64)"),
    ("detail", "VARCHAR(1024)"),
    ("rejected_at", "TIMESTAMP"),
)

#: Rows of an airports file that ``load-airports`` did not upsert, one ``load_id`` per run (append only).
REJECTED_AIRPORTS_COLUMNS: tuple[Column, ...] = (
    ("load_id", "VARCHAR(64)"),
    ("source_file", SOURCE_FILE_TYPE),
    ("line_number", "BIGINT"),
    ("raw_line", "VARCHAR(4096)"),
    ("reason", "VARCHAR(64)"),
    ("detail", "VARCHAR(1024)"),
    ("rejected_at", "TIMESTAMP"),
)

AIRPORTS = f"{SCHEMA}.airports_dim"
FACT = f"{SCHEMA}.daily_flights_fact"
AUDIT = f"{SCHEMA}.load_audit"
REJECTED = f"{SCHEMA}.rejected_rows"
REJECTED_AIRPORTS = f"{SCHEMA}.rejected_airports"

#: Audit ``status`` values (:mod:`airline_pipeline.core.status` is their one home).
STARTED, LOADED, FAILED = status.STARTED, status.LOADED, status.FAILED

_REDSHIFT_TABLE_OPTIONS = {
    AIRPORTS: "DISTSTYLE ALL SORTKEY (airport_id)",
    FACT: "DISTSTYLE AUTO SORTKEY (flight_date, source_file)",
    AUDIT: "DISTSTYLE ALL SORTKEY (started_at)",
    REJECTED: "DISTSTYLE AUTO SORTKEY (source_file, line_number)",
    REJECTED_AIRPORTS: "DISTSTYLE AUTO SORTKEY (rejected_at)",
}


def _columns_sql(columns: tuple[Column, ...]) -> str:
    return ",\n    ".join(f"{name} {sql_type}" for name, sql_type in columns)


def create_statements(dialect: str) -> list[str]:
    """``CREATE ... IF NOT EXISTS`` for the schema and the five tables; ``dialect`` is duckdb or redshift."""
    tables = {
        AIRPORTS: AIRPORTS_COLUMNS,
        FACT: FACT_COLUMNS,
        AUDIT: AUDIT_COLUMNS,
        REJECTED: REJECTED_COLUMNS,
        REJECTED_AIRPORTS: REJECTED_AIRPORTS_COLUMNS,
    }
    statements = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"]
    for table, columns in tables.items():
        body = _columns_sql(columns)
        if table == AIRPORTS:
            body += ",\n    PRIMARY KEY (airport_id)"
        suffix = f"\n{_REDSHIFT_TABLE_OPTIONS[table]}" if dialect == "redshift" else ""
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n){suffix}")
    return statements


def column_names(columns: tuple[Column, ...]) -> list[str]:
    return [name for name, _ in columns]


def varchar_bytes(sql_type: str) -> Optional[int]:
    """The size of a ``VARCHAR(n)`` in bytes (Redshift counts bytes), or None for other types."""
    match = re.fullmatch(r"VARCHAR\((\d+)\)", sql_type)
    return int(match.group(1)) if match else None


def identity_problem(name: str, value: str) -> Optional[str]:
    """Why ``value`` cannot be stored whole as identity column ``name``, or None when it can."""
    limit = varchar_bytes(IDENTITY_TYPES[name])
    size = len(value.encode("utf-8"))
    if limit is None or size <= limit:
        return None
    return (
        f"{name} is {size:,} bytes; the warehouse keeps at most {limit:,} ({IDENTITY_TYPES[name]}) and never cuts "
        f"an identity (two cut names could collide): {value[:120]}..."
    )


def recorded_identity(name: str, value: str) -> str:
    """``value`` as a FAILED audit row can hold it: itself, or (too long) a marked prefix and its hash.

    Only for the record of a refused load: the marker cannot equal any real name, so the record
    never collides with another file's.
    """
    if identity_problem(name, value) is None:
        return value
    import hashlib  # here: OpenSSL's start-up is a quarter of the CLI's, and only a refused load needs it

    limit = varchar_bytes(IDENTITY_TYPES[name]) or 0
    marker = f"...[cut, sha256={hashlib.sha256(value.encode()).hexdigest()}]"
    head = value.encode("utf-8")[: limit - len(marker)].decode("utf-8", errors="ignore")
    return head + marker
