"""The warehouse tables, defined once for both engines.

Column names and types of ``airports_dim`` and ``daily_flights_fact`` are the seeds' own; the fact
table gains lineage columns, and two tables record every load attempt and every rejected row.
The type names are valid in DuckDB and in Redshift alike; Redshift gets distribution/sort keys on top.
"""

from __future__ import annotations

SCHEMA = "airlines"

Column = tuple[str, str]

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
    ("source_file", "VARCHAR(1024)"),
    ("batch_id", "VARCHAR(64)"),
    ("loaded_at", "TIMESTAMP"),
)

AUDIT_COLUMNS: tuple[Column, ...] = (
    ("batch_id", "VARCHAR(64)"),
    ("source_file", "VARCHAR(1024)"),
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
)

REJECTED_COLUMNS: tuple[Column, ...] = (
    ("batch_id", "VARCHAR(64)"),
    ("source_file", "VARCHAR(1024)"),
    ("flight_date", "DATE"),
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

#: Audit ``status`` values. STARTED is written (committed) when an attempt begins and replaced by
#: LOADED or FAILED when it ends: one that stays STARTED was killed, or is still running.
STARTED = "STARTED"
LOADED = "LOADED"
FAILED = "FAILED"

_REDSHIFT_TABLE_OPTIONS = {
    AIRPORTS: "DISTSTYLE ALL SORTKEY (airport_id)",
    FACT: "DISTSTYLE AUTO SORTKEY (flight_date, source_file)",
    AUDIT: "DISTSTYLE ALL SORTKEY (started_at)",
    REJECTED: "DISTSTYLE AUTO SORTKEY (source_file, line_number)",
}


def _columns_sql(columns: tuple[Column, ...]) -> str:
    return ",\n    ".join(f"{name} {sql_type}" for name, sql_type in columns)


def create_statements(dialect: str) -> list[str]:
    """``CREATE ... IF NOT EXISTS`` for the schema and the four tables; ``dialect`` is duckdb or redshift."""
    tables = {
        AIRPORTS: AIRPORTS_COLUMNS,
        FACT: FACT_COLUMNS,
        AUDIT: AUDIT_COLUMNS,
        REJECTED: REJECTED_COLUMNS,
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
