"""The SQL the Redshift warehouse sends: COPY, the load transaction, audit writes, Data API parameters.

Pure text building (no AWS calls), so every statement can be checked against Redshift's grammar in tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Optional

from airline_pipeline.adapters.warehouse import ports
from airline_pipeline.adapters.warehouse.redshift.target import checked_s3_uri, quote_literal, role_sql
from airline_pipeline.core import schema

#: The Data API's limit on statements in one batch (one transaction).
MAX_BATCH_STATEMENTS = 40

if TYPE_CHECKING:
    from mypy_boto3_redshift_data.type_defs import SqlParameterTypeDef

# Temp tables of the load transactions (each batch runs in its own session: no name clashes).
_STAGE = {schema.FACT: "stage_fact", schema.REJECTED: "stage_rejected", schema.AUDIT: "stage_audit"}
_STAGE_AIRPORTS = "stage_airports"
TABLE_COLUMNS = {
    schema.FACT: schema.FACT_COLUMNS,
    schema.REJECTED: schema.REJECTED_COLUMNS,
    schema.AUDIT: schema.AUDIT_COLUMNS,
}
#: Whether any flight is loaded (``n`` is 0 or 1): only asked when airports changed.
ANY_FACT = f"SELECT count(*) AS n FROM (SELECT 1 FROM {schema.FACT} LIMIT 1) AS any_fact"

#: The newest COPY errors under a staging prefix; ``:staged`` is ``s3://.../<batch>/%``.
LOAD_ERRORS_SERVERLESS = """SELECT TRIM(file_name) AS file_name, line_number, TRIM(column_name) AS column_name,
       error_code, TRIM(error_message) AS error_message
FROM sys_load_error_detail
WHERE file_name LIKE :staged
ORDER BY start_time DESC
LIMIT 5"""
LOAD_ERRORS_PROVISIONED = """SELECT TRIM(filename) AS file_name, line_number, TRIM(colname) AS column_name,
       err_code AS error_code, TRIM(err_reason) AS error_message
FROM stl_load_errors
WHERE filename LIKE :staged
ORDER BY starttime DESC
LIMIT 5"""


def copy_sql(table: str, s3_uri: str, iam_role: str) -> str:
    return f"COPY {table} FROM {quote_literal(checked_s3_uri(s3_uri))} IAM_ROLE {role_sql(iam_role)} FORMAT AS PARQUET"


def copy_csv_sql(table: str, s3_uri: str, iam_role: str, *, columns: list[str]) -> str:
    """COPY of a CSV with a header row, named columns, empty fields as NULL (as DuckDB reads them)."""
    return (
        f"COPY {table} ({', '.join(columns)}) FROM {quote_literal(checked_s3_uri(s3_uri))}"
        f" IAM_ROLE {role_sql(iam_role)} CSV IGNOREHEADER 1 EMPTYASNULL"
    )


def airports_statements(s3_uri: Optional[str], iam_role: str, rejected_uri: Optional[str] = None) -> list[str]:
    """The airports upsert, keyed on airport_id, and the rejected rows appended: one transaction.

    Either part may be absent (a file whose every row is bad upserts nothing); none: no statement.
    """
    dim = schema.AIRPORTS
    statements = []
    if s3_uri:
        statements += [
            f"LOCK {dim}",
            f"CREATE TEMP TABLE {_STAGE_AIRPORTS} (LIKE {dim})",
            copy_sql(_STAGE_AIRPORTS, s3_uri, iam_role),
            f"DELETE FROM {dim} WHERE airport_id IN (SELECT airport_id FROM {_STAGE_AIRPORTS})",
            f"INSERT INTO {dim} SELECT * FROM {_STAGE_AIRPORTS}",
        ]
    if rejected_uri:
        statements.append(copy_sql(schema.REJECTED_AIRPORTS, rejected_uri, iam_role))
    return statements


def _written(refused: bool) -> tuple[str, ...]:
    """The tables a load adds rows to: a refused file (over a quality threshold) adds no fact row."""
    return (schema.REJECTED, schema.AUDIT) if refused else (schema.FACT, schema.REJECTED, schema.AUDIT)


def file_stage_statements(staged: Mapping[str, Optional[str]], iam_role: str, *, refused: bool = False) -> list[str]:
    """A file load's first transaction: COPY the staged Parquet into session temp tables. No target table is touched.

    ``staged`` maps each of fact, rejected and audit table to the S3 prefix holding its Parquet
    files, or None when there are no rows to copy (its temp table stays empty, and the table's
    earlier rows are still replaced by :func:`file_apply_statements`). The temp tables live as long
    as the Data API session, so the second transaction, in the same session, reads them.
    """
    written = _written(refused)
    statements = [f"CREATE TEMP TABLE {_STAGE[table]} (LIKE {table})" for table in written]
    statements += [copy_sql(_STAGE[table], uri, iam_role) for table in written if (uri := staged.get(table))]
    return statements


def file_apply_statements(*, scope: str = "file", refused: bool = False) -> list[str]:
    """A file load's second transaction: the only one that changes what readers see, and the only one that locks.

    It replaces the earlier fact and rejected rows of its ``scope`` (``file``: its source_file;
    ``date``: its flight_date, whatever file they came from) and adds its audit row. ``refused`` (over a
    quality threshold): no fact row is added and no earlier row is replaced; the rejected rows and the
    REJECTED audit row are added.

    LOCK comes first, before any statement that takes the transaction's snapshot (Redshift takes it
    at the first SELECT, DML or CREATE/ALTER/DROP TABLE: "Serializable isolation"), so the DELETE
    sees every load committed before the lock was granted. The three tables are always locked in
    the same order, so concurrent loads queue instead of failing. The exclusive section is DELETE +
    INSERT from the temp tables: the COPY from S3 ran in the first transaction.
    """
    if scope not in ("file", "date"):
        raise ValueError(f"replace scope {scope!r}")
    tables = (schema.FACT, schema.REJECTED, schema.AUDIT)
    audit = _STAGE[schema.AUDIT]
    statements = [f"LOCK {', '.join(tables)}"]
    # The file name and date come from the staged audit row: no value is ever written into SQL text.
    if refused:  # only an earlier attempt under this very batch id and file (a rerun) is replaced
        where = f"batch_id IN (SELECT batch_id FROM {audit}) AND source_file IN (SELECT source_file FROM {audit})"
    else:
        key = "flight_date" if scope == "date" else "source_file"
        where = f"{key} IN (SELECT {key} FROM {audit})"
    statements += [f"DELETE FROM {table} WHERE {where}" for table in (schema.FACT, schema.REJECTED)]
    # This attempt's STARTED row (same batch and start; unfinished): replaced by the staged outcome row.
    statements.append(
        f"DELETE FROM {schema.AUDIT} WHERE finished_at IS NULL"
        f" AND batch_id IN (SELECT batch_id FROM {audit}) AND started_at IN (SELECT started_at FROM {audit})"
    )
    statements += [f"INSERT INTO {table} SELECT * FROM {_STAGE[table]}" for table in _written(refused)]
    assert len(statements) <= MAX_BATCH_STATEMENTS
    return statements


def audit_insert(values: Mapping[str, Any]) -> tuple[str, list[SqlParameterTypeDef]]:
    """An audit row (STARTED or FAILED) as ``execute_statement`` SQL with named parameters, never values."""
    names = schema.column_names(schema.AUDIT_COLUMNS)
    types = dict(schema.AUDIT_COLUMNS)
    sql = f"""INSERT INTO {schema.AUDIT} ({", ".join(names)})
VALUES ({", ".join(f"CAST(:{name} AS {types[name]})" for name in names)})"""
    return bind({name: _fit(values[name], types[name]) for name in names}, sql)


#: What a failure changes in the attempt's STARTED row.
_FAILURE_UPDATE = ("status", "finished_at", "error")


def failure_update(values: Mapping[str, Any]) -> tuple[str, list[SqlParameterTypeDef]]:
    """The attempt's STARTED row (batch and start time, unfinished) becomes its FAILED row, parameters bound."""
    types = dict(schema.AUDIT_COLUMNS)
    assignments = ", ".join(f"{name} = CAST(:{name} AS {types[name]})" for name in _FAILURE_UPDATE)
    sql = f"""UPDATE {schema.AUDIT} SET {assignments}
WHERE batch_id = CAST(:batch_id AS {types["batch_id"]}) AND started_at = CAST(:started_at AS TIMESTAMP)
  AND finished_at IS NULL"""
    names = (*_FAILURE_UPDATE, "batch_id", "started_at")
    return bind({name: _fit(values[name], types[name]) for name in names}, sql)


def bind(params: Mapping[str, Any], sql: str) -> tuple[str, list[SqlParameterTypeDef]]:
    """Data API ``Parameters`` for the ``:name`` placeholders of ``sql``.

    The API takes non-empty strings only, so a None becomes ``NULL`` and an empty string ``''`` in
    the text; neither can carry data.
    """
    bound: list[SqlParameterTypeDef] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise ValueError(f"no value for :{name}")
        value = params[name]
        if value is None:
            return "NULL"
        text = _text(value)
        if text == "":
            return "''"
        if all(p["name"] != name for p in bound):
            bound.append({"name": name, "value": text})
        return match.group(0)

    return ports.PLACEHOLDER.sub(placeholder, sql), bound


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _fit(value: Any, sql_type: str) -> Any:
    """Cut a string to a VARCHAR's size in bytes (Redshift counts bytes), never inside a character."""
    limit = schema.varchar_bytes(sql_type)
    if limit is None or not isinstance(value, str):
        return value
    return value.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def bare_table(table: str) -> str:
    """How a statement refers to its (schema-qualified) target table in a WHERE clause."""
    return table.rsplit(".", 1)[-1]


def parquet_select(select_sql: str, columns: tuple[schema.Column, ...]) -> str:
    """``select_sql`` with each column cast to what Redshift's COPY expects at that position.

    Why: Parquet COPY matches by position and type. NULL-only and integer literals would otherwise
    be written as other Parquet types; VARCHARs are cut to the column's size in bytes (COPY from
    Parquet cannot truncate) - except the identity columns (``source_file``, ``batch_id``), which
    fail the staging instead: a cut identity could equal another file's, and that file's rows would
    be deleted with this one's. TIMESTAMPs are written in milliseconds, as awswrangler's own
    Redshift COPY does (the lineage timestamps have whole seconds).
    """
    expressions = []
    for name, sql_type in columns:
        limit = schema.varchar_bytes(sql_type)
        text = f"CAST({name} AS VARCHAR)"
        if sql_type == "TIMESTAMP":
            expression = f"CAST({name} AS TIMESTAMP_MS)"
        elif limit is not None and name in schema.IDENTITY_TYPES:
            expression = (
                f"CASE WHEN strlen({text}) <= {limit} THEN {text}"
                f" ELSE error('{name} longer than {limit} bytes: never cut, refused') END"
            )
        elif limit is not None:
            expression = (
                f"CASE WHEN strlen({text}) <= {limit} THEN {text}"
                f" WHEN strlen(left({text}, {limit})) <= {limit} THEN left({text}, {limit})"
                f" ELSE left({text}, {limit // 4}) END"
            )
        else:
            expression = f"CAST({name} AS {sql_type})"
        expressions.append(f"{expression} AS {name}")
    return f"SELECT {', '.join(expressions)} FROM ({select_sql}) AS src"
