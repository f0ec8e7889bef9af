"""Deploy-time warehouse set-up: schema, the pipeline's database privileges, the shipped airports.

Run by the ``WarehouseBootstrap`` CloudFormation custom resource on every create and update, so
``sam deploy`` alone gives a working pipeline. Everything is idempotent (``IF NOT EXISTS``, principals
created only when missing, GRANT of a held privilege is a no-op, airports only into an empty table)
and nothing here ever drops, deletes or revokes: a stack delete leaves the data.

Redshift (as an administrator: ``RedshiftAdminSecretArn`` or, provisioned, ``RedshiftAdminDbUser``):

- The pipeline's IAM roles reach Redshift as database users the Data API derives from them
  (``IAMR:<role name>`` with IAM credentials; the URI's ``db_user`` on a provisioned cluster). Their
  privileges come from two database principals named here, never from those users by name:
  ``airline_pipeline_loader`` (the Glue job) and ``airline_pipeline_reader`` (the report step).
- Serverless, IAM credentials: database ROLES, which GetCredentials grants at sign-in from the
  ``RedshiftDbRoles`` tag on each IAM role ("Defining database roles to grant to federated users in
  Amazon Redshift Serverless").
- Provisioned with ``db_user``: database GROUPS, which the Data API joins for the session from the
  ``RedshiftDbGroups`` tag ("Joining database groups when connecting to a cluster"); the db user is
  created (password disabled) when missing, since GetClusterCredentials does not create it.
- With ``secret_arn`` the pipeline signs in as the secret's user: grant it the two roles yourself
  (README "Redshift: schema, grants and airports"); the bootstrap cannot know that user.

Locally (``duckdb://``) it creates the schema and loads the airports into the file when empty.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from airline_pipeline.adapters.warehouse.ports import Warehouse
from airline_pipeline.adapters.warehouse.redshift.sql import copy_csv_sql
from airline_pipeline.adapters.warehouse.redshift.target import RedshiftTarget, role_sql
from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse
from airline_pipeline.core import schema
from airline_pipeline.core.defaults import SHIPPED_AIRPORTS
from airline_pipeline.core.errors import ConfigError
from airline_pipeline.core.s3uri import S3Uri
from airline_pipeline.engine import airports

log = logging.getLogger(__name__)


LOADER = "airline_pipeline_loader"
READER = "airline_pipeline_reader"

#: What each principal's code runs, table by table (see the README for the statement each serves).
#: The Glue job's file load (``file_stage_statements``, then ``file_apply_statements``): temp tables LIKE fact,
#: rejected, audit (PostgreSQL, Redshift's base, requires SELECT on a LIKE source); COPY into the temp tables; LOCK the
#: three; DELETE the file's earlier fact/rejected rows (DELETE needs SELECT to read the WHERE columns); INSERT fact,
#: rejected, audit; the FAILED audit row (``failure_insert``); the dimension read (``_copy_dimension``). LOCK takes
#: ACCESS EXCLUSIVE, which Redshift documents without a privilege; PostgreSQL requires UPDATE or DELETE for it, so
#: load_audit gets DELETE for the LOCK alone. COPY errors come from sys_load_error_detail / stl_load_errors, which every
#: user may read for their own loads: no grant. tests/unit/test_warehouse_bootstrap.py derives this table from the
#: code's SQL.
LOADER_TABLE_PRIVILEGES = {
    schema.FACT: "SELECT, INSERT, DELETE",
    schema.REJECTED: "SELECT, INSERT, DELETE",
    schema.AUDIT: "SELECT, INSERT, DELETE",
    schema.AIRPORTS: "SELECT",
}
#: The report step's three reads (``steps.report.STATEMENTS``).
READER_TABLE_PRIVILEGES = {schema.AUDIT: "SELECT", schema.FACT: "SELECT", schema.REJECTED: "SELECT"}

_STAGE_AIRPORTS = "stage_airports"
_DB_USER = re.compile(r"[a-z_][a-z0-9_$.@+-]{0,126}", re.IGNORECASE)


@dataclass
class BootstrapResult:
    """What one run did (the custom resource's response data and log)."""

    warehouse: str
    created: list[str] = field(default_factory=list)
    grants: int = 0
    airports_loaded: int = 0

    def as_data(self) -> dict[str, str]:
        """CloudFormation response ``Data``: strings only."""
        return {
            "Warehouse": self.warehouse,
            "Created": ",".join(self.created),
            "Grants": str(self.grants),
            "AirportsLoaded": str(self.airports_loaded),
        }


# --- statements --------------------------------------------------------------------------------------


def _identifier(name: str) -> str:
    """A double-quoted identifier; only for names already checked by a strict pattern."""
    return '"' + name.replace('"', '""') + '"'


def grant_statements(kind: str, database: str, iam_role: str) -> list[str]:
    """Every GRANT the two principals need; ``kind`` is ROLE (Serverless) or GROUP (provisioned, db_user)."""
    if kind not in ("ROLE", "GROUP"):
        raise ValueError(f"grantee kind {kind!r}")
    statements = []
    for principal, tables in ((LOADER, LOADER_TABLE_PRIVILEGES), (READER, READER_TABLE_PRIVILEGES)):
        grantee = f"{kind} {principal}"
        statements.append(f"GRANT USAGE ON SCHEMA {schema.SCHEMA} TO {grantee}")
        statements += [f"GRANT {privileges} ON TABLE {table} TO {grantee}" for table, privileges in tables.items()]
    loader = f"{kind} {LOADER}"
    # The load's temp tables. PUBLIC holds TEMP by default; granted so a cluster that revoked it still works.
    statements.append(f"GRANT TEMP ON DATABASE {_identifier(database)} TO {loader}")
    # COPY ... IAM_ROLE: ASSUMEROLE is PUBLIC's until a superuser revokes it; granted for that case.
    statements.append(f"GRANT ASSUMEROLE ON {role_sql(iam_role)} TO {loader} FOR COPY")
    return statements


def principal_statements(kind: str, missing: list[str]) -> list[str]:
    """``CREATE ROLE`` / ``CREATE GROUP`` for the principals that do not exist yet (Redshift has no IF NOT EXISTS)."""
    return [f"CREATE {kind} {name}" for name in missing]


def existing_principals_sql(kind: str) -> str:
    """Which of the two principals exist (bound as ``:loader`` and ``:reader``)."""
    if kind == "ROLE":
        return "SELECT role_name AS name FROM svv_roles WHERE role_name IN (:loader, :reader)"
    return "SELECT groname AS name FROM pg_group WHERE groname IN (:loader, :reader)"


USER_EXISTS_SQL = "SELECT usename AS name FROM pg_user WHERE usename = :user"
AIRPORTS_COUNT_SQL = f"SELECT count(*) AS n FROM {schema.AIRPORTS}"


def airports_count(warehouse: Warehouse) -> int:
    return int(warehouse.query(AIRPORTS_COUNT_SQL)[0]["n"])


def create_user_statement(db_user: str) -> str:
    """The provisioned pipeline's db user, sign-in by GetClusterCredentials only (no password)."""
    if not _DB_USER.fullmatch(db_user):
        raise ConfigError(f"'{db_user}' is not a usable Redshift user name")
    return f"CREATE USER {_identifier(db_user)} PASSWORD DISABLE"


def airports_statements_csv(s3_uri: str, iam_role: str) -> list[str]:
    """Load the staged airports CSV into ``airports_dim`` only while it is empty (one transaction)."""
    dim = schema.AIRPORTS
    return [
        f"CREATE TEMP TABLE {_STAGE_AIRPORTS} (LIKE {dim})",
        copy_csv_sql(_STAGE_AIRPORTS, s3_uri, iam_role, columns=schema.column_names(schema.AIRPORTS_COLUMNS)),
        f"INSERT INTO {dim} SELECT * FROM {_STAGE_AIRPORTS} WHERE NOT EXISTS (SELECT 1 FROM {dim})",
    ]


# --- Redshift ------------------------------------------------------------------------------------------


class RedshiftBootstrap(RedshiftWarehouse):
    """The Redshift warehouse as its administrator: what ``bootstrap`` runs there."""

    def run_one(self, sql: str, *, what: str) -> None:
        """One statement in its own transaction (CREATE ROLE / GROUP / USER)."""
        statement = self.data.execute_statement(Sql=sql, **self._args())
        self._wait(statement["Id"], what=what)

    def ensure(self, result: BootstrapResult, pipeline_db_user: Optional[str]) -> None:
        kind = "GROUP" if pipeline_db_user else "ROLE"
        result.created += [statement.split(" ADD ", 1)[1] for statement in self.create_schema()]
        found = {row["name"] for row in self.query(existing_principals_sql(kind), {"loader": LOADER, "reader": READER})}
        for statement in principal_statements(kind, [p for p in (LOADER, READER) if p not in found]):
            self.run_one(statement, what=statement)
            result.created.append(statement.split(" ", 1)[1])
        if pipeline_db_user and not self.query(USER_EXISTS_SQL, {"user": pipeline_db_user}):
            self.run_one(create_user_statement(pipeline_db_user), what=f"create the db user {pipeline_db_user}")
            result.created.append(f"USER {pipeline_db_user}")
        grants = grant_statements(kind, self.target.database, self.target.iam_role)
        self._run_batch(grants, what="grant the pipeline's privileges")
        result.grants = len(grants)
        if airports_count(self) == 0:
            result.airports_loaded = self.copy_airports(SHIPPED_AIRPORTS)

    def copy_airports(self, path: Path) -> int:
        """Stage the CSV under the staging prefix and COPY it in (no DuckDB in the bootstrap Lambda)."""
        data = path.read_bytes()
        header = data.split(b"\n", 1)[0].decode("utf-8-sig").strip().lower()
        if tuple(part.strip() for part in header.split(",")) != airports.AIRPORT_HEADER:
            raise ConfigError(f"{path}: expected header {','.join(airports.AIRPORT_HEADER)}")
        staged = f"{self.target.staging}bootstrap/{hashlib.sha256(data).hexdigest()[:16]}/airports.csv"
        self._upload(str(path), staged)
        self._run_batch(airports_statements_csv(staged, self.target.iam_role), what="load the airports", staged=staged)
        location = S3Uri.parse(staged)
        try:  # the staging lifecycle rule removes it anyway
            self.s3.delete_object(Bucket=location.bucket, Key=location.key)
        except Exception:
            log.warning("could not delete the staged %s", staged, exc_info=True)
        return airports_count(self)


@dataclass(frozen=True)
class SignIn:
    """The deploy parameters that say how the bootstrap (an administrator) and the pipeline sign in."""

    admin_secret_arn: str = ""
    admin_db_user: str = ""
    #: The WarehouseUri's db_user (RedshiftDbUser), repeated because IAM policies cannot parse the URI.
    pipeline_db_user: str = ""
    database: str = ""

    def admin_target(self, target: RedshiftTarget) -> RedshiftTarget:
        """The URI's target with the administrator's credentials; checks the parameters agree with the URI."""
        if bool(self.admin_secret_arn) == bool(self.admin_db_user):
            raise ConfigError(
                "the warehouse bootstrap needs an administrator: set RedshiftAdminSecretArn (Serverless or"
                " provisioned) or RedshiftAdminDbUser (provisioned), exactly one"
            )
        if self.admin_db_user and not target.cluster:
            raise ConfigError("RedshiftAdminDbUser works with provisioned clusters only: use RedshiftAdminSecretArn")
        if (target.db_user or "") != self.pipeline_db_user:
            raise ConfigError(
                f"RedshiftDbUser ('{self.pipeline_db_user}') must be the WarehouseUri's db_user"
                f" ('{target.db_user or ''}'): IAM grants GetClusterCredentials for that user"
            )
        if self.pipeline_db_user and self.database != target.database:
            raise ConfigError(
                f"RedshiftDatabase ('{self.database}') must be the WarehouseUri's database ('{target.database}')"
            )
        return dataclasses.replace(target, secret_arn=self.admin_secret_arn or None, db_user=self.admin_db_user or None)


# --- the entry point -----------------------------------------------------------------------------------


def bootstrap_warehouse(
    uri: str, sign_in: Optional[SignIn] = None, *, timeout: float = 240.0, **options: Any
) -> BootstrapResult:
    """Create what is missing in the warehouse ``uri`` names; safe to run any number of times.

    ``timeout``: seconds a Redshift statement may take (the custom resource Lambda runs up to 300 s).
    """
    from airline_pipeline.adapters.warehouse import describe, open_warehouse

    result = BootstrapResult(warehouse=describe(uri))
    if uri.startswith("redshift-data://"):
        target = RedshiftTarget.from_uri(uri)
        admin = (sign_in or SignIn()).admin_target(target)
        RedshiftBootstrap(admin, timeout=timeout, **options).ensure(result, target.db_user)
        return result
    with open_warehouse(uri, **options) as warehouse:
        warehouse.init_schema()
        if airports_count(warehouse) == 0:
            warehouse.load_airports(str(SHIPPED_AIRPORTS))
            result.airports_loaded = airports_count(warehouse)
    return result
