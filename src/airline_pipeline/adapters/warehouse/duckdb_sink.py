"""DuckDB's sink: the load writes straight into the warehouse's tables inside one transaction.

``apply`` commits it; a failed load rolls back (the caller's job), and neither the delete of the
file's earlier rows nor any row of the load stays.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from airline_pipeline.core import schema
from airline_pipeline.core.outcome import Batch
from airline_pipeline.engine.sink import Sink

#: Test-only: a file path. A load writes its pid there once it is inside its transaction (the new
#: rows inserted, nothing committed), then keeps DuckDB busy for up to
#: ``_PAUSE_SECONDS``, so a fault test can signal or kill it at exactly that point.
PAUSE_ENV = "AIRLINE_PIPELINE_TEST_PAUSE_IN_LOAD"
_PAUSE_SECONDS = 60.0


class DuckDBSink(Sink):
    """Writes straight into the warehouse's tables inside one transaction; :meth:`apply` commits it.

    The earlier rows of the batch's replace scope (its file, or its date) are deleted by
    :meth:`apply`, after the load's rows are in, so a refused file (:meth:`refuse`) can leave them
    as they were. A failed load rolls back, and neither a delete nor any row of it stays.
    """

    def __init__(self, con: Any, batch: Batch) -> None:
        self.con = con
        self.batch = batch
        self.refused = False
        con.execute("BEGIN TRANSACTION")
        # An earlier load of this file under the same batch id (``--batch-id`` given twice): the rows
        # of this batch and file are this load's own from here on.
        for table in (schema.FACT, schema.REJECTED):
            con.execute(f"DELETE FROM {table} WHERE {_THIS_LOAD}", self._this_load())

    def _this_load(self) -> list[Any]:
        return [self.batch.batch_id, self.batch.source_file]

    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        return int(self.con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    def refuse(self) -> None:
        self.con.execute(f"DELETE FROM {schema.FACT} WHERE {_THIS_LOAD}", self._this_load())
        self.refused = True

    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        _pause_for_fault_tests(self.con)
        self.con.execute(f"INSERT INTO {schema.REJECTED} {select_sql}", params)

    def unknown_airports(self) -> int:
        return int(
            self.con.execute(
                f"""SELECT count(*) FROM {schema.FACT}
                    WHERE {_THIS_LOAD} AND (dep_airport IS NULL OR arr_airport IS NULL)""",
                self._this_load(),
            ).fetchone()[0]
        )

    def write_audit(self, row: list[Any]) -> None:
        close_started(self.con, self.batch)
        insert_audit_row(self.con, row)

    def apply(self) -> None:
        if not self.refused:
            column, value = replaced_scope(self.batch)
            for table in (schema.FACT, schema.REJECTED):
                self.con.execute(
                    f"DELETE FROM {table} WHERE {column} = ? AND NOT ({_THIS_LOAD})", [value, *self._this_load()]
                )
        self.con.execute("COMMIT")


#: The rows this load wrote (after ``__init__`` cleared any earlier ones of the same batch and file).
_THIS_LOAD = "batch_id = ? AND source_file = ?"


def replaced_scope(batch: Batch) -> tuple[str, Any]:
    """The column and value whose earlier rows a load replaces: its source_file, or its flight_date."""
    if batch.policy.replace_scope == "date":
        return "flight_date", batch.flight_date
    return "source_file", batch.source_file


def close_started(con: Any, batch: Batch) -> None:
    """Remove this attempt's STARTED row (same batch and start time: another attempt's stays)."""
    con.execute(
        f"DELETE FROM {schema.AUDIT} WHERE batch_id = ? AND started_at = ? AND status = ?",
        [batch.batch_id, batch.started_at, schema.STARTED],
    )


def insert_audit_row(con: Any, row: list[Any]) -> None:
    names = schema.column_names(schema.AUDIT_COLUMNS)
    con.execute(f"INSERT INTO {schema.AUDIT} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})", row)


def _pause_for_fault_tests(con: Any) -> None:
    """See :data:`PAUSE_ENV`. Busy in DuckDB, where a long load spends its time, so a signal takes the engine's path."""
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + _PAUSE_SECONDS
    while time.monotonic() < deadline:
        con.execute("SELECT count(*) FROM range(50000000) t(x) WHERE x % 7 = 3").fetchall()
