"""The embedded warehouse: one DuckDB file, used locally, in tests and by the demo.

DuckDB lets one process write a file at a time. Instead of failing when another load (or a
report) holds the file, every connection waits for the lock with jittered backoff, up to
``lock_timeout`` seconds; that is what makes ten concurrent ``ingest`` runs of one file end with
one copy of its rows.

Every load is on record before it starts: a STARTED audit row is committed first, and the load's
own transaction replaces it with the LOADED row (a failure, with the FAILED row). A process killed
outright (SIGKILL, power loss) leaves the STARTED row, so no attempt vanishes without a trace.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs

import duckdb
import tenacity

from airline_pipeline.adapters.warehouse import ports
from airline_pipeline.adapters.warehouse.duckdb_errors import raise_explained
from airline_pipeline.adapters.warehouse.duckdb_sink import (
    STAGED_AIRPORTS,
    DuckDBSink,
    StagingSink,
    apply_staged,
    close_started,
    copy_airports,
    insert_audit_row,
)
from airline_pipeline.adapters.warehouse.ports import Row, Warehouse
from airline_pipeline.core import schema, schema_changes
from airline_pipeline.core.errors import ConfigError, WarehouseBusy
from airline_pipeline.core.outcome import AirportsLoad, Batch, LoadSummary, new_load_id, utcnow
from airline_pipeline.engine import airports, load, scan

log = logging.getLogger(__name__)


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


#: How long a file that is "not a valid DuckDB database" counts as one another process is still creating.
_CREATION_SECONDS = 10.0


def _check_memory_limit(value: str, where: str) -> str:
    """DuckDB's own parser decides (``512MB``, ``2GiB``, ``75%``...); a bad value fails here, named.

    The default needs no check: starting a DuckDB instance for it was a sixth of a small file's load.
    """
    if value == load.DEFAULT_MEMORY_LIMIT:
        return value
    try:
        duckdb.connect(config={"memory_limit": value}).close()
    except duckdb.Error as exc:
        raise ConfigError(
            f"{where}: memory_limit '{value}' is not a memory size such as 512MB or 2GB ({exc})"
        ) from None
    return value


def _lock_timeout(value: str, uri: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"'{uri}': lock_timeout must be a number of seconds >= 0, not '{value}'")
    return seconds


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

    def __init__(
        self, path: str, *, lock_timeout: float = 600.0, memory_limit: Optional[str] = None, staging: bool = False
    ) -> None:
        self.path = str(Path(path).expanduser().resolve())
        #: Stage a load outside the warehouse and hold it only to apply (see ``duckdb_sink``).
        self.staging = staging
        #: Whether the file was missing when this object was made: a load then warns (a mistyped path?).
        self.created = not os.path.exists(self.path)
        self.lock_timeout = lock_timeout
        self.memory_limit = _check_memory_limit(
            load.memory_limit(memory_limit),
            "the warehouse URI" if memory_limit else "AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT",
        )

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> DuckDBWarehouse:
        """``duckdb:///abs/path.duckdb[?lock_timeout=SECONDS&memory_limit=512MB&staging=false]``."""
        location = uri.split("://", 1)[1] if uri.startswith("duckdb://") else uri
        path, _, query = location.partition("?")
        if not path:
            raise ConfigError(f"'{uri}' names no file: use duckdb:///abs/path/warehouse.duckdb")
        for name, values in parse_qs(query).items():
            if name == "lock_timeout":
                options.setdefault("lock_timeout", _lock_timeout(values[-1], uri))
            elif name == "memory_limit":
                options.setdefault("memory_limit", values[-1])
            elif name == "staging":
                options.setdefault("staging", _flag(values[-1], name, uri))
            else:
                raise ConfigError(f"'{uri}': unknown option {name} (known: lock_timeout, memory_limit, staging)")
        return cls(path, **options)

    @property
    def uri(self) -> str:
        return f"duckdb://{self.path}"

    # --- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False, staging: str = "") -> Iterator[Any]:
        """A connection to the file, waiting while another process holds it.

        Engine errors that say what is wrong with the file or the disk (not a database, no
        permission, disk full, damaged) become :class:`WarehouseUnavailable` with what to do; running
        out of the memory limit a :class:`WarehouseError` saying how to raise it.

        A read-only connection (reports, history) spills to a private temporary folder: under the
        load's memory limit a year of flights does not fit in memory, and the warehouse's own
        folder may not be writable for a reader. ``staging``: a load's staging folder, which the
        connection also writes (its disk is the warehouse's: a full disk there is explained the same way).
        """
        if read_only and not os.path.exists(self.path):
            raise ConfigError(f"no warehouse at {self.path}: run 'airline-pipeline init-warehouse' first")
        spill = tempfile.mkdtemp(prefix="airline-pipeline-read-") if read_only else self.path + ".tmp"
        try:
            try:
                if not read_only:
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                con = self._open_with_retry(read_only, spill)
            except (duckdb.Error, OSError) as exc:
                raise_explained(self.path, exc)
            try:
                yield con
            except duckdb.Error as exc:
                raise_explained(self.path, exc, about=(self.path, spill, *filter(None, [staging])))
            finally:
                with contextlib.suppress(duckdb.Error):  # after a fatal engine error; the cause is raised
                    con.close()
        finally:
            if read_only:
                shutil.rmtree(spill, ignore_errors=True)

    def _open_with_retry(self, read_only: bool, spill: str) -> Any:
        config = {"memory_limit": self.memory_limit, "temp_directory": spill}
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
            _create_schema(con)

    def init_schema_for_loads(self) -> None:
        """Nothing now: :meth:`load_file` and :meth:`record_failure` create the schema in their own connection."""

    def load_airports(self, path: str) -> AirportsLoad:
        with self.connect() as con:
            read = airports.read_airports(con, path)
            load_id = new_load_id()
            con.execute("BEGIN TRANSACTION")
            try:
                changes = airports.airport_changes(con, schema.AIRPORTS)
                facts_loaded = bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {schema.FACT})").fetchall()[0][0])
                con.execute(f"INSERT OR REPLACE INTO {schema.AIRPORTS} {airports.LATEST_AIRPORTS_SQL}")
                rejected, params = airports.rejected_airports_select(load_id, path, utcnow())
                con.execute(f"INSERT INTO {schema.REJECTED_AIRPORTS} {rejected}", params)
                con.execute("COMMIT")
            except BaseException:  # the real cause, never the ROLLBACK's own complaint
                _rollback(con)
                raise
            return airports.airports_outcome(
                con, read, load_id=load_id, source_file=path, changes=changes, facts_loaded=facts_loaded
            )

    def load_file(self, file: scan.PreparedFile, batch: Batch) -> LoadSummary:
        if not self.staging:
            return self._load_in_place(file, batch)
        with self._staging_dir() as stage_dir:
            stage = os.path.join(stage_dir, "stage.duckdb")
            with self.connect(staging=stage_dir) as con:
                _create_schema(con)
                # On record (committed) before any work; the apply's transaction replaces it.
                self._insert_audit(con, batch, batch.summary(schema.STARTED), finished_at=None)
                copy_airports(con, stage)
            # The warehouse is closed while the file is read, checked and joined: readers get in.
            with self._connect_stage(stage, stage_dir) as staging:
                sink = StagingSink(staging)
                created = self.path if self.created else None
                summary = load.load_file(staging, file, batch, sink, dim_table=STAGED_AIRPORTS, created=created)
            with self.connect(staging=stage_dir) as con:
                try:
                    apply_staged(con, stage, batch, sink)
                except BaseException:  # Ctrl-C too: nothing of a failed load may stay
                    _rollback(con)
                    raise
            return summary

    def _load_in_place(self, file: scan.PreparedFile, batch: Batch) -> LoadSummary:
        """The whole load inside one transaction on the warehouse (``?staging=false``)."""
        with self.connect() as con:
            _create_schema(con)
            # On record (committed) before any work; the load's transaction replaces it.
            self._insert_audit(con, batch, batch.summary(schema.STARTED), finished_at=None)
            try:
                sink = DuckDBSink(con, batch)
                created = self.path if self.created else None
                summary = load.load_file(con, file, batch, sink, dim_table=schema.AIRPORTS, created=created)
                sink.apply()
            except BaseException:  # Ctrl-C too: nothing of a failed load may stay
                _rollback(con)
                raise
            return summary

    @contextlib.contextmanager
    def _staging_dir(self) -> Iterator[str]:
        """A private folder next to the warehouse (its disk, not a small tmpfs) for one load's staging."""
        folder = Path(self.path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stage_dir = tempfile.mkdtemp(prefix=f".{Path(self.path).name}.stage-", dir=folder)
        except OSError as exc:
            raise_explained(self.path, exc)
        try:
            yield stage_dir
        finally:
            shutil.rmtree(stage_dir, ignore_errors=True)

    @contextlib.contextmanager
    def _connect_stage(self, stage: str, stage_dir: str) -> Iterator[Any]:
        """The staging database, under the load's memory limit, spilling into its own folder."""
        config: dict[str, Any] = {"memory_limit": self.memory_limit, "temp_directory": os.path.join(stage_dir, "spill")}
        try:
            con = duckdb.connect(stage, config=config)
        except duckdb.Error as exc:
            raise_explained(self.path, exc, about=(stage_dir,))
        try:
            yield con
        except duckdb.Error as exc:  # disk full while staging is the warehouse's disk: explain it the same way
            raise_explained(self.path, exc, about=(self.path, stage_dir))
        finally:
            with contextlib.suppress(duckdb.Error):
                con.close()

    def record_failure(self, batch: Batch, error: str) -> None:
        """The attempt's FAILED row, replacing its STARTED row when the load got that far."""
        summary = batch.summary(schema.FAILED, error=error)
        try:
            with self.connect() as con:
                _create_schema(con)
                con.execute("BEGIN TRANSACTION")
                close_started(con, batch)
                self._insert_audit(con, batch, summary, finished_at=utcnow())
                con.execute("COMMIT")
        except Exception:  # the load's own error is what the caller reports
            log.exception("could not write the FAILED audit row for %s", batch.batch_id)

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        with self.connect(read_only=True) as con:
            cursor = con.execute(ports.PLACEHOLDER.sub(r"$\1", sql), params or {})
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # --- helpers -------------------------------------------------------------------------------

    def _insert_audit(self, con: Any, batch: Batch, summary: LoadSummary, *, finished_at: Any) -> None:
        insert_audit_row(con, load.audit_row(batch, summary, finished_at=finished_at))


def _create_schema(con: Any) -> None:
    """The schema, its tables and the columns added since (each statement a no-op when done: ~4 ms)."""
    for statement in schema.create_statements(DuckDBWarehouse.dialect) + schema_changes.duckdb_statements():
        con.execute(statement)


def _flag(value: str, name: str, uri: str) -> bool:
    flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if value.lower() not in flags:
        raise ConfigError(f"'{uri}': {name} must be true or false, not '{value}'")
    return flags[value.lower()]


def _rollback(con: Any) -> None:
    """Roll back, quietly: after a disk-full or interrupted statement ROLLBACK may fail too, and its
    error ("transaction is aborted") must not replace the cause the user needs to see."""
    try:
        con.execute("ROLLBACK")
    except Exception as exc:
        log.debug("ROLLBACK after a failed load also failed (the connection is discarded): %s", exc)


def _log_wait_once(path: str) -> Any:
    """tenacity hook: say once that we are waiting, not on every retry."""
    said = False

    def hook(state: tenacity.RetryCallState) -> None:
        nonlocal said
        if not said and state.outcome is not None:
            log.warning("waiting for %s: another process holds it (%s)", path, state.outcome.exception())
            said = True

    return hook
