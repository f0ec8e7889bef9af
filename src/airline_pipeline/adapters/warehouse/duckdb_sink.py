"""DuckDB's sinks: straight into the warehouse's tables (the default), or staged (``?staging=true``).

DuckDB lets one process open a file read-write, and no other process open it at all meanwhile:
a report or a history run waits for as long as a load holds the warehouse. So a load can stage:

* :class:`StagingSink` writes the file's fact, rejected and audit rows into a private staging
  database (a file next to the warehouse) while the warehouse is closed;
* :func:`apply_staged` then opens the warehouse and, in one short transaction, deletes the
  earlier rows of its replace scope, copies the staged ones in and replaces the STARTED audit row.

:class:`DuckDBSink` is the direct path (``?staging=false``): the whole load inside one transaction
on the warehouse, which it holds from start to end. Either way a failed load keeps nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional

from airline_pipeline.core import schema
from airline_pipeline.core.outcome import Batch, utcnow
from airline_pipeline.engine.sink import Sink

#: Test-only: a file path. A load writes its pid there once it is inside its warehouse transaction
#: (the file's old rows deleted, the new ones inserted, nothing committed), then keeps DuckDB busy
#: for up to ``_PAUSE_SECONDS``, so a fault test can signal or kill it at exactly that point.
PAUSE_ENV = "AIRLINE_PIPELINE_TEST_PAUSE_IN_LOAD"
#: Test-only: the same, while a staged load is staging (fact rows staged, the warehouse closed).
STAGE_PAUSE_ENV = "AIRLINE_PIPELINE_TEST_PAUSE_IN_STAGING"
_PAUSE_SECONDS = 60.0
#: The staging database's name for itself when attached to the warehouse connection.
STAGE = "stage"
#: Staging tables (in the staging database's main schema).
STAGED_FACT, STAGED_REJECTED, STAGED_AIRPORTS = "staged_fact", "staged_rejected", "airports"


def file_rows(batch: Batch) -> tuple[str, list[Any]]:
    """The WHERE clause (and values) of the rows one file loaded: its flight date first, then its name.

    The date lets DuckDB skip every row group of other days by its min/max statistics (zonemaps), so
    replacing a file costs the same in a warehouse of one day or of ten years; the name alone (long
    paths that share their first bytes) prunes nothing. A file's rows all carry its date (from its key).
    """
    if batch.flight_date is None:
        return "flight_date IS NULL AND source_file = ?", [batch.source_file]
    return "flight_date = ? AND source_file = ?", [batch.flight_date, batch.source_file]


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
        self.this_load = this_load(batch)
        for table in (schema.FACT, schema.REJECTED):
            con.execute(f"DELETE FROM {table} WHERE {self.this_load[0]}", self.this_load[1])

    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        return int(self.con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

    def refuse(self) -> None:
        self.con.execute(f"DELETE FROM {schema.FACT} WHERE {self.this_load[0]}", self.this_load[1])
        self.refused = True

    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        pause_for_fault_tests(self.con, PAUSE_ENV)
        self.con.execute(f"INSERT INTO {schema.REJECTED} {select_sql}", params)

    def unknown_airports(self) -> int:
        return int(
            self.con.execute(
                f"""SELECT count(*) FROM {schema.FACT}
                    WHERE {self.this_load[0]} AND (dep_airport IS NULL OR arr_airport IS NULL)""",
                self.this_load[1],
            ).fetchone()[0]
        )

    def write_audit(self, row: list[Any]) -> None:
        close_started(self.con, self.batch)
        insert_audit_row(self.con, row)

    def apply(self) -> None:
        if not self.refused:
            replace_earlier_rows(self.con, self.batch)
        self.con.execute("COMMIT")


def this_load(batch: Batch) -> tuple[str, list[Any]]:
    """The rows of this very load (its file, under its batch id): the date first, for pruning."""
    where, params = file_rows(batch)
    return f"{where} AND batch_id = ?", [*params, batch.batch_id]


def replaced_rows(batch: Batch) -> tuple[str, list[Any]]:
    """The rows a load replaces (its replace scope): every row of its file, or of its flight date."""
    if batch.policy.replace_scope == "date":
        return "flight_date = ?", [batch.flight_date]
    return file_rows(batch)


def replace_earlier_rows(con: Any, batch: Batch) -> None:
    """Delete the fact and rejected rows the load replaces, except its own (inside the caller's transaction)."""
    replaced, replaced_params = replaced_rows(batch)
    own, own_params = this_load(batch)
    for table in (schema.FACT, schema.REJECTED):
        con.execute(f"DELETE FROM {table} WHERE {replaced} AND NOT ({own})", [*replaced_params, *own_params])


class StagingSink(Sink):
    """Writes the file's rows into a private staging database; :func:`apply_staged` moves them in.

    ``con`` is a connection to the staging database, which holds a copy of the airports
    (``STAGED_AIRPORTS``). :meth:`apply` does nothing: the warehouse side is :func:`apply_staged`.
    """

    def __init__(self, con: Any) -> None:
        self.con = con
        self.facts_staged = False
        self.refused = False
        #: The audit row the load ended with (``schema.AUDIT_COLUMNS`` order).
        self.audit: Optional[list[Any]] = None

    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        verb = f"INSERT INTO {STAGED_FACT}" if self.facts_staged else f"CREATE TABLE {STAGED_FACT} AS"
        self.facts_staged = True
        return int(self.con.execute(f"{verb} {select_sql}", params).fetchall()[0][0])

    def refuse(self) -> None:
        self.refused = True  # the staged facts stay in the staging database, never applied

    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        pause_for_fault_tests(self.con, STAGE_PAUSE_ENV)
        self.con.execute(f"CREATE TABLE {STAGED_REJECTED} AS {select_sql}", params)

    def unknown_airports(self) -> int:
        """Counted in the file's own staged rows: the cost does not grow with the warehouse."""
        if self.refused or not self.facts_staged:
            return 0
        return int(
            self.con.execute(
                f"SELECT count(*) FROM {STAGED_FACT} WHERE dep_airport IS NULL OR arr_airport IS NULL"
            ).fetchall()[0][0]
        )

    def write_audit(self, row: list[Any]) -> None:
        self.audit = row

    def apply(self) -> None:
        """Nothing to do here: the staged rows reach the warehouse through :func:`apply_staged`."""


def apply_staged(con: Any, stage_path: str, batch: Batch, sink: StagingSink) -> None:
    """Replace the earlier rows of the load's scope in the warehouse (``con``) by the staged ones, in one transaction.

    The only part of a staged load that holds the warehouse: delete + insert + audit, then COMMIT.
    The audit row's ``finished_at`` is now, when the rows become visible: loads of one file apply
    in turn, and the one that finished last is the one whose rows stay. A refused file adds its
    rejected rows and audit row and replaces nothing. The caller rolls back on failure.
    """
    assert sink.audit is not None, "a staged load ends with its audit row"
    audit = list(sink.audit)
    audit[schema.column_names(schema.AUDIT_COLUMNS).index("finished_at")] = utcnow()
    own, own_params = this_load(batch)
    con.execute(f"ATTACH {_literal(stage_path)} AS {STAGE} (READ_ONLY)")
    con.execute("BEGIN TRANSACTION")
    for table in (schema.FACT, schema.REJECTED):  # an earlier attempt under this very batch id
        con.execute(f"DELETE FROM {table} WHERE {own}", own_params)
    if not sink.refused:
        replace_earlier_rows(con, batch)
        con.execute(f"INSERT INTO {schema.FACT} SELECT * FROM {STAGE}.{STAGED_FACT}")
    con.execute(f"INSERT INTO {schema.REJECTED} SELECT * FROM {STAGE}.{STAGED_REJECTED}")
    close_started(con, batch)
    insert_audit_row(con, audit)
    pause_for_fault_tests(con, PAUSE_ENV)
    con.execute("COMMIT")


def copy_airports(con: Any, stage_path: str) -> None:
    """Copy the warehouse's airports (``con``) into a new staging database at ``stage_path``."""
    con.execute(f"ATTACH {_literal(stage_path)} AS {STAGE}")
    try:
        con.execute(f"CREATE TABLE {STAGE}.{STAGED_AIRPORTS} AS SELECT * FROM {schema.AIRPORTS}")
    finally:
        con.execute(f"DETACH {STAGE}")


def _literal(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def close_started(con: Any, batch: Batch) -> None:
    """Remove this attempt's STARTED row (same batch and start time: another attempt's stays)."""
    con.execute(
        f"DELETE FROM {schema.AUDIT} WHERE batch_id = ? AND started_at = ? AND status = ?",
        [batch.batch_id, batch.started_at, schema.STARTED],
    )


def insert_audit_row(con: Any, row: list[Any]) -> None:
    names = schema.column_names(schema.AUDIT_COLUMNS)
    con.execute(f"INSERT INTO {schema.AUDIT} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})", row)


def pause_for_fault_tests(con: Any, env: str) -> None:
    """See :data:`PAUSE_ENV`. Busy in DuckDB, where a long load spends its time, so a signal takes the engine's path."""
    marker = os.environ.get(env)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + _PAUSE_SECONDS
    while time.monotonic() < deadline:
        con.execute("SELECT count(*) FROM range(50000000) t(x) WHERE x % 7 = 3").fetchall()
