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
    expect_batch,
    expect_dimension,
    expect_read,
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
)
from airline_pipeline.adapters.warehouse.redshift.target import staging_segment
from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse
from airline_pipeline.core import schema, schema_changes
from airline_pipeline.core.errors import ConfigError, LoadFailed
from airline_pipeline.core.outcome import Batch

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
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    # a warehouse created before job_capacity_dpu was added: the column is added, once
    columns_sql, parameters = bind({"schema": schema.SCHEMA}, schema_changes.EXISTING_COLUMNS_SQL)
    expect_read(
        session.stubber,
        columns_sql,
        ["table_name", "column_name"],
        [("load_audit", "batch_id"), ("load_audit", "error")],
        parameters=[dict(p) for p in parameters],
        statement_id="columns",
    )
    expect_batch(
        session.stubber,
        [f"ALTER TABLE {schema.AUDIT} ADD COLUMN job_capacity_dpu DOUBLE PRECISION"],
        statement_id="alter-1",
    )
    expect_status(session.stubber, "alter-1", "FINISHED")
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


def file_load(session: StubbedSession) -> None:
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    warehouse(session).load_file(prepared(FLIGHTS_CSV), BATCH)


def failed_load(
    uri: str, error_sql: str, args: Optional[dict[str, str]], *, then_record_it: bool = False
) -> Callable[[StubbedSession], None]:
    """A load whose transaction fails after its STARTED row; ``then_record_it``: the failure is recorded (UPDATE)."""

    def scenario(session: StubbedSession) -> None:
        expect_start(session.stubber)
        expect_dimension(session.stubber, sample_airports(), args=args)
        expect_batch(session.stubber, None)
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
    for name in ("init", "airports", "file-load"):
        batch = [sql for operation, sql, _ in sent[name] if operation == "BatchExecuteStatement"]
        # Then they are within the Data API's limit, and each load starts with its LOCK
        assert 0 < len(batch) <= MAX_BATCH_STATEMENTS
        if name != "init":
            assert batch[0].startswith("LOCK ")


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
