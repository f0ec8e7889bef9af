"""The AWS warehouse: Amazon Redshift (Serverless or provisioned) through the Redshift Data API.

Why the Data API: the Glue Python shell job and the Lambdas have no network path into the
cluster's VPC, and need none. Writes are ``batch_execute_statement`` calls (up to 40 statements
run in order as ONE transaction, rolled back on any failure); reads go through
``awswrangler.data_api.redshift``.

A file load does the row work where it is cheap: a private in-memory DuckDB validates the file and
joins it with a copy of ``airports_dim`` (the same :mod:`airline_pipeline.engine.scan` code as the
DuckDB warehouse), writes fact, rejected and audit rows as Parquet in each table's exact column
order (Parquet COPY is positional), and stages them in S3. Then two transactions in ONE Data API
session (``SessionKeepAliveSeconds`` on the first batch, its ``SessionId`` on the second; temp tables
live as long as the session): the first COPYs the files into temp tables and touches no table a
reader sees; the second locks the three tables (first statement, so its snapshot follows the lock;
always in the same order, so concurrent loads queue instead of failing with serializable-isolation
errors), deletes the file's earlier rows by joining on the staged audit row (no file name ever
appears in SQL text) and inserts. Readers wait only for DELETE + INSERT. If the first batch fails,
nothing changed; if the session is gone before the second (expired, or the Data API refuses it),
the second fails whole and the load is recorded FAILED - a file is never half loaded.

Only configuration values appear as SQL literals: the IAM role ARN and S3 URIs under the staging
prefix, both checked against strict patterns before they are quoted.

Every load is on record before it starts: one ``execute_statement`` commits a STARTED audit row;
the load's transaction deletes it as it inserts the LOADED row, and a failure updates it to
FAILED. A job killed outright (timeout, out of memory) leaves the STARTED row behind.

Staged objects are deleted after a successful load. A failed load leaves them for inspection:
give the staging prefix an S3 lifecycle rule (e.g. expire after 7 days) so leftovers go away.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

import boto3
import botocore.exceptions
import tenacity

from airline_pipeline.adapters import aws
from airline_pipeline.adapters.warehouse.ports import Row, Warehouse
from airline_pipeline.adapters.warehouse.redshift.reader import RedshiftReader
from airline_pipeline.adapters.warehouse.redshift.sink import ParquetSink, duck_quote
from airline_pipeline.adapters.warehouse.redshift.sql import (
    ANY_FACT,
    LOAD_ERRORS_PROVISIONED,
    LOAD_ERRORS_SERVERLESS,
    airports_statements,
    audit_insert,
    failure_update,
    parquet_select,
)
from airline_pipeline.adapters.warehouse.redshift.target import (
    RedshiftTarget,
    checked_s3_uri,
)
from airline_pipeline.core import schema, schema_changes
from airline_pipeline.core.errors import LoadFailed, WarehouseError
from airline_pipeline.core.outcome import AirportsLoad, Batch, LoadSummary, new_load_id, utcnow
from airline_pipeline.core.s3uri import S3Uri
from airline_pipeline.engine import airports, load, scan

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_redshift_data.type_defs import DescribeStatementResponseTypeDef
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: ``describe_statement`` states of a statement that has not ended yet.
RUNNING = frozenset({"SUBMITTED", "PICKED", "STARTED"})
#: How long the Data API keeps a load's session after its staging batch ends: the apply batch follows
#: within one status poll (``poll_max``, 10 s); the margin covers throttled calls. Temp tables go with it.
SESSION_KEEP_ALIVE_SECONDS = 300


# --- the warehouse -------------------------------------------------------------------------------


_LOCAL_DIM = "airports_local"


class RedshiftWarehouse(Warehouse):
    """Redshift through the Data API; see the module docstring for how a load runs."""

    dialect = "redshift"

    def __init__(
        self,
        target: RedshiftTarget,
        *,
        boto3_session: Optional[boto3.Session] = None,
        timeout: float = 900.0,
        poll_initial: float = 0.5,
        poll_max: float = 10.0,
        memory_limit: Optional[str] = None,
        tmp_dir: Optional[str] = None,
    ) -> None:
        """``timeout``: seconds a statement may take before it is cancelled; ``poll_*``: describe backoff."""
        self.target = target
        self.session = boto3_session or boto3.Session(region_name=target.region)
        self.timeout = timeout
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.memory_limit = load.memory_limit(memory_limit)
        self.tmp_dir = tmp_dir
        self.reader = RedshiftReader(target, self.session)
        self._data: Optional[RedshiftDataAPIServiceClient] = None
        self._s3: Optional[S3Client] = None
        #: (batch_id, started_at) of the attempts whose STARTED row this object committed.
        self._started: set[tuple[str, datetime]] = set()

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> RedshiftWarehouse:
        return cls(RedshiftTarget.from_uri(uri), **options)

    @property
    def data(self) -> RedshiftDataAPIServiceClient:
        if self._data is None:
            self._data = aws.client("redshift-data", session=self.session)
        return self._data

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = aws.client("s3", session=self.session)
        return self._s3

    # --- the interface -----------------------------------------------------------------------

    def init_schema(self) -> None:
        self.create_schema()

    def create_schema(self) -> list[str]:
        """Create what is missing; returns the ``ALTER TABLE … ADD COLUMN`` statements an older warehouse needed."""
        self._run_batch(schema.create_statements(self.dialect), what="create the schema")
        existing = self.query(schema_changes.EXISTING_COLUMNS_SQL, {"schema": schema.SCHEMA})
        added = schema_changes.redshift_statements(existing)
        for statement in added:
            self._run_batch([statement], what=statement)
        return added

    def load_airports(self, path: str) -> AirportsLoad:
        workdir = tempfile.mkdtemp(prefix="airline-pipeline-airports-", dir=self.tmp_dir)
        try:
            prefix = f"{self.target.staging}airports/{uuid.uuid4().hex}/"
            load_id = new_load_id()
            con = self._duckdb(workdir)
            try:
                read = airports.read_airports(con, path)
                self._copy_dimension(con)
                changes = airports.airport_changes(con, _LOCAL_DIM)
                facts_loaded = bool(changes[1]) and bool(self.query(ANY_FACT)[0]["n"])
                staged = {}
                uploaded: list[str] = []
                rejected, params = airports.rejected_airports_select(load_id, path, utcnow())
                for part, sql, columns, bind, rows in (
                    ("airports", airports.LATEST_AIRPORTS_SQL, schema.AIRPORTS_COLUMNS, [], read.good),
                    ("rejected", rejected, schema.REJECTED_AIRPORTS_COLUMNS, params, read.rejected),
                ):
                    if rows:
                        local = os.path.join(workdir, f"{part}.parquet")
                        con.execute(
                            f"COPY ({parquet_select(sql, columns)}) TO {duck_quote(local)} (FORMAT PARQUET)", bind
                        )
                        staged[part] = f"{prefix}{part}/"
                        uploaded.append(self._upload(local, f"{staged[part]}{part}.parquet"))
                outcome = airports.airports_outcome(
                    con, read, load_id=load_id, source_file=path, changes=changes, facts_loaded=facts_loaded
                )
            finally:
                con.close()
            statements = airports_statements(staged.get("airports"), self.target.iam_role, staged.get("rejected"))
            if statements:
                self._run_batch(statements, what="upsert the airports", staged=prefix)
                self._delete_staged(uploaded)
            return outcome
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def load_file(self, file: scan.PreparedFile, batch: Batch) -> LoadSummary:
        self._record_start(batch)
        workdir = tempfile.mkdtemp(prefix="airline-pipeline-load-", dir=self.tmp_dir)
        try:
            con = self._duckdb(workdir)
            try:
                self._copy_dimension(con)
                sink = ParquetSink(self, con, batch, workdir)
                summary = load.load_file(con, file, batch, sink, dim_table=_LOCAL_DIM)
            finally:
                con.close()
            sink.apply()
            return summary
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def record_failure(self, batch: Batch, error: str) -> None:
        """Update this attempt's STARTED row to FAILED; insert a FAILED row when it had none."""
        summary = batch.summary(schema.FAILED, error=error)
        row = load.audit_row(batch, summary, finished_at=utcnow())
        values = dict(zip(schema.column_names(schema.AUDIT_COLUMNS), row))
        started = (batch.batch_id, batch.started_at) in self._started
        sql, parameters = failure_update(values) if started else audit_insert(values)
        try:
            statement = self.data.execute_statement(Sql=sql, Parameters=parameters, **self._args())
            self._wait(statement["Id"], what="record the failed load")
        except Exception:  # the load's own error is what the caller reports
            log.exception("could not write the FAILED audit row for %s", batch.batch_id)

    def _record_start(self, batch: Batch) -> None:
        """Commit the attempt's STARTED row before any work (one statement; values are parameters)."""
        row = load.audit_row(batch, batch.summary(schema.STARTED), finished_at=None)
        sql, parameters = audit_insert(dict(zip(schema.column_names(schema.AUDIT_COLUMNS), row)))
        try:
            statement = self.data.execute_statement(Sql=sql, Parameters=parameters, **self._args())
        except botocore.exceptions.ClientError as exc:
            raise WarehouseError(f"could not record the start of batch {batch.batch_id}: {exc}") from exc
        self._wait(statement["Id"], what=f"record the start of batch {batch.batch_id}")
        self._started.add((batch.batch_id, batch.started_at))

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        return self.reader.query(sql, params)

    # --- local work: validate, join, write Parquet ---------------------------------------------

    def _duckdb(self, workdir: str) -> Any:
        """A private DuckDB for the load's row work; imported here, so reads (the report Lambda) never need it."""
        import duckdb

        spill = os.path.join(workdir, "duckdb-tmp")
        return duckdb.connect(config={"memory_limit": self.memory_limit, "temp_directory": spill})

    def _copy_dimension(self, con: Any) -> None:
        """``airports_dim`` from Redshift into the local table the join reads (thousands of rows)."""
        names = ", ".join(schema.column_names(schema.AIRPORTS_COLUMNS))
        frame = self.reader.frame(f"SELECT {names} FROM {schema.AIRPORTS}")
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.AIRPORTS_COLUMNS)
        con.execute(f"CREATE TABLE {_LOCAL_DIM} ({columns})")
        if len(frame):
            con.register("airports_frame", frame)
            con.execute(f"INSERT INTO {_LOCAL_DIM} SELECT {names} FROM airports_frame")
            con.unregister("airports_frame")

    # --- S3 staging ------------------------------------------------------------------------------

    def _upload(self, local: str, uri: str) -> str:
        """Put ``local`` at ``uri``; returns the URI (what the load later deletes)."""
        staged = S3Uri.parse(checked_s3_uri(uri))
        self.s3.upload_file(local, staged.bucket, staged.key)
        return uri

    def _delete_staged(self, uris: list[str]) -> None:
        """Best effort: the load already committed; a lifecycle rule expires whatever is left.

        The objects this load uploaded, by key: no listing, so the job's role needs no s3:ListBucket.
        """
        for start in range(0, len(uris), 1000):  # DeleteObjects takes up to 1,000 keys
            chunk = [S3Uri.parse(uri) for uri in uris[start : start + 1000]]
            try:
                self.s3.delete_objects(
                    Bucket=chunk[0].bucket,
                    Delete={"Objects": [{"Key": staged.key} for staged in chunk], "Quiet": True},
                )
            except Exception:
                log.warning("could not delete the staged objects %s...", uris[start], exc_info=True)

    # --- Data API ------------------------------------------------------------------------------

    def _args(self) -> dict[str, Any]:
        return dict(self.target.connection_args())

    def _run_batch(
        self, statements: list[str], *, what: str, staged: Optional[str] = None, session: Optional[str] = None
    ) -> None:
        """Run ``statements`` as one transaction and wait; raises LoadFailed with Redshift's reasons.

        ``session``: a Data API session of this load (its temp tables); the call then names only it,
        as the Data API's session examples do.
        """
        args: dict[str, Any] = {"SessionId": session} if session else self._args()
        try:
            batch = self.data.batch_execute_statement(Sqls=statements, **args)
        except botocore.exceptions.ClientError as exc:
            raise WarehouseError(f"could not {what}: {exc}") from exc
        self._wait(batch["Id"], what=what, staged=staged)

    def _stage_batch(self, statements: list[str], *, what: str, staged: str) -> str:
        """Run ``statements`` as one transaction in a new session kept alive for the next batch; its ``SessionId``."""
        try:
            batch = self.data.batch_execute_statement(
                Sqls=statements, SessionKeepAliveSeconds=SESSION_KEEP_ALIVE_SECONDS, **self._args()
            )
        except botocore.exceptions.ClientError as exc:
            raise WarehouseError(f"could not {what}: {exc}") from exc
        self._wait(batch["Id"], what=what, staged=staged)
        session = batch.get("SessionId")
        if not session:
            raise WarehouseError(f"could not {what}: the Data API returned no SessionId for the staged rows")
        return session

    def _wait(self, statement_id: str, *, what: str, staged: Optional[str] = None) -> None:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda described: described["Status"] in RUNNING),
            wait=tenacity.wait_exponential(multiplier=self.poll_initial, max=self.poll_max),
            stop=tenacity.stop_after_delay(self.timeout),
        )
        try:
            described: DescribeStatementResponseTypeDef = retrying(self.data.describe_statement, Id=statement_id)
        except tenacity.RetryError:
            self._cancel(statement_id)
            raise LoadFailed(f"could not {what}: still running after {self.timeout:.0f}s, cancelled") from None
        if described["Status"] == "FINISHED":
            return
        error = _statement_error(described)
        details = self._load_errors(staged) if staged else ""
        raise LoadFailed(f"could not {what}: Redshift says {described['Status']}: {error}", details or error)

    def _cancel(self, statement_id: str) -> None:
        try:
            self.data.cancel_statement(Id=statement_id)
        except Exception:
            log.warning("could not cancel statement %s", statement_id, exc_info=True)

    def _load_errors(self, staged: str) -> str:
        """The newest COPY errors for files under ``staged``: what the notification should show."""
        sql = LOAD_ERRORS_PROVISIONED if self.target.cluster else LOAD_ERRORS_SERVERLESS
        try:
            rows = self.query(sql, {"staged": staged + "%"})
        except Exception:
            log.warning("could not read the COPY errors for %s", staged, exc_info=True)
            return ""
        return "; ".join(
            f"{row['file_name']} line {row['line_number']} column {row['column_name']}: "
            f"{row['error_message']} (code {row['error_code']})"
            for row in rows
        )


def _statement_error(described: DescribeStatementResponseTypeDef) -> str:
    """The error of a failed statement; for a batch, which of its statements failed."""
    for position, sub in enumerate(described.get("SubStatements", []), start=1):
        if sub.get("Status") in ("FAILED", "ABORTED"):
            # The Id ends in ":<n>", the statement's 1-based place in the batch.
            head, _, suffix = sub["Id"].rpartition(":")
            number = suffix if head and suffix.isdigit() else str(position)
            first_words = " ".join(sub.get("QueryString", "").split()[:3])
            return f"statement {number} ({first_words} ...): {sub.get('Error') or described.get('Error', '')}"
    return described.get("Error") or "no error message"
