"""The deploy-time warehouse bootstrap: schema, the pipeline's database privileges, the shipped airports.

Redshift is not available here: the Data API is botocore's Stubber (the exact call sequence and
parameters), S3 is moto, and every statement is parsed with sqlglot's Redshift dialect. The
privileges are checked against the SQL the pipeline's own code sends, statement by statement. The
DuckDB path runs on a real file. The custom resource answers CloudFormation on a local HTTP server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

import boto3
import duckdb
import pytest
import sqlglot
from botocore.stub import Stubber
from lambda_support import load_event
from moto import mock_aws
from redshift_doubles import (
    BUCKET,
    CLUSTER,
    CLUSTER_URI,
    DATABASE,
    ROLE,
    STAGING,
    URI,
    WORKGROUP,
    StubbedSession,
    expect_read,
)
from sqlglot import exp
from test_redshift_sql import BATCH, failure, file_load

from airline_pipeline.adapters.warehouse import bootstrap
from airline_pipeline.adapters.warehouse.bootstrap import (
    LOADER,
    LOADER_TABLE_PRIVILEGES,
    READER,
    READER_TABLE_PRIVILEGES,
    BootstrapResult,
    SignIn,
    bootstrap_warehouse,
)
from airline_pipeline.core import schema, schema_changes
from airline_pipeline.core.defaults import SHIPPED_AIRPORTS
from airline_pipeline.core.errors import ConfigError
from airline_pipeline.steps.verify_load import STATEMENTS as REPORT_STATEMENTS

Invoke = Callable[..., Any]
Sent = list[tuple[str, str, list[dict[str, str]]]]

ADMIN_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift!analytics-admin-a1B2c3"
SERVERLESS_ADMIN = {"Database": DATABASE, "WorkgroupName": WORKGROUP, "SecretArn": ADMIN_SECRET}
CLUSTER_ADMIN = {"Database": DATABASE, "ClusterIdentifier": CLUSTER, "DbUser": "awsuser"}
SHIPPED_ROWS = sum(1 for _ in SHIPPED_AIRPORTS.open()) - 1

#: Statements sqlglot does not model (it falls back to a bare Command), matched against the grammar
#: the Redshift docs give (CREATE ROLE, CREATE GROUP, CREATE USER, GRANT ASSUMEROLE).
DOCUMENTED_GRAMMAR = [
    re.compile(r"CREATE ROLE [a-z_]+"),
    re.compile(r"CREATE GROUP [a-z_]+"),
    re.compile(r'CREATE USER "[A-Za-z0-9_$.@+-]+" PASSWORD DISABLE'),
    re.compile(
        r"GRANT ASSUMEROLE ON ('arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+'|default)"
        r" TO (ROLE|GROUP) [a-z_]+ FOR COPY"
    ),
]


# --- a stubbed Redshift ----------------------------------------------------------------------------------


def expect_statement(stubber: Stubber, statement_id: str, args: dict[str, str], sql: Optional[str] = None) -> None:
    """One ``execute_statement`` that finishes (``sql=None``: any SQL)."""
    expected = None if sql is None else {"Sql": sql, **args}
    stubber.add_response("execute_statement", {"Id": statement_id}, expected)
    stubber.add_response("describe_statement", {"Id": statement_id, "Status": "FINISHED"}, {"Id": statement_id})


def expect_rows(
    stubber: Stubber,
    statement_id: str,
    args: dict[str, str],
    sql: str,
    rows: list[list[Any]],
    *,
    parameters: Optional[list[dict[str, str]]] = None,
) -> None:
    """A read through the package's one Redshift reader (awswrangler's Data API reader)."""
    column = "name" if "count" not in sql else "n"
    expect_read(
        stubber,
        sql,
        [column],
        [tuple(row) for row in rows],
        args=args,
        parameters=parameters,
        statement_id=statement_id,
    )


def expect_columns(stubber: Stubber, args: dict[str, str], rows: list[tuple[str, str]]) -> None:
    """The read of the tables' columns (which added columns an older warehouse lacks), through the reader."""
    parameters = [{"name": "schema", "value": schema.SCHEMA}]
    expect_read(
        stubber,
        schema_changes.EXISTING_COLUMNS_SQL,
        ["table_name", "column_name"],
        rows,
        args=args,
        parameters=parameters,
        statement_id="columns",
    )


def expect_batch(stubber: Stubber, statement_id: str, args: dict[str, str], sqls: Optional[list[str]] = None) -> None:
    stubber.add_response(
        "batch_execute_statement", {"Id": statement_id}, None if sqls is None else {"Sqls": sqls, **args}
    )
    stubber.add_response("describe_statement", {"Id": statement_id, "Status": "FINISHED"}, {"Id": statement_id})


def expect_bootstrap(
    stubber: Stubber,
    args: dict[str, str],
    *,
    kind: str,
    existing: list[str],
    airports: int,
    db_user: Optional[str] = None,
    user_exists: bool = True,
    older_audit: bool = False,
) -> None:
    """The call sequence of one bootstrap run against a warehouse in the given state.

    ``older_audit``: the audit table predates the added columns (a warehouse of an earlier release).
    """
    expect_batch(stubber, "schema", args, schema.create_statements("redshift"))
    added = [(table.split(".")[1], name) for table, name, _ in schema_changes.ADDED_COLUMNS]
    expect_columns(stubber, args, [("load_audit", "batch_id")] if older_audit else added)
    if older_audit:
        for number, statement in enumerate(schema_changes.redshift_statements([]), start=1):
            expect_batch(stubber, f"alter-{number}", args, [statement])
    principals = bootstrap.existing_principals_sql(kind)
    names = [{"name": "loader", "value": LOADER}, {"name": "reader", "value": READER}]
    expect_rows(stubber, "principals", args, principals, [[name] for name in existing], parameters=names)
    for principal in (LOADER, READER):
        if principal not in existing:
            expect_statement(stubber, f"create-{principal}", args, f"CREATE {kind} {principal}")
    if db_user:
        found = [[db_user]] if user_exists else []
        user = [{"name": "user", "value": db_user}]
        expect_rows(stubber, "user", args, bootstrap.USER_EXISTS_SQL, found, parameters=user)
        if not user_exists:
            expect_statement(stubber, "create-user", args, f'CREATE USER "{db_user}" PASSWORD DISABLE')
    expect_batch(stubber, "grants", args, bootstrap.grant_statements(kind, DATABASE, ROLE))
    expect_rows(stubber, "count", args, bootstrap.AIRPORTS_COUNT_SQL, [[airports]])
    if airports == 0:
        expect_batch(stubber, "airports", args)
        expect_rows(stubber, "count-after", args, bootstrap.AIRPORTS_COUNT_SQL, [[SHIPPED_ROWS]])


def run(uri: str, expect: Callable[[Stubber], None], sign_in: SignIn) -> tuple[BootstrapResult, Sent, list[str]]:
    """Bootstrap ``uri`` against the stubbed Data API; returns the result, what was sent, and what S3 keeps."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        session = StubbedSession()
        expect(session.stubber)
        with session.stubber:
            result = bootstrap_warehouse(uri, sign_in, boto3_session=session, poll_initial=0)
            session.stubber.assert_no_pending_responses()
        kept = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        return result, session.sent, kept


def serverless(
    existing: list[str], airports: int, *, older_audit: bool = False
) -> tuple[BootstrapResult, Sent, list[str]]:
    return run(
        URI,
        lambda stubber: expect_bootstrap(
            stubber, SERVERLESS_ADMIN, kind="ROLE", existing=existing, airports=airports, older_audit=older_audit
        ),
        SignIn(admin_secret_arn=ADMIN_SECRET),
    )


def provisioned(existing: list[str], airports: int, *, user_exists: bool) -> tuple[BootstrapResult, Sent, list[str]]:
    return run(
        CLUSTER_URI,
        lambda stubber: expect_bootstrap(
            stubber,
            CLUSTER_ADMIN,
            kind="GROUP",
            existing=existing,
            airports=airports,
            db_user="loader",
            user_exists=user_exists,
        ),
        SignIn(admin_db_user="awsuser", pipeline_db_user="loader", database=DATABASE),
    )


SCENARIOS = {
    "serverless-first": lambda: serverless([], 0),
    "serverless-again": lambda: serverless([LOADER, READER], SHIPPED_ROWS),
    "serverless-older-release": lambda: serverless([LOADER, READER], SHIPPED_ROWS, older_audit=True),
    "provisioned-first": lambda: provisioned([], 0, user_exists=False),
    "provisioned-again": lambda: provisioned([LOADER, READER], SHIPPED_ROWS, user_exists=True),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[BootstrapResult, Sent, list[str]]]:
    return {name: scenario() for name, scenario in SCENARIOS.items()}


# --- Redshift: what a run does -----------------------------------------------------------------------------


def test_first_serverless_run_creates_roles_grants_and_loads_the_airports(runs: dict[str, Any]) -> None:
    # Given an empty Serverless warehouse, When the bootstrap runs as the namespace's admin (the stub
    # enforced every call, in order, with the admin secret and the workgroup)
    result, sent, kept = runs["serverless-first"]

    # Then it created both database roles, granted their privileges and loaded the shipped airports
    assert result.created == [f"ROLE {LOADER}", f"ROLE {READER}"]
    assert result.grants == len(bootstrap.grant_statements("ROLE", DATABASE, ROLE))
    assert result.airports_loaded == SHIPPED_ROWS == 1952
    # through a COPY of the CSV staged under the staging prefix, which is gone again
    copy = next(sql for _, sql, _ in sent if sql.startswith("COPY "))
    assert f"FROM '{STAGING}bootstrap/" in copy
    assert kept == []


def test_a_second_run_creates_nothing_and_loads_nothing(runs: dict[str, Any]) -> None:
    # Given the warehouse after a first run (roles exist, airports loaded)
    result, sent, _ = runs["serverless-again"]

    # Then the run only re-states IF NOT EXISTS tables and (no-op) grants
    assert result.created == []
    assert result.airports_loaded == 0
    assert not [sql for _, sql, _ in sent if sql.startswith(("CREATE ROLE", "CREATE GROUP", "CREATE USER", "COPY"))]


def test_provisioned_db_user_gets_groups_and_a_passwordless_user(runs: dict[str, Any]) -> None:
    # Given a provisioned cluster the pipeline signs in to as db_user "loader", the admin as "awsuser"
    result, sent, _ = runs["provisioned-first"]

    # Then the principals are groups (the Data API joins them from the RedshiftDbGroups tag) and the
    # db user is created without a password (GetClusterCredentials does not create it)
    assert result.created == [f"GROUP {LOADER}", f"GROUP {READER}", "USER loader"]
    grants = [sql for _, sql, _ in sent if sql.startswith("GRANT ")]
    assert grants
    assert all(re.search(f" TO GROUP ({LOADER}|{READER})( FOR COPY)?$", sql) for sql in grants)
    assert runs["provisioned-again"][0].created == []


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_statement_is_redshift_sql(runs: dict[str, Any], name: str) -> None:
    _, sent, _ = runs[name]
    assert sent
    for _, sql, _ in sent:
        # When each statement is parsed with sqlglot's Redshift dialect
        parsed = sqlglot.parse_one(sql, read="redshift")
        # Then it parses, or it is one of the statements sqlglot does not model, in the documented grammar
        if isinstance(parsed, exp.Command):
            assert any(rule.fullmatch(sql) for rule in DOCUMENTED_GRAMMAR), sql


@pytest.mark.parametrize("name", SCENARIOS)
def test_nothing_is_ever_dropped_deleted_or_revoked(runs: dict[str, Any], name: str) -> None:
    for _, sql, _ in runs[name][1]:
        assert not re.match(r"\s*(DROP|DELETE|TRUNCATE|REVOKE)\b", sql, re.IGNORECASE), sql
        if re.match(r"\s*ALTER\b", sql, re.IGNORECASE):  # only ever adds a column
            assert re.fullmatch(rf"ALTER TABLE {schema.AUDIT} ADD COLUMN \w+ [A-Z]+( [A-Z]+)?(\(\d+\))?", sql), sql
        if sql.startswith(("CREATE SCHEMA", "CREATE TABLE")):
            assert " IF NOT EXISTS " in sql, sql
        if sql.startswith("INSERT INTO"):  # the airports: only into an empty table
            assert f"WHERE NOT EXISTS (SELECT 1 FROM {schema.AIRPORTS})" in sql


def test_the_airports_are_copied_as_csv_into_an_empty_table_only() -> None:
    statements = bootstrap.airports_statements_csv(f"{STAGING}bootstrap/x/airports.csv", ROLE)
    copy = sqlglot.parse_one(statements[1], read="redshift")
    assert isinstance(copy, exp.Copy)
    assert statements[1].endswith("CSV IGNOREHEADER 1 EMPTYASNULL")
    assert "(airport_id, city, state, name)" in statements[1]


# --- exactly the privileges the code uses --------------------------------------------------------------


def table_name(table: exp.Table) -> str:
    return f"{table.db}.{table.name}" if table.db else table.name


def privileges_used(statements: list[str]) -> dict[str, set[str]]:
    """Table -> privileges the statements need, read from the SQL itself (our schema's tables only)."""
    used: dict[str, set[str]] = {}

    def add(table: str, *privileges: str) -> None:
        if table.startswith(f"{schema.SCHEMA}."):
            used.setdefault(table, set()).update(privileges)

    for sql in statements:
        if sql.startswith("LOCK "):
            # LOCK takes ACCESS EXCLUSIVE; PostgreSQL (Redshift's base) requires UPDATE or DELETE for it
            for table in sql.removeprefix("LOCK ").split(","):
                add(table.strip(), "DELETE")
            continue
        parsed = sqlglot.parse_one(sql, read="redshift")
        tables = [table_name(t) for t in parsed.find_all(exp.Table)]
        if isinstance(parsed, exp.Insert):
            target = table_name(parsed.this.find(exp.Table) if not isinstance(parsed.this, exp.Table) else parsed.this)
            add(target, "INSERT")
            for table in set(tables) - {target}:
                add(table, "SELECT")
        elif isinstance(parsed, exp.Delete):
            target = table_name(parsed.this)
            add(target, "DELETE", "SELECT")  # DELETE needs SELECT to read its WHERE columns
            for table in set(tables) - {target}:
                add(table, "SELECT")
        elif isinstance(parsed, (exp.Select, exp.Create)):
            # CREATE TEMP TABLE t (LIKE source): PostgreSQL, Redshift's base, requires SELECT on the source
            created = table_name(parsed.this.find(exp.Table)) if isinstance(parsed, exp.Create) else None
            for table in set(tables) - {created}:
                add(table, "SELECT")
        # COPY writes only the session's own temp tables
    return used


def granted(privileges: dict[str, str]) -> dict[str, set[str]]:
    return {table: {p.strip() for p in listed.split(",")} for table, listed in privileges.items()}


def test_the_loader_is_granted_exactly_what_the_glue_jobs_statements_use() -> None:
    # Given every statement the Glue job's warehouse code sends: a file load (dimension read and the load
    # transaction) and a FAILED audit row
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        sent: list[str] = []
        for scenario in (file_load, failure(BATCH)):
            session = StubbedSession()
            with session.stubber:
                scenario(session)
            sent += [sql for _, sql, _ in session.sent]

    # Then the loader's grants are exactly the privileges those statements need, table by table
    assert granted(LOADER_TABLE_PRIVILEGES) == privileges_used(sent)


def test_the_reader_is_granted_exactly_what_the_report_reads() -> None:
    assert granted(READER_TABLE_PRIVILEGES) == privileges_used(list(REPORT_STATEMENTS))


def test_grants_name_the_database_and_the_copy_role() -> None:
    statements = bootstrap.grant_statements("ROLE", "dev", ROLE)
    assert f'GRANT TEMP ON DATABASE "dev" TO ROLE {LOADER}' in statements
    assert f"GRANT ASSUMEROLE ON '{ROLE}' TO ROLE {LOADER} FOR COPY" in statements
    assert f"GRANT USAGE ON SCHEMA airlines TO ROLE {READER}" in statements
    assert not [sql for sql in statements if f"ROLE {READER}" in sql and ("INSERT" in sql or "DELETE" in sql)]
    assert bootstrap.grant_statements("GROUP", "dev", "default")[-1] == (
        f"GRANT ASSUMEROLE ON default TO GROUP {LOADER} FOR COPY"
    )


# --- configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "options", "message"),
    [
        (URI, {}, "needs an administrator"),
        (URI, {"admin_secret_arn": ADMIN_SECRET, "admin_db_user": "awsuser"}, "exactly one"),
        (URI, {"admin_db_user": "awsuser"}, "provisioned clusters only"),
        (URI, {"admin_secret_arn": ADMIN_SECRET, "pipeline_db_user": "loader"}, "must be the WarehouseUri's db_user"),
        (CLUSTER_URI, {"admin_db_user": "awsuser"}, "must be the WarehouseUri's db_user"),
        (
            CLUSTER_URI,
            {"admin_db_user": "awsuser", "pipeline_db_user": "loader", "database": "prod"},
            "must be the WarehouseUri's database",
        ),
    ],
)
def test_a_wrong_administrator_setting_fails_before_any_call(uri: str, options: dict[str, str], message: str) -> None:
    # Given deploy parameters that disagree (the stub has no responses: any call would fail differently)
    session = StubbedSession()
    with session.stubber, pytest.raises(ConfigError, match=message):
        bootstrap_warehouse(uri, SignIn(**options), boto3_session=session)
    assert session.sent == []


# --- the local warehouse ------------------------------------------------------------------------------------


def test_duckdb_gets_the_schema_and_the_airports_once(tmp_path: Path) -> None:
    # Given no warehouse file yet
    path = tmp_path / "warehouse.duckdb"

    # When the bootstrap runs, an operator adds an airport, and the bootstrap runs again (a redeploy)
    first = bootstrap_warehouse(f"duckdb://{path}")
    with duckdb.connect(str(path)) as con:
        con.execute(f"INSERT INTO {schema.AIRPORTS} VALUES (99999, 'Nowhere', 'XX', 'Nowhere Intl')")
    again = bootstrap_warehouse(f"duckdb://{path}")

    # Then the first run created the four tables and loaded the shipped airports; the second kept everything
    assert first.airports_loaded == SHIPPED_ROWS
    assert again.airports_loaded == 0
    with duckdb.connect(str(path)) as con:
        tables = {
            row[0]
            for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'airlines'").fetchall()
        }
        count = con.execute(f"SELECT count(*) FROM {schema.AIRPORTS}").fetchall()[0][0]
    assert tables == {"airports_dim", "daily_flights_fact", "load_audit", "rejected_rows", "rejected_airports"}
    assert count == SHIPPED_ROWS + 1


# --- the custom resource ----------------------------------------------------------------------------------


def resource_event(url: str, request_type: str, **properties: str) -> dict[str, Any]:
    event = load_event("warehouse_bootstrap_create")
    event["ResponseURL"] = url
    event["RequestType"] = request_type
    event["ResourceProperties"].update(properties)
    if request_type != "Create":
        event["PhysicalResourceId"] = "warehouse-bootstrap:duckdb:///earlier"
    return event


def test_create_and_update_bootstrap_the_warehouse_and_answer_success(
    invoke: Invoke, aws_credentials: None, tmp_path: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given the local stack's warehouse URI (a DuckDB file that does not exist yet)
    url, received = response_url
    uri = f"duckdb://{tmp_path / 'warehouse.duckdb'}"

    # When CloudFormation creates, then updates the resource
    invoke("warehouse_bootstrap", resource_event(url, "Create", WarehouseUri=uri))
    invoke("warehouse_bootstrap", resource_event(url, "Update", WarehouseUri=uri))

    # Then both answered SUCCESS; the first loaded the airports, the update found them there
    created, updated = (answer["body"] for answer in received)
    assert created["Status"] == updated["Status"] == "SUCCESS"
    assert created["PhysicalResourceId"] == f"warehouse-bootstrap:{uri}"
    assert updated["PhysicalResourceId"] == "warehouse-bootstrap:duckdb:///earlier"
    assert created["Data"]["AirportsLoaded"] == str(SHIPPED_ROWS)
    assert updated["Data"]["AirportsLoaded"] == "0"


def test_delete_leaves_the_warehouse_alone(
    invoke: Invoke, aws_credentials: None, tmp_path: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a bootstrapped warehouse with data
    url, received = response_url
    path = tmp_path / "warehouse.duckdb"
    bootstrap_warehouse(f"duckdb://{path}")
    before = path.read_bytes()

    # When CloudFormation deletes the resource (the stack is deleted) - for DuckDB and for Redshift
    invoke("warehouse_bootstrap", resource_event(url, "Delete", WarehouseUri=f"duckdb://{path}"))
    invoke("warehouse_bootstrap", resource_event(url, "Delete"))

    # Then it answered SUCCESS without touching anything (no Redshift call was even possible: no credentials
    # or stub were set up, and the DuckDB file is byte for byte the same)
    assert [answer["body"]["Status"] for answer in received] == ["SUCCESS", "SUCCESS"]
    assert path.read_bytes() == before


def test_a_bootstrap_that_cannot_run_fails_the_deploy_with_the_reason(
    invoke: Invoke, aws_credentials: None, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a Redshift warehouse and no administrator (neither parameter set)
    url, received = response_url

    # When CloudFormation creates the resource
    invoke("warehouse_bootstrap", resource_event(url, "Create", AdminSecretArn=""))

    # Then the deploy fails with a reason naming the missing parameter, not a timeout an hour later
    answer = received[0]["body"]
    assert answer["Status"] == "FAILED"
    assert "RedshiftAdminSecretArn" in answer["Reason"]
    assert "Traceback" not in answer["Reason"]


def test_a_warehouse_from_before_the_added_columns_gets_each_once() -> None:
    # Given a Redshift warehouse whose load_audit predates every added column (CREATE ... IF NOT EXISTS
    # keeps it as it is)
    def expect(stubber: Stubber) -> None:
        expect_batch(stubber, "schema", SERVERLESS_ADMIN, schema.create_statements("redshift"))
        expect_columns(stubber, SERVERLESS_ADMIN, [("load_audit", "batch_id"), ("load_audit", "error")])
        for number, alter in enumerate(schema_changes.redshift_statements([]), start=1):
            expect_batch(stubber, f"alter-{number}", SERVERLESS_ADMIN, [alter])
        names = [{"name": "loader", "value": LOADER}, {"name": "reader", "value": READER}]
        principals = bootstrap.existing_principals_sql("ROLE")
        expect_rows(stubber, "principals", SERVERLESS_ADMIN, principals, [[LOADER], [READER]], parameters=names)
        expect_batch(stubber, "grants", SERVERLESS_ADMIN, bootstrap.grant_statements("ROLE", DATABASE, ROLE))
        expect_rows(stubber, "count", SERVERLESS_ADMIN, bootstrap.AIRPORTS_COUNT_SQL, [[SHIPPED_ROWS]])

    # When the deploy bootstraps it
    result, sent, _ = run(URI, expect, SignIn(admin_secret_arn=ADMIN_SECRET))

    # Then each column is added by a statement of its own (Redshift has no ADD COLUMN IF NOT EXISTS:
    # only when missing), oldest first, and reported
    assert "COLUMN job_capacity_dpu DOUBLE PRECISION" in result.created
    assert "COLUMN replace_scope VARCHAR(8)" in result.created
    assert sum("ADD COLUMN" in sql for _, sql, _ in sent) == len(schema_changes.ADDED_COLUMNS) == 5
