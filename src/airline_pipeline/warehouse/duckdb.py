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
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import duckdb
import tenacity

from airline_pipeline import schema, transform
from airline_pipeline.errors import ConfigError, InvalidFile, NoDataRows, WarehouseBusy
from airline_pipeline.models import Batch, LoadSummary, utcnow
from airline_pipeline.warehouse.base import Row, Warehouse

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_AIRPORT_HEADER = ("airport_id", "city", "state", "name")


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: str, *, lock_timeout: float = 600.0, memory_limit: Optional[str] = None) -> None:
        self.path = str(Path(path).expanduser().resolve())
        self.lock_timeout = lock_timeout
        self.memory_limit = memory_limit or os.environ.get("AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT", "384MB")

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> DuckDBWarehouse:
        path = uri.split("://", 1)[1] if uri.startswith("duckdb://") else uri
        if not path:
            raise ConfigError(f"'{uri}' names no file: use duckdb:///abs/path/warehouse.duckdb")
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
            retry=tenacity.retry_if_exception(_is_lock_conflict),
            wait=tenacity.wait_exponential_jitter(initial=0.05, max=2.0),
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

    def load_airports(self, path: str) -> int:
        header = _read_first_line(path)
        if tuple(field.strip().lower() for field in header.split(",")) != _AIRPORT_HEADER:
            raise InvalidFile(f"{path}: expected header '{','.join(_AIRPORT_HEADER)}', found '{header}'")
        quoted = path.replace("'", "''")
        source = f"""read_csv('{quoted}', header = true, auto_detect = false, store_rejects = true,
                 quote = '"', escape = '"',
                 columns = {{'airport_id': 'BIGINT', 'city': 'VARCHAR', 'state': 'VARCHAR', 'name': 'VARCHAR'}})"""
        with self.connect() as con:
            con.execute("CREATE OR REPLACE TEMP TABLE airports_in AS SELECT * FROM " + source)
            bad = con.execute(
                "SELECT line, csv_line, error_message FROM reject_errors ORDER BY line LIMIT 5"
            ).fetchall()
            if bad:
                shown = "; ".join(f"line {line}: {text!r} ({message.splitlines()[0]})" for line, text, message in bad)
                raise InvalidFile(f"{path}: airports file has malformed rows, nothing loaded: {shown}")
            nulls = con.execute("SELECT count(*) FROM airports_in WHERE airport_id IS NULL").fetchone()[0]
            if nulls:
                raise InvalidFile(f"{path}: {nulls} rows have no airport_id, nothing loaded")
            count = int(con.execute("SELECT count(*) FROM airports_in").fetchone()[0])
            con.execute("BEGIN TRANSACTION")
            # The last row of a repeated id wins, as a sequence of upserts would have it.
            con.execute(
                f"""INSERT OR REPLACE INTO {schema.AIRPORTS} (airport_id, city, state, name)
                    SELECT airport_id, city, state, name FROM (
                        SELECT *, row_number() OVER (PARTITION BY airport_id ORDER BY rn DESC) AS pick
                        FROM (SELECT *, row_number() OVER () AS rn FROM airports_in)
                    ) WHERE pick = 1"""
            )
            con.execute("COMMIT")
            return count

    def load_file(self, path: str, batch: Batch) -> LoadSummary:
        with self.connect() as con:
            loaded_at = utcnow()
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {schema.FACT} WHERE source_file = ?", [batch.source_file])

                def insert(select_sql: str, params: list[Any]) -> int:
                    return int(con.execute(f"INSERT INTO {schema.FACT} {select_sql}", params).fetchall()[0][0])

                counts = transform.load_rows(
                    con,
                    path,
                    insert,
                    dim_table=schema.AIRPORTS,
                    min_dep_delay=batch.min_dep_delay,
                    lineage=transform.fact_params(batch.flight_date, batch.source_file, batch.batch_id, loaded_at),
                )
                if counts.rows_read == 0:
                    raise NoDataRows(f"{batch.source_file} has the header but no data rows; nothing to load")
                con.execute(f"DELETE FROM {schema.REJECTED} WHERE source_file = ?", [batch.source_file])
                rejected = transform.rejected_rows_sql()
                con.execute(
                    f"""INSERT INTO {schema.REJECTED}
                        SELECT ?, ?, ?, line_number, raw_line, reason, detail, ? FROM ({rejected})""",
                    [batch.batch_id, batch.source_file, batch.flight_date, loaded_at],
                )
                unknown = int(
                    con.execute(
                        f"""SELECT count(*) FROM {schema.FACT}
                            WHERE source_file = ? AND (dep_airport IS NULL OR arr_airport IS NULL)""",
                        [batch.source_file],
                    ).fetchone()[0]
                )
                summary = LoadSummary(
                    batch_id=batch.batch_id,
                    source_file=batch.source_file,
                    flight_date=batch.flight_date,
                    status=schema.LOADED,
                    rows_read=counts.rows_read,
                    rows_loaded=counts.rows_loaded,
                    rows_rejected=counts.rows_rejected,
                    rows_filtered=counts.rows_filtered,
                    blank_lines=counts.blank_lines,
                    unknown_airports=unknown,
                    unknown_airport_ids=(
                        transform.unknown_airport_ids(con, path, schema.AIRPORTS, batch.min_dep_delay)
                        if unknown
                        else []
                    ),
                    min_dep_delay=batch.min_dep_delay,
                )
                self._insert_audit(con, batch, summary, finished_at=utcnow())
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return summary

    def record_failure(self, batch: Batch, error: str) -> None:
        summary = LoadSummary(
            batch_id=batch.batch_id,
            source_file=batch.source_file,
            flight_date=batch.flight_date,
            status=schema.FAILED,
            min_dep_delay=batch.min_dep_delay,
            error=error,
        )
        try:
            with self.connect() as con:
                self._insert_audit(con, batch, summary, finished_at=utcnow())
        except Exception:  # the load's own error is what the caller reports
            log.exception("could not write the FAILED audit row for %s", batch.batch_id)

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        with self.connect(read_only=True) as con:
            cursor = con.execute(_PLACEHOLDER.sub(r"$\1", sql), params or {})
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # --- helpers -------------------------------------------------------------------------------

    def _insert_audit(self, con: Any, batch: Batch, summary: LoadSummary, *, finished_at: Any) -> None:
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
        names = schema.column_names(schema.AUDIT_COLUMNS)
        con.execute(
            f"INSERT INTO {schema.AUDIT} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [values[name] for name in names],
        )


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline().strip()
    except OSError as exc:
        raise InvalidFile(f"cannot read {path}: {exc}") from exc


def _log_wait_once(path: str) -> Any:
    """tenacity hook: say once that we are waiting, not on every retry."""
    said = False

    def hook(state: tenacity.RetryCallState) -> None:
        nonlocal said
        if not said and state.outcome is not None:
            log.warning("waiting for %s: another process holds it (%s)", path, state.outcome.exception())
            said = True

    return hook
