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

#: Test-only: a file path. A load writes its pid there once it is inside its transaction (the file's
#: old rows deleted, the new ones inserted, nothing committed), then keeps DuckDB busy for up to
#: ``_PAUSE_SECONDS``, so a fault test can signal or kill it at exactly that point.
PAUSE_ENV = "AIRLINE_PIPELINE_TEST_PAUSE_IN_LOAD"
_PAUSE_SECONDS = 60.0


class DuckDBSink(Sink):
    """Writes straight into the warehouse's tables inside one transaction; :meth:`apply` commits it.

    Opening it begins the transaction and deletes the file's earlier fact rows (the load's rows
    replace them); a failed load rolls back, and neither the delete nor any row of it stays.
    """

    def __init__(self, con: Any, batch: Batch) -> None:
        self.con = con
        self.batch = batch
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {schema.FACT} WHERE source_file = ?", [batch.source_file])

    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        return int(self.con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        _pause_for_fault_tests(self.con)
        self.con.execute(f"DELETE FROM {schema.REJECTED} WHERE source_file = ?", [self.batch.source_file])
        self.con.execute(f"INSERT INTO {schema.REJECTED} {select_sql}", params)

    def unknown_airports(self) -> int:
        return int(
            self.con.execute(
                f"""SELECT count(*) FROM {schema.FACT}
                    WHERE source_file = ? AND (dep_airport IS NULL OR arr_airport IS NULL)""",
                [self.batch.source_file],
            ).fetchone()[0]
        )

    def write_audit(self, row: list[Any]) -> None:
        close_started(self.con, self.batch)
        insert_audit_row(self.con, row)

    def apply(self) -> None:
        self.con.execute("COMMIT")


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
