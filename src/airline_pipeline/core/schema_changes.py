"""Columns added to existing warehouse tables after their first release, and how each engine adds them.

``CREATE TABLE IF NOT EXISTS`` leaves a table that exists as it was, so a warehouse created before a
column was added needs ``ALTER TABLE ... ADD COLUMN``. DuckDB has ``ADD COLUMN IF NOT EXISTS``;
Redshift has not ("ALTER TABLE" in the Redshift Database Developer Guide), so there the missing
columns are looked up first. An added column goes to the end of its table, which is also where it
is in ``schema`` (Parquet COPY matches columns by position).
"""

from __future__ import annotations

from collections.abc import Iterable

from airline_pipeline.core import schema

#: (table, column, type), oldest first; each also listed last in its table's columns in ``schema``.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = ((schema.AUDIT, "job_capacity_dpu", "DOUBLE PRECISION"),)

#: The columns the pipeline's tables have now (Redshift), bound as ``:schema``.
EXISTING_COLUMNS_SQL = "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :schema"


def duckdb_statements() -> list[str]:
    """Idempotent as they are: DuckDB skips a column that exists."""
    return [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {sql_type}" for table, column, sql_type in ADDED_COLUMNS
    ]


def redshift_statements(existing: Iterable[dict[str, str]]) -> list[str]:
    """``ADD COLUMN`` for each added column the rows of :data:`EXISTING_COLUMNS_SQL` do not list."""
    have = {(f"{schema.SCHEMA}.{row['table_name']}".lower(), str(row["column_name"]).lower()) for row in existing}
    return [
        f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"
        for table, column, sql_type in ADDED_COLUMNS
        if (table.lower(), column.lower()) not in have
    ]
