"""Redshift's sink: a file's rows as Parquet, staged in S3, then two Data API batches in one session.

The first batch COPYs the Parquet into session temp tables (nothing any reader sees changes); the
second locks the target tables and replaces the file's rows from the temp tables (one transaction:
the only change readers see, and the only exclusive section - DELETE + INSERT, no COPY from S3).

Parquet COPY is positional: each table's rows are written in its exact column order and types
(:func:`~airline_pipeline.adapters.warehouse.redshift.sql.parquet_select`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

from airline_pipeline.adapters.warehouse.redshift.sql import (
    TABLE_COLUMNS,
    bare_table,
    file_apply_statements,
    file_stage_statements,
    parquet_select,
)
from airline_pipeline.adapters.warehouse.redshift.target import staging_segment
from airline_pipeline.core import schema
from airline_pipeline.core.outcome import Batch
from airline_pipeline.engine.sink import Sink

if TYPE_CHECKING:
    from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse


def duck_quote(path: str) -> str:
    """A DuckDB string literal (a local file path)."""
    return "'" + path.replace("'", "''") + "'"


class ParquetSink(Sink):
    """Writes each table's rows as Parquet under ``workdir``; :meth:`apply` stages them in S3, COPYs them into
    temp tables (first batch), replaces the file's rows under the lock (second batch, same session), then
    deletes the staged objects."""

    def __init__(self, warehouse: RedshiftWarehouse, con: Any, batch: Batch, workdir: str) -> None:
        self.warehouse = warehouse
        self.con = con
        self.batch = batch
        self.workdir = workdir
        #: Per table, the Parquet files written and their row counts.
        self.files: dict[str, list[tuple[str, int]]] = {schema.FACT: [], schema.REJECTED: [], schema.AUDIT: []}
        self.refused = False

    def _write(self, table: str, select_sql: str, params: list[Any]) -> int:
        target = os.path.join(self.workdir, f"{bare_table(table)}-{len(self.files[table]) + 1}.parquet")
        sql = f"COPY ({parquet_select(select_sql, TABLE_COLUMNS[table])}) TO {duck_quote(target)} (FORMAT PARQUET)"
        rows = int(self.con.execute(sql, params).fetchall()[0][0])
        self.files[table].append((target, rows))
        return rows

    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        return self._write(schema.FACT, select_sql, params)

    def refuse(self) -> None:
        self.files[schema.FACT] = []  # never staged: the transaction copies no fact row
        self.refused = True

    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        self._write(schema.REJECTED, select_sql, params)

    def unknown_airports(self) -> int:
        fact_files = ", ".join(duck_quote(parquet) for parquet, _ in self.files[schema.FACT])
        if not fact_files:
            return 0
        return int(
            self.con.execute(
                f"""SELECT count(*) FROM read_parquet([{fact_files}])
                    WHERE dep_airport IS NULL OR arr_airport IS NULL"""
            ).fetchall()[0][0]
        )

    def write_audit(self, row: list[Any]) -> None:
        names = schema.column_names(schema.AUDIT_COLUMNS)
        self._write(schema.AUDIT, "SELECT " + ", ".join(f"? AS {name}" for name in names), row)

    def apply(self) -> None:
        warehouse, batch_id = self.warehouse, self.batch.batch_id
        prefix = f"{warehouse.target.staging}{staging_segment(batch_id)}/"
        staged: dict[str, Optional[str]] = {}
        uploaded: list[str] = []
        for table, part in (("fact", schema.FACT), ("rejected", schema.REJECTED), ("audit", schema.AUDIT)):
            uploads = [parquet for parquet, rows in self.files[part] if rows]
            for number, parquet in enumerate(uploads, start=1):
                uploaded.append(warehouse._upload(parquet, f"{prefix}{table}/part-{number}.parquet"))
            staged[part] = f"{prefix}{table}/" if uploads else None
        session = warehouse._stage_batch(
            file_stage_statements(staged, warehouse.target.iam_role, refused=self.refused),
            what=f"stage batch {batch_id}",
            staged=prefix,
        )
        warehouse._run_batch(
            file_apply_statements(scope=self.batch.policy.replace_scope, refused=self.refused),
            what=f"apply batch {batch_id}",
            session=session,
        )
        warehouse._delete_staged(uploaded)
