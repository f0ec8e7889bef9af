"""The AWS warehouse: Amazon Redshift (Serverless or provisioned) through the Redshift Data API.

Why the Data API: the Glue Python shell job and the Lambdas have no network path into the
cluster's VPC, and need none. Writes are ``batch_execute_statement`` calls (up to 40 statements
run in order as ONE transaction, rolled back on any failure); reads go through
``awswrangler.data_api.redshift``.

A file load does the row work where it is cheap: a private in-memory DuckDB validates the file and
joins it with a copy of ``airports_dim`` (the same :mod:`airline_pipeline.transform` code as the
DuckDB warehouse), writes fact, rejected and audit rows as Parquet in each table's exact column
order (Parquet COPY is positional), and stages them in S3. One transaction then locks the three
tables (always in the same order, so concurrent loads queue instead of failing with
serializable-isolation errors), COPYs the files into temp tables, deletes the file's earlier
rows by joining on the staged audit row (no file name ever appears in SQL text) and inserts.

Only configuration values appear as SQL literals: the IAM role ARN and S3 URIs under the staging
prefix, both checked against strict patterns before they are quoted.

Every load is on record before it starts: one ``execute_statement`` commits a STARTED audit row;
the load's transaction deletes it as it inserts the LOADED row, and a failure updates it to
FAILED. A job killed outright (timeout, out of memory) leaves the STARTED row behind.

Staged objects are deleted after a successful load. A failed load leaves them for inspection:
give the staging prefix an S3 lifecycle rule (e.g. expire after 7 days) so leftovers go away.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.exceptions
import tenacity

from airline_pipeline import schema, transform
from airline_pipeline.core import schema_changes
from airline_pipeline.errors import ConfigError, LoadFailed, NoDataRows, WarehouseError
from airline_pipeline.models import AirportsLoad, Batch, LoadSummary, new_load_id, utcnow
from airline_pipeline.warehouse import common
from airline_pipeline.warehouse.base import Row, Warehouse

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_redshift_data.type_defs import DescribeStatementResponseTypeDef, SqlParameterTypeDef
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: ``describe_statement`` states of a statement that has not ended yet.
RUNNING = frozenset({"SUBMITTED", "PICKED", "STARTED"})
#: The Data API's limit on statements in one batch (one transaction).
MAX_BATCH_STATEMENTS = 40

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
# Conservative on purpose: no quote, backslash or whitespace can reach a literal.
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.()=+-]+)*/?")
# Redshift's naming rules, checked here so a typo fails before any call.
_WORKGROUP = re.compile(r"[a-z0-9-]{3,64}")
_CLUSTER_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]{0,127}")

_URI_HELP = (
    "redshift-data://<workgroup-or-cluster-id>/<database>?iam_role=<role ARN>&staging=s3://bucket/prefix/"
    "[&cluster=true&db_user=<user>|&secret_arn=<ARN>][&region=<region>]"
)
_OPTIONS = ("iam_role", "staging", "cluster", "db_user", "secret_arn", "region")

# Temp tables of the load transactions (each batch runs in its own session: no name clashes).
_STAGE = {schema.FACT: "stage_fact", schema.REJECTED: "stage_rejected", schema.AUDIT: "stage_audit"}
_STAGE_AIRPORTS = "stage_airports"
_COLUMNS = {
    schema.FACT: schema.FACT_COLUMNS,
    schema.REJECTED: schema.REJECTED_COLUMNS,
    schema.AUDIT: schema.AUDIT_COLUMNS,
}
_LOCAL_DIM = "airports_local"
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


# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedshiftTarget:
    """Where statements go and how COPY reads S3: the parsed ``redshift-data://`` URI."""

    #: Workgroup name (Serverless) or cluster identifier (``cluster=true``).
    name: str
    database: str
    iam_role: str
    #: ``s3://bucket/prefix/``, always ending in ``/``.
    staging: str
    cluster: bool = False
    db_user: Optional[str] = None
    secret_arn: Optional[str] = None
    region: Optional[str] = None

    @classmethod
    def from_uri(cls, uri: str) -> RedshiftTarget:
        """Parse and check the URI; every problem raises :class:`ConfigError` saying what is wrong."""
        parts = urlsplit(uri)
        if parts.scheme != "redshift-data":
            raise ConfigError(f"not a redshift-data URI: use {_URI_HELP}")
        name, database = parts.netloc, parts.path.strip("/")
        if not name:
            raise ConfigError(f"the URI names no workgroup or cluster: use {_URI_HELP}")
        if not database or "/" in database:
            raise ConfigError(f"the URI names no database (or more than one path segment): use {_URI_HELP}")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown redshift-data URI option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
        repeated = sorted(key for key, values in query.items() if len(values) > 1)
        if repeated:
            raise ConfigError(f"redshift-data URI option(s) given more than once: {', '.join(repeated)}")
        option = {key: values[0].strip() for key, values in query.items()}
        missing = [key for key in ("iam_role", "staging") if not option.get(key)]
        if missing:
            raise ConfigError(f"the redshift-data URI lacks {' and '.join(missing)}: use {_URI_HELP}")
        cluster_flag = option.get("cluster", "false").lower()
        if cluster_flag not in ("true", "false"):
            raise ConfigError(f"cluster must be true or false, not '{option['cluster']}'")
        cluster = cluster_flag == "true"
        db_user, secret_arn = option.get("db_user") or None, option.get("secret_arn") or None
        if db_user and secret_arn:
            raise ConfigError("give db_user or secret_arn, not both")
        if cluster and not (db_user or secret_arn):
            raise ConfigError("cluster=true needs db_user (temporary credentials) or secret_arn (Secrets Manager)")
        if db_user and not cluster:
            raise ConfigError("db_user works with provisioned clusters only: add cluster=true, or use secret_arn")
        rule = _CLUSTER_ID if cluster else _WORKGROUP
        if not rule.fullmatch(name):
            kind = "cluster identifier" if cluster else "workgroup name (add cluster=true for a provisioned cluster)"
            raise ConfigError(f"'{name}' is not a valid Redshift {kind}")
        staging = option["staging"] if option["staging"].endswith("/") else option["staging"] + "/"
        return cls(
            name=name,
            database=database,
            iam_role=_checked_role(option["iam_role"]),
            staging=_checked_s3_uri(staging),
            cluster=cluster,
            db_user=db_user,
            secret_arn=secret_arn,
            region=option.get("region") or None,
        )

    def connection_args(self) -> dict[str, str]:
        """The target and credentials of every Data API call (boto3 parameter names)."""
        args = {"Database": self.database}
        args["ClusterIdentifier" if self.cluster else "WorkgroupName"] = self.name
        if self.db_user:
            args["DbUser"] = self.db_user
        if self.secret_arn:
            args["SecretArn"] = self.secret_arn
        return args


def _checked_role(role: str) -> str:
    if role.lower() == "default" or _ROLE_ARN.fullmatch(role):
        return role
    raise ConfigError(f"iam_role '{role}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>) or 'default'")


def _checked_s3_uri(uri: str) -> str:
    if _S3_URI.fullmatch(uri):
        return uri
    raise ConfigError(
        f"'{uri}' is not a usable S3 URI: s3://<bucket>/<prefix>/ with letters, digits and !_.()=+- in the key"
    )


def _quote(value: str) -> str:
    """A SQL string literal; only for values already checked by :func:`_checked_role` / :func:`_checked_s3_uri`."""
    return "'" + value.replace("'", "''") + "'"


def role_sql(role: str) -> str:
    """The IAM role of a COPY or GRANT ASSUMEROLE: ``default`` or the checked ARN as a literal."""
    return "default" if role.lower() == "default" else _quote(_checked_role(role))


def staging_segment(batch_id: str) -> str:
    """``batch_id`` as one S3 key segment; an id with other characters is cleaned and made unique by a hash."""
    if _KEY_SEGMENT.fullmatch(batch_id):
        return batch_id
    cleaned = re.sub(r"[^A-Za-z0-9_.=+-]", "_", batch_id)[:100].lstrip("._=+-")
    return f"{cleaned or 'batch'}-{hashlib.sha256(batch_id.encode()).hexdigest()[:12]}"


# --- statements ----------------------------------------------------------------------------------


def copy_sql(table: str, s3_uri: str, iam_role: str) -> str:
    return f"COPY {table} FROM {_quote(_checked_s3_uri(s3_uri))} IAM_ROLE {role_sql(iam_role)} FORMAT AS PARQUET"


def copy_csv_sql(table: str, s3_uri: str, iam_role: str, *, columns: list[str]) -> str:
    """COPY of a CSV with a header row, named columns, empty fields as NULL (as DuckDB reads them)."""
    return (
        f"COPY {table} ({', '.join(columns)}) FROM {_quote(_checked_s3_uri(s3_uri))} IAM_ROLE {role_sql(iam_role)}"
        " CSV IGNOREHEADER 1 EMPTYASNULL"
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


def file_load_statements(staged: Mapping[str, Optional[str]], iam_role: str) -> list[str]:
    """The file load: one transaction replacing the file's fact and rejected rows and adding its audit row.

    ``staged`` maps each of fact, rejected and audit table to the S3 prefix holding its Parquet
    files, or None when there are no rows to copy (the table's earlier rows are still replaced).
    """
    tables = (schema.FACT, schema.REJECTED, schema.AUDIT)
    audit = _STAGE[schema.AUDIT]
    statements = [f"LOCK {', '.join(tables)}"]
    statements += [f"CREATE TEMP TABLE {_STAGE[table]} (LIKE {table})" for table in tables]
    statements += [copy_sql(_STAGE[table], uri, iam_role) for table in tables if (uri := staged.get(table))]
    statements += [
        # The file name comes from the staged audit row: no file name is ever written into SQL text.
        f"DELETE FROM {table} WHERE source_file IN (SELECT source_file FROM {audit})"
        for table in (schema.FACT, schema.REJECTED)
    ]
    # This attempt's STARTED row (same batch and start; unfinished): replaced by the staged LOADED row.
    statements.append(
        f"DELETE FROM {schema.AUDIT} WHERE finished_at IS NULL"
        f" AND batch_id IN (SELECT batch_id FROM {audit}) AND started_at IN (SELECT started_at FROM {audit})"
    )
    statements += [f"INSERT INTO {table} SELECT * FROM {_STAGE[table]}" for table in tables]
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

    return common.PLACEHOLDER.sub(placeholder, sql), bound


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


def _bare(table: str) -> str:
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


# --- the warehouse -------------------------------------------------------------------------------


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
        self.memory_limit = common.memory_limit(memory_limit)
        self.tmp_dir = tmp_dir
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
            self._data = self.session.client("redshift-data")
        return self._data

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = self.session.client("s3")
        return self._s3

    # --- the interface -----------------------------------------------------------------------

    def init_schema(self) -> None:
        self._run_batch(schema.create_statements(self.dialect), what="create the schema")
        existing = self.query(schema_changes.EXISTING_COLUMNS_SQL, {"schema": schema.SCHEMA})
        for statement in schema_changes.redshift_statements(existing):
            self._run_batch([statement], what=statement)

    def load_airports(self, path: str) -> AirportsLoad:
        workdir = tempfile.mkdtemp(prefix="airline-pipeline-airports-", dir=self.tmp_dir)
        try:
            prefix = f"{self.target.staging}airports/{uuid.uuid4().hex}/"
            load_id = new_load_id()
            con = self._duckdb(workdir)
            try:
                read = common.read_airports(con, path)
                self._copy_dimension(con)
                changes = common.airport_changes(con, _LOCAL_DIM)
                facts_loaded = bool(changes[1]) and bool(self.query(ANY_FACT)[0]["n"])
                staged = {}
                uploaded: list[str] = []
                rejected, params = common.rejected_airports_select(load_id, path, utcnow())
                for part, sql, columns, bind, rows in (
                    ("airports", common.LATEST_AIRPORTS_SQL, schema.AIRPORTS_COLUMNS, [], read.good),
                    ("rejected", rejected, schema.REJECTED_AIRPORTS_COLUMNS, params, read.rejected),
                ):
                    if rows:
                        local = os.path.join(workdir, f"{part}.parquet")
                        con.execute(
                            f"COPY ({parquet_select(sql, columns)}) TO {_duck_quote(local)} (FORMAT PARQUET)", bind
                        )
                        staged[part] = f"{prefix}{part}/"
                        uploaded.append(self._upload(local, f"{staged[part]}{part}.parquet"))
                outcome = common.airports_outcome(
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

    def load_file(self, file: transform.PreparedFile, batch: Batch) -> LoadSummary:
        self._record_start(batch)
        workdir = tempfile.mkdtemp(prefix="airline-pipeline-load-", dir=self.tmp_dir)
        try:
            summary, files = self._stage_locally(file, batch, workdir)
            prefix = f"{self.target.staging}{staging_segment(batch.batch_id)}/"
            staged: dict[str, Optional[str]] = {}
            uploaded: list[str] = []
            for table, part in (("fact", schema.FACT), ("rejected", schema.REJECTED), ("audit", schema.AUDIT)):
                uploads = [parquet for parquet, rows in files[part] if rows]
                for number, parquet in enumerate(uploads, start=1):
                    uploaded.append(self._upload(parquet, f"{prefix}{table}/part-{number}.parquet"))
                staged[part] = f"{prefix}{table}/" if uploads else None
            self._run_batch(
                file_load_statements(staged, self.target.iam_role), what=f"load batch {batch.batch_id}", staged=prefix
            )
            self._delete_staged(uploaded)
            return summary
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def record_failure(self, batch: Batch, error: str) -> None:
        """Update this attempt's STARTED row to FAILED; insert a FAILED row when it had none."""
        summary = batch.summary(schema.FAILED, error=error)
        row = common.audit_row(batch, summary, finished_at=utcnow())
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
        row = common.audit_row(batch, batch.summary(schema.STARTED), finished_at=None)
        sql, parameters = audit_insert(dict(zip(schema.column_names(schema.AUDIT_COLUMNS), row)))
        try:
            statement = self.data.execute_statement(Sql=sql, Parameters=parameters, **self._args())
        except botocore.exceptions.ClientError as exc:
            raise WarehouseError(f"could not record the start of batch {batch.batch_id}: {exc}") from exc
        self._wait(statement["Id"], what=f"record the start of batch {batch.batch_id}")
        self._started.add((batch.batch_id, batch.started_at))

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        frame = self._read(sql, params)
        # Plain Python values and None for NULL. awswrangler builds the frame from Python lists, so an
        # integer column with a NULL arrives as floats: convert_dtypes() makes it integers again.
        typed = frame.convert_dtypes().astype(object)
        records: list[Row] = typed.where(typed.notna(), None).to_dict("records")
        return records

    def _read(self, sql: str, params: Optional[dict[str, Any]] = None) -> Any:
        """A DataFrame read through ``awswrangler.data_api.redshift`` (imported here: only Redshift needs it)."""
        from awswrangler.data_api import redshift as data_api

        text, parameters = bind(params or {}, sql)
        target = self.target
        where = {"cluster_id": target.name} if target.cluster else {"workgroup_name": target.name}
        try:
            con = data_api.connect(
                database=target.database,
                secret_arn=target.secret_arn or "",
                db_user=target.db_user or "",
                boto3_session=self.session,
                **where,
            )
            try:
                return data_api.read_sql_query(text, con, parameters=[dict(p) for p in parameters] or None)
            finally:
                con.close()
        except Exception as exc:
            raise WarehouseError(f"Redshift query failed: {exc}") from exc

    # --- local work: validate, join, write Parquet ---------------------------------------------

    def _duckdb(self, workdir: str) -> Any:
        """A private DuckDB for the load's row work; imported here, so reads (the report Lambda) never need it."""
        import duckdb

        spill = os.path.join(workdir, "duckdb-tmp")
        return duckdb.connect(config={"memory_limit": self.memory_limit, "temp_directory": spill})

    def _stage_locally(
        self, file: transform.PreparedFile, batch: Batch, workdir: str
    ) -> tuple[LoadSummary, dict[str, list[tuple[str, int]]]]:
        """Validate and join the file in DuckDB; write each table's rows as Parquet under ``workdir``.

        Returns the summary and, per table, the files written with their row counts.
        """
        files: dict[str, list[tuple[str, int]]] = {schema.FACT: [], schema.REJECTED: [], schema.AUDIT: []}

        def write_parquet(table: str, select_sql: str, params: list[Any]) -> int:
            target = os.path.join(workdir, f"{_bare(table)}-{len(files[table]) + 1}.parquet")
            sql = f"COPY ({parquet_select(select_sql, _COLUMNS[table])}) TO {_duck_quote(target)} (FORMAT PARQUET)"
            rows = int(con.execute(sql, params).fetchall()[0][0])
            files[table].append((target, rows))
            return rows

        def write_fact(select_sql: str, params: list[Any]) -> int:
            return write_parquet(schema.FACT, select_sql, params)

        con = self._duckdb(workdir)
        try:
            self._copy_dimension(con)
            loaded_at = utcnow()
            counts = transform.load_rows(
                con,
                file,
                write_fact,
                dim_table=_LOCAL_DIM,
                min_dep_delay=batch.min_dep_delay,
                lineage=transform.fact_params(batch.flight_date, batch.source_file, batch.batch_id, loaded_at),
            )
            if counts.rows_read == 0:
                raise NoDataRows(f"{batch.source_file} has the header but no data rows; nothing to load")
            rejected, rejected_params = common.rejected_rows_select(batch, loaded_at)
            write_parquet(schema.REJECTED, rejected, rejected_params)
            fact_files = ", ".join(_duck_quote(parquet) for parquet, _ in files[schema.FACT])
            unknown = int(
                con.execute(
                    f"""SELECT count(*) FROM read_parquet([{fact_files}])
                        WHERE dep_airport IS NULL OR arr_airport IS NULL"""
                ).fetchall()[0][0]
            )
            summary = common.loaded_summary(
                con, batch, counts, file=file, dim_table=_LOCAL_DIM, unknown_airports=unknown
            )
            row = common.audit_row(batch, summary, finished_at=utcnow())
            names = schema.column_names(schema.AUDIT_COLUMNS)
            write_parquet(schema.AUDIT, "SELECT " + ", ".join(f"? AS {name}" for name in names), row)
        finally:
            con.close()
        return summary, files

    def _copy_dimension(self, con: Any) -> None:
        """``airports_dim`` from Redshift into the local table the join reads (thousands of rows)."""
        names = ", ".join(schema.column_names(schema.AIRPORTS_COLUMNS))
        frame = self._read(f"SELECT {names} FROM {schema.AIRPORTS}")
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.AIRPORTS_COLUMNS)
        con.execute(f"CREATE TABLE {_LOCAL_DIM} ({columns})")
        if len(frame):
            con.register("airports_frame", frame)
            con.execute(f"INSERT INTO {_LOCAL_DIM} SELECT {names} FROM airports_frame")
            con.unregister("airports_frame")

    # --- S3 staging ------------------------------------------------------------------------------

    def _upload(self, local: str, uri: str) -> str:
        """Put ``local`` at ``uri``; returns the URI (what the load later deletes)."""
        bucket, key = _split_s3(_checked_s3_uri(uri))
        self.s3.upload_file(local, bucket, key)
        return uri

    def _delete_staged(self, uris: list[str]) -> None:
        """Best effort: the load already committed; a lifecycle rule expires whatever is left.

        The objects this load uploaded, by key: no listing, so the job's role needs no s3:ListBucket.
        """
        for start in range(0, len(uris), 1000):  # DeleteObjects takes up to 1,000 keys
            chunk = [_split_s3(uri) for uri in uris[start : start + 1000]]
            try:
                self.s3.delete_objects(
                    Bucket=chunk[0][0],
                    Delete={"Objects": [{"Key": key} for _, key in chunk], "Quiet": True},
                )
            except Exception:
                log.warning("could not delete the staged objects %s...", uris[start], exc_info=True)

    # --- Data API ------------------------------------------------------------------------------

    def _args(self) -> dict[str, Any]:
        return dict(self.target.connection_args())

    def _run_batch(self, statements: list[str], *, what: str, staged: Optional[str] = None) -> None:
        """Run ``statements`` as one transaction and wait; raises LoadFailed with Redshift's reasons."""
        try:
            batch = self.data.batch_execute_statement(Sqls=statements, **self._args())
        except botocore.exceptions.ClientError as exc:
            raise WarehouseError(f"could not {what}: {exc}") from exc
        self._wait(batch["Id"], what=what, staged=staged)

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


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _duck_quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"
