"""Every SQL text the Redshift warehouse sends is valid Redshift SQL and carries no data.

Redshift is not available here: statements are captured from the (stubbed) Data API calls of each
operation and parsed with sqlglot's Redshift dialect. Values - file names, batch ids, errors -
must travel as Parquet rows or named parameters; the only literals allowed are configuration
values (the COPY role and S3 URIs under the staging prefix), checked by pattern before quoting.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Optional

import boto3
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from redshift_doubles import (
    AIRPORTS_CSV,
    BUCKET,
    CLUSTER_ARGS,
    CLUSTER_URI,
    FLIGHTS_CSV,
    ROLE,
    STAGING,
    URI,
    StubbedSession,
    expect_apply,
    expect_batch,
    expect_dimension,
    expect_read,
    expect_stage,
    expect_start,
    expect_status,
    prepared,
    sample_airports,
)
from sqlglot import exp

from airline_pipeline.adapters.warehouse.redshift.sql import (
    ANY_FACT,
    LOAD_ERRORS_PROVISIONED,
    LOAD_ERRORS_SERVERLESS,
    MAX_BATCH_STATEMENTS,
    audit_insert,
    bind,
    copy_sql,
    file_apply_statements,
    file_stage_statements,
)
from airline_pipeline.adapters.warehouse.redshift.target import staging_segment
from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse
from airline_pipeline.core import schema, schema_changes
from airline_pipeline.core.errors import ConfigError, LoadFailed
from airline_pipeline.core.outcome import Batch
from airline_pipeline.core.quality import LoadPolicy

pytestmark = pytest.mark.glue39

SOURCE = "s3://data-bucket/daily-flights/date=2013-01-15/flights_2013-01-15.csv"
BATCH = Batch(batch_id="2013-01-15-c0ffee42", source_file=SOURCE, flight_date=date(2013, 1, 15), etag="e7a9")
ERROR_COLUMNS = ["file_name", "line_number", "column_name", "error_code", "error_message"]

Sent = list[tuple[str, str, list[dict[str, str]]]]


def run(scenario: Callable[[StubbedSession], None]) -> Sent:
    """Every (operation, SQL, parameters) sent to the Data API while ``scenario`` runs."""
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        session = StubbedSession()
        with session.stubber:
            scenario(session)
            session.stubber.assert_no_pending_responses()
        return session.sent


def warehouse(session: StubbedSession, uri: str = URI) -> RedshiftWarehouse:
    return RedshiftWarehouse.from_uri(uri, boto3_session=session, poll_initial=0)


def init(session: StubbedSession) -> None:
    # A warehouse created before the added audit columns: each is added by a statement of its own
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    columns_sql, parameters = bind({"schema": schema.SCHEMA}, schema_changes.EXISTING_COLUMNS_SQL)
    expect_read(
        session.stubber,
        columns_sql,
        ["table_name", "column_name"],
        [("load_audit", "batch_id"), ("load_audit", "error")],
        parameters=[dict(p) for p in parameters],
        statement_id="columns",
    )
    for number, (table, column, sql_type) in enumerate(schema_changes.ADDED_COLUMNS, start=1):
        expect_batch(
            session.stubber, [f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"], statement_id=f"alter-{number}"
        )
        expect_status(session.stubber, f"alter-{number}", "FINISHED")
    warehouse(session).init_schema()


def airports(session: StubbedSession) -> None:
    expect_dimension(session.stubber, [])
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    warehouse(session).load_airports(str(AIRPORTS_CSV))


def airports_with_rejects(session: StubbedSession) -> None:
    # Every row of the sample changes an airport the dimension holds, and one more row is bad
    changed = [(row[0], "Old City", "ZZ", "Old Name") for row in sample_airports()]
    expect_dimension(session.stubber, changed)
    expect_read(session.stubber, ANY_FACT, ["n"], [(1,)], statement_id="any-fact")
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "airports.csv"
        path.write_bytes(AIRPORTS_CSV.read_bytes() + b"10830.7,Nowhere,XX,Bad Id\n")
        result = warehouse(session).load_airports(str(path))
    assert (result.rows_rejected, result.airports_changed) == (1, len(changed))


def file_load(session: StubbedSession, the_batch: Batch = BATCH, *, refused: bool = False) -> None:
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_stage(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    expect_apply(session.stubber, sqls=file_apply_statements(scope=the_batch.policy.replace_scope, refused=refused))
    warehouse(session).load_file(prepared(FLIGHTS_CSV), the_batch)


DATE_SCOPE = BATCH.replace(policy=LoadPolicy(replace_scope="date"))
#: The sample has rejected rows: a zero limit refuses it.
REFUSED = BATCH.replace(policy=LoadPolicy(max_rejected_share=0.0, on_threshold="fail"))


def failed_load(
    uri: str, error_sql: str, args: Optional[dict[str, str]], *, then_record_it: bool = False
) -> Callable[[StubbedSession], None]:
    """A load whose staging transaction fails after its STARTED row; ``then_record_it``: the failure is recorded."""

    def scenario(session: StubbedSession) -> None:
        expect_start(session.stubber)
        expect_dimension(session.stubber, sample_airports(), args=args)
        expect_stage(session.stubber, None)
        expect_status(session.stubber, "batch-1", "FAILED", Error="ERROR: Spectrum Scan Error")
        expect_read(
            session.stubber,
            error_sql,
            ERROR_COLUMNS,
            [],
            args=args,
            parameters=[{"name": "staged", "value": f"{STAGING}{BATCH.batch_id}/%"}],
            statement_id="errors",
        )
        loader = warehouse(session, uri)
        with pytest.raises(LoadFailed):
            loader.load_file(prepared(FLIGHTS_CSV), BATCH)
        if then_record_it:
            session.stubber.add_response("execute_statement", {"Id": "fail-1"}, None)
            expect_status(session.stubber, "fail-1", "FINISHED")
            loader.record_failure(BATCH, "LoadFailed: Spectrum Scan Error in bad header")
            assert session.sent[-1][1].startswith("UPDATE ")

    return scenario


def failure(the_batch: Batch) -> Callable[[StubbedSession], None]:
    def scenario(session: StubbedSession) -> None:
        session.stubber.add_response("execute_statement", {"Id": "fail-1"}, None)
        expect_status(session.stubber, "fail-1", "FINISHED")
        warehouse(session).record_failure(the_batch, f"InvalidHeader: {the_batch.source_file} has a bad header")

    return scenario


SCENARIOS = {
    "init": init,
    "airports": airports,
    "airports-with-rejects": airports_with_rejects,
    "file-load": file_load,
    "file-load-date-scope": lambda session: file_load(session, DATE_SCOPE),
    "file-load-refused": lambda session: file_load(session, REFUSED, refused=True),
    "failed-load-serverless": failed_load(URI, LOAD_ERRORS_SERVERLESS, None),
    "failed-load-provisioned": failed_load(CLUSTER_URI, LOAD_ERRORS_PROVISIONED, CLUSTER_ARGS),
    "failure": failure(BATCH),
    "failure-after-start": failed_load(URI, LOAD_ERRORS_SERVERLESS, None, then_record_it=True),
    "failure-without-date-or-etag": failure(BATCH.replace(flight_date=None, etag="")),
}


@pytest.fixture(scope="module")
def sent() -> dict[str, Sent]:
    return {name: run(scenario) for name, scenario in SCENARIOS.items()}


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_statement_parses_as_redshift(sent: dict[str, Sent], name: str) -> None:
    # Given every statement one operation sent
    assert sent[name], "the scenario sent nothing"
    for _, sql, _ in sent[name]:
        # When it is parsed with sqlglot's Redshift dialect
        parsed = sqlglot.parse_one(sql, read="redshift")
        # Then it parses; only LOCK (which sqlglot does not model) falls back to a bare command
        if sql.startswith("LOCK "):
            assert isinstance(parsed, exp.Command)
            assert parsed.this == "LOCK"
        else:
            assert not isinstance(parsed, exp.Command), sql


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_statement_carries_a_file_name_or_a_batch_id(sent: dict[str, Sent], name: str) -> None:
    for _, sql, parameters in sent[name]:
        # Given a statement's string literals
        parsed = sqlglot.parse_one(sql, read="redshift")
        literals = [lit.this for lit in parsed.find_all(exp.Literal) if lit.is_string]
        if isinstance(parsed, exp.Command):
            literals = []  # LOCK: table names only
        # Then each is the COPY role, an S3 URI under the staging prefix, or the empty string
        for literal in literals:
            assert literal in (ROLE, "") or literal.startswith(STAGING), (literal, sql)
        # And the file name appears nowhere; the batch id only inside a staging URI (its key)
        text = sql
        for literal in literals:
            text = text.replace(literal, "")
        for value in ("flights_2013-01-15.csv", "daily-flights", "data-bucket", BATCH.batch_id, "bad header"):
            assert value not in text, (value, sql)
        # And every :name placeholder has exactly one bound parameter
        placeholders = {p.name for p in parsed.find_all(exp.Placeholder)}
        assert placeholders == {p["name"] for p in parameters}, sql


def test_each_load_transaction_fits_in_one_batch(sent: dict[str, Sent]) -> None:
    # Given the statements of the batches (one transaction each)
    for name in ("init", "airports", "file-load", "file-load-date-scope", "file-load-refused"):
        batch = [sql for operation, sql, _ in sent[name] if operation == "BatchExecuteStatement"]
        # Then they are within the Data API's limit (file-load: its two batches together, so each fits)
        assert 0 < len(batch) <= MAX_BATCH_STATEMENTS
        if name != "init":
            # and the transaction that changes the tables starts with its LOCK; before it (a file load's
            # staging transaction) only session temp tables are created and filled
            locked = next(n for n, sql in enumerate(batch) if sql.startswith("LOCK "))
            assert all(sql.startswith(("CREATE TEMP TABLE stage_", "COPY stage_")) for sql in batch[:locked]), name
            assert (name, locked) != ("file-load", 0), "a file load stages before it locks"


def batch_sqls(sent: Sent) -> list[str]:
    return [sql for operation, sql, _ in sent if operation == "BatchExecuteStatement"]


def earlier_rows_deletes(statements: list[str]) -> list[str]:
    return [
        sql
        for sql in statements
        if sql.startswith(f"DELETE FROM {schema.FACT} ") or sql.startswith(f"DELETE FROM {schema.REJECTED} ")
    ]


def test_a_date_scope_load_replaces_every_row_of_its_date_in_the_same_one_transaction(sent: dict[str, Sent]) -> None:
    # Given the Data API batches of the same file loaded with the file scope and with the date scope
    by_file, by_date = batch_sqls(sent["file-load"]), batch_sqls(sent["file-load-date-scope"])
    # Then the date scope deletes the fact and rejected rows of the staged audit row's date (any file)
    assert earlier_rows_deletes(by_date) == [
        f"DELETE FROM {schema.FACT} WHERE flight_date IN (SELECT flight_date FROM stage_audit)",
        f"DELETE FROM {schema.REJECTED} WHERE flight_date IN (SELECT flight_date FROM stage_audit)",
    ]
    assert earlier_rows_deletes(by_file) == [
        f"DELETE FROM {schema.FACT} WHERE source_file IN (SELECT source_file FROM stage_audit)",
        f"DELETE FROM {schema.REJECTED} WHERE source_file IN (SELECT source_file FROM stage_audit)",
    ]
    # And everything else is the same sequence, in the same two batches: stage and COPY, then LOCK, delete, insert
    assert [sql.replace("flight_date", "source_file") for sql in by_date] == by_file
    assert len([op for op, _, _ in sent["file-load-date-scope"] if op == "BatchExecuteStatement"]) == len(by_date)
    for sql in earlier_rows_deletes(by_date):
        where = sqlglot.parse_one(sql, read="redshift").args["where"]
        assert [column.name for column in where.find_all(exp.Column)] == ["flight_date", "flight_date"]


def test_a_refused_load_copies_no_fact_row_and_replaces_nothing(sent: dict[str, Sent]) -> None:
    # Given the Data API batch of a load the quality thresholds refused
    statements = batch_sqls(sent["file-load-refused"])
    # Then no fact row is staged or inserted, only the rejected rows and the audit row
    assert not [sql for sql in statements if "stage_fact" in sql]
    assert [sql for sql in statements if sql.startswith("INSERT")] == [
        f"INSERT INTO {schema.REJECTED} SELECT * FROM stage_rejected",
        f"INSERT INTO {schema.AUDIT} SELECT * FROM stage_audit",
    ]
    # And the only rows deleted are an earlier attempt of this very batch and file: no earlier load is touched
    same_attempt = (
        "batch_id IN (SELECT batch_id FROM stage_audit) AND source_file IN (SELECT source_file FROM stage_audit)"
    )
    assert earlier_rows_deletes(statements) == [
        f"DELETE FROM {schema.FACT} WHERE {same_attempt}",
        f"DELETE FROM {schema.REJECTED} WHERE {same_attempt}",
    ]
    # and the staging transaction comes first, the locked one second
    locked = statements.index(f"LOCK {schema.FACT}, {schema.REJECTED}, {schema.AUDIT}")
    assert locked > 0
    assert all(sql.startswith(("CREATE TEMP TABLE stage_", "COPY stage_")) for sql in statements[:locked])


def test_an_older_warehouse_gets_each_added_audit_column_by_a_statement_of_its_own(sent: dict[str, Sent]) -> None:
    # Given init_schema on a warehouse whose audit table predates the added columns
    alters = [sql for sql in batch_sqls(sent["init"]) if sql.startswith("ALTER")]
    # Then each missing column is added once (Redshift has no ADD COLUMN IF NOT EXISTS)
    assert alters == [f"ALTER TABLE {t} ADD COLUMN {n} {sql_type}" for t, n, sql_type in schema_changes.ADDED_COLUMNS]


def test_an_s3_uri_that_could_break_out_of_its_literal_is_refused() -> None:
    # Given a URI with a quote (e.g. from a hand-edited staging setting)
    # When COPY is built / Then ConfigError, before any SQL exists
    with pytest.raises(ConfigError, match="not a usable S3 URI"):
        copy_sql("stage_fact", "s3://stage-bucket/x'; DROP TABLE airlines.load_audit; --/", ROLE)


@settings(max_examples=200, deadline=None)
@given(batch_id=st.text(min_size=1, max_size=80))
def test_any_batch_id_gives_a_staging_uri_that_copy_accepts(batch_id: str) -> None:
    # Given any batch id (execution names are user-chosen)
    segment = staging_segment(batch_id)
    # When it becomes the staging key of a COPY
    parsed = sqlglot.parse_one(copy_sql("stage_fact", f"{STAGING}{segment}/fact/", ROLE), read="redshift")
    # Then the statement has exactly the two configuration literals, and distinct ids stay distinct
    assert [lit.this for lit in parsed.find_all(exp.Literal)] == [f"{STAGING}{segment}/fact/", ROLE]
    assert segment != staging_segment(batch_id + "x")


VALUE = st.one_of(st.none(), st.text(max_size=50), st.integers(min_value=-(2**63), max_value=2**63 - 1))


@settings(max_examples=200, deadline=None)
@given(
    text_values=st.fixed_dictionaries(dict.fromkeys(("batch_id", "source_file", "etag", "error"), VALUE)),
    flight_date=st.one_of(st.none(), st.dates()),
    started_at=st.datetimes(min_value=datetime(2000, 1, 1)),
)
def test_a_failure_row_sql_depends_only_on_which_values_are_null_or_empty(
    text_values: dict[str, Any], flight_date: Optional[date], started_at: datetime
) -> None:
    # Given any audit values, quotes and SQL fragments included
    values: dict[str, Any] = dict.fromkeys(schema.column_names(schema.AUDIT_COLUMNS), 0)
    values.update(text_values, flight_date=flight_date, started_at=started_at, finished_at=started_at)
    # When the FAILED row is built
    sql, parameters = audit_insert(values)
    # Then the text is the same as for placeholder values with the same NULL/empty pattern: no value is in it
    stand_in = {k: v if v is None or v == "" else "x" for k, v in values.items()}
    assert sql == audit_insert(stand_in)[0]
    sqlglot.parse_one(sql, read="redshift")
    # And every other value is a non-empty parameter (the Data API refuses empty ones)
    assert {p["name"] for p in parameters} == {k for k, v in values.items() if v is not None and v != ""}
    assert all(p["value"] for p in parameters)


def test_the_exclusive_section_is_delete_and_insert_and_starts_with_the_lock() -> None:
    # Given a file load's two transactions (one Data API session), with rows staged for every table
    staged = {table: f"{STAGING}batch/{table}/" for table in (schema.FACT, schema.REJECTED, schema.AUDIT)}
    stage, apply = file_stage_statements(staged, ROLE), file_apply_statements()
    targets = {schema.FACT, schema.REJECTED, schema.AUDIT}
    # Then the first only creates and fills session temp tables: every COPY is there, no target table is written
    # or locked (CREATE ... LIKE reads a target's definition only)
    assert [sql.split()[0] for sql in stage] == ["CREATE"] * 3 + ["COPY"] * 3
    for sql in stage:
        parsed = sqlglot.parse_one(sql, read="redshift")
        assert not isinstance(parsed, exp.Command), sql
        written = parsed.this if isinstance(parsed, exp.Copy) else parsed.this.find(exp.Table)
        assert not written.db, sql  # a session temp table: no schema, so never one of airlines.*
    # And the second - the only change readers see - locks the three tables first, always in the same order:
    # Redshift takes a transaction's snapshot at its first SELECT, DML or CREATE/DROP TABLE ("Serializable
    # isolation"), so anything before the LOCK would leave the DELETE blind to a load committed meanwhile
    assert apply[0] == f"LOCK {schema.FACT}, {schema.REJECTED}, {schema.AUDIT}"
    assert not any(sql.startswith("LOCK ") for sql in apply[1:])
    # and holds it for DELETE x3 + INSERT x3 only: no COPY from S3 inside the exclusive section
    assert [sql.split()[0] for sql in apply[1:]] == ["DELETE"] * 3 + ["INSERT"] * 3
    for sql in apply[1:]:
        parsed = sqlglot.parse_one(sql, read="redshift")
        assert isinstance(parsed, (exp.Delete, exp.Insert)), sql
        assert {f"{t.db}.{t.name}" if t.db else t.name for t in parsed.find_all(exp.Table)} <= targets | {
            "stage_fact",
            "stage_rejected",
            "stage_audit",
        }, sql
