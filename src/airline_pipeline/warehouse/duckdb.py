"""The embedded warehouse: one DuckDB file, used locally, in tests and by the demo.

DuckDB lets one process write a file at a time. Instead of failing when another load (or a
report) holds the file, every connection waits for the lock with jittered backoff, up to
``lock_timeout`` seconds; that is what makes ten concurrent ``ingest`` runs of one file end with
one copy of its rows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs

import duckdb
import tenacity

from airline_pipeline import schema, transform
from airline_pipeline.errors import ConfigError, NoDataRows, WarehouseBusy
from airline_pipeline.models import AirportsLoad, Batch, LoadSummary, new_load_id, utcnow
from airline_pipeline.warehouse import common
from airline_pipeline.warehouse.base import Row, Warehouse

log = logging.getLogger(__name__)


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


#: How long a file that is "not a valid DuckDB database" counts as one another process is still creating.
_CREATION_SECONDS = 10.0


def _is_being_created(path: str, exc: BaseException) -> bool:
    """Another process has just created the file and not yet written its header (concurrent first loads).

    Only a file modified in the last few seconds: an old invalid file fails at once, not after a wait.
    """
    if not (isinstance(exc, duckdb.Error) and "not a valid DuckDB database file" in str(exc)):
        return False
    try:
        return time.time() - os.path.getmtime(path) < _CREATION_SECONDS
    except OSError:
        return True  # gone again: the creator is still at it


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: str, *, lock_timeout: float = 600.0, memory_limit: Optional[str] = None) -> None:
        self.path = str(Path(path).expanduser().resolve())
        #: Whether the file was missing when this object was made: a load then warns (a mistyped path?).
        self.created = not os.path.exists(self.path)
        self.lock_timeout = lock_timeout
        self.memory_limit = common.memory_limit(memory_limit)

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> DuckDBWarehouse:
        """``duckdb:///abs/path.duckdb[?lock_timeout=SECONDS&memory_limit=512MB]``."""
        location = uri.split("://", 1)[1] if uri.startswith("duckdb://") else uri
        path, _, query = location.partition("?")
        if not path:
            raise ConfigError(f"'{uri}' names no file: use duckdb:///abs/path/warehouse.duckdb")
        for name, values in parse_qs(query).items():
            if name == "lock_timeout":
                options.setdefault("lock_timeout", float(values[-1]))
            elif name == "memory_limit":
                options.setdefault("memory_limit", values[-1])
            else:
                raise ConfigError(f"'{uri}': unknown option {name} (known: lock_timeout, memory_limit)")
        return cls(path, **options)

    @property
    def uri(self) -> str:
        return f"duckdb://{self.path}"

    # --- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Any]:
        """A connection to the file, waiting while another process holds it."""
        if read_only and not os.path.exists(self.path):
            raise ConfigError(f"no warehouse at {self.path}: run 'airline-pipeline init-warehouse' first")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = self._open_with_retry(read_only)
        try:
            yield con
        finally:
            con.close()

    def _open_with_retry(self, read_only: bool) -> Any:
        config = {"memory_limit": self.memory_limit}
        if not read_only:
            config["temp_directory"] = self.path + ".tmp"
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: _is_lock_conflict(exc) or _is_being_created(self.path, exc)),
            wait=tenacity.wait_random_exponential(multiplier=0.05, max=2.0),
            stop=tenacity.stop_after_delay(self.lock_timeout),
            before_sleep=_log_wait_once(self.path),
            reraise=True,
        )
        try:
            return retrying(duckdb.connect, self.path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if _is_lock_conflict(exc):
                raise WarehouseBusy(
                    f"{self.path} stayed locked by another process for {self.lock_timeout:.0f}s: {exc}"
                ) from exc
            raise

    # --- the interface -----------------------------------------------------------------------

    def init_schema(self) -> None:
        with self.connect() as con:
            for statement in schema.create_statements(self.dialect):
                con.execute(statement)

    def load_airports(self, path: str) -> AirportsLoad:
        with self.connect() as con:
            read = common.read_airports(con, path)
            load_id = new_load_id()
            con.execute("BEGIN TRANSACTION")
            try:
                changes = common.airport_changes(con, schema.AIRPORTS)
                facts_loaded = bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {schema.FACT})").fetchall()[0][0])
                con.execute(f"INSERT OR REPLACE INTO {schema.AIRPORTS} {common.LATEST_AIRPORTS_SQL}")
                rejected, params = common.rejected_airports_select(load_id, path, utcnow())
                con.execute(f"INSERT INTO {schema.REJECTED_AIRPORTS} {rejected}", params)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return common.airports_outcome(
                con, read, load_id=load_id, source_file=path, changes=changes, facts_loaded=facts_loaded
            )

    def load_file(self, file: transform.PreparedFile, batch: Batch) -> LoadSummary:
        with self.connect() as con:
            loaded_at = utcnow()
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {schema.FACT} WHERE source_file = ?", [batch.source_file])

                def insert(select_sql: str, params: list[Any]) -> int:
                    return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

                counts = transform.load_rows(
                    con,
                    file,
                    insert,
                    dim_table=schema.AIRPORTS,
                    min_dep_delay=batch.min_dep_delay,
                    lineage=transform.fact_params(batch.flight_date, batch.source_file, batch.batch_id, loaded_at),
                )
                if counts.rows_read == 0:
                    raise NoDataRows(f"{batch.source_file} has the header but no data rows; nothing to load")
                con.execute(f"DELETE FROM {schema.REJECTED} WHERE source_file = ?", [batch.source_file])
                rejected, rejected_params = common.rejected_rows_select(batch, loaded_at)
                con.execute(f"INSERT INTO {schema.REJECTED} {rejected}", rejected_params)
                unknown = int(
                    con.execute(
                        f"""SELECT count(*) FROM {schema.FACT}
                            WHERE source_file = ? AND (dep_airport IS NULL OR arr_airport IS NULL)""",
                        [batch.source_file],
                    ).fetchone()[0]
                )
                summary = common.loaded_summary(
                    con,
                    batch,
                    counts,
                    file=file,
                    dim_table=schema.AIRPORTS,
                    unknown_airports=unknown,
                    created=self.path if self.created else None,
                )
                self._insert_audit(con, batch, summary, finished_at=utcnow())
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return summary

    def record_failure(self, batch: Batch, error: str) -> None:
        summary = batch.summary(schema.FAILED, error=error)
        try:
            with self.connect() as con:
                self._insert_audit(con, batch, summary, finished_at=utcnow())
        except Exception:  # the load's own error is what the caller reports
            log.exception("could not write the FAILED audit row for %s", batch.batch_id)

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        with self.connect(read_only=True) as con:
            cursor = con.execute(common.PLACEHOLDER.sub(r"$\1", sql), params or {})
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # --- helpers -------------------------------------------------------------------------------

    def _insert_audit(self, con: Any, batch: Batch, summary: LoadSummary, *, finished_at: Any) -> None:
        names = schema.column_names(schema.AUDIT_COLUMNS)
        con.execute(
            f"INSERT INTO {schema.AUDIT} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            common.audit_row(batch, summary, finished_at=finished_at),
        )


def _log_wait_once(path: str) -> Any:
    """tenacity hook: say once that we are waiting, not on every retry."""
    said = False

    def hook(state: tenacity.RetryCallState) -> None:
        nonlocal said
        if not said and state.outcome is not None:
            log.warning("waiting for %s: another process holds it (%s)", path, state.outcome.exception())
            said = True

    return hook
