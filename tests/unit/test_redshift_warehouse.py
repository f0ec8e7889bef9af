"""The Redshift warehouse against a stubbed Data API (botocore Stubber) and a moto S3 staging bucket.

The Stubber fails a test on any call out of order or with other parameters, so each test also pins
the exact Data API call sequence. The DuckDB warehouse is the reference: a Redshift load must stage
exactly the rows the DuckDB warehouse inserts, and return the same summary.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
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
    staged_keys,
)

from airline_pipeline.adapters.warehouse import open_warehouse
from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.adapters.warehouse.redshift.sql import (
    ANY_FACT,
    LOAD_ERRORS_PROVISIONED,
    LOAD_ERRORS_SERVERLESS,
    bind,
    parquet_select,
)
from airline_pipeline.adapters.warehouse.redshift.target import RedshiftTarget
from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse
from airline_pipeline.core import schema, schema_changes
from airline_pipeline.core.errors import ConfigError, InvalidFile, LoadFailed, NoDataRows
from airline_pipeline.core.outcome import Batch

pytestmark = pytest.mark.glue39

BATCH_ID = "2013-01-15-3f2a9c1e"
SOURCE = "s3://data-bucket/daily-flights/date=2013-01-15/flights.csv"
PREFIX = f"{STAGING}{BATCH_ID}/"
COPY = f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET"

#: The whole load transaction for a file with fact, rejected and audit rows.
LOAD_STATEMENTS = [
    "LOCK airlines.daily_flights_fact, airlines.rejected_rows, airlines.load_audit",
    "CREATE TEMP TABLE stage_fact (LIKE airlines.daily_flights_fact)",
    "CREATE TEMP TABLE stage_rejected (LIKE airlines.rejected_rows)",
    "CREATE TEMP TABLE stage_audit (LIKE airlines.load_audit)",
    f"COPY stage_fact FROM '{PREFIX}fact/' {COPY}",
    f"COPY stage_rejected FROM '{PREFIX}rejected/' {COPY}",
    f"COPY stage_audit FROM '{PREFIX}audit/' {COPY}",
    "DELETE FROM airlines.daily_flights_fact WHERE source_file IN (SELECT source_file FROM stage_audit)",
    "DELETE FROM airlines.rejected_rows WHERE source_file IN (SELECT source_file FROM stage_audit)",
    "DELETE FROM airlines.load_audit WHERE finished_at IS NULL AND batch_id IN (SELECT batch_id FROM stage_audit)"
    " AND started_at IN (SELECT started_at FROM stage_audit)",
    "INSERT INTO airlines.daily_flights_fact SELECT * FROM stage_fact",
    "INSERT INTO airlines.rejected_rows SELECT * FROM stage_rejected",
    "INSERT INTO airlines.load_audit SELECT * FROM stage_audit",
]


@pytest.fixture
def session() -> Iterator[StubbedSession]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        stubbed = StubbedSession()
        with stubbed.stubber:
            yield stubbed


@pytest.fixture
def warehouse(session: StubbedSession) -> RedshiftWarehouse:
    return RedshiftWarehouse.from_uri(URI, boto3_session=session, poll_initial=0)


def batch(**changes: Any) -> Batch:
    values: dict[str, Any] = {
        "batch_id": BATCH_ID,
        "source_file": SOURCE,
        "flight_date": date(2013, 1, 15),
        "etag": "0123abcd",
    }
    values.update(changes)
    return Batch(**values)


def duckdb_reference(tmp_path: Path, the_batch: Batch, path: Path = FLIGHTS_CSV) -> tuple[Any, dict[str, list[Any]]]:
    """The DuckDB warehouse's summary and table rows for the same file and batch."""
    warehouse = DuckDBWarehouse(str(tmp_path / "reference.duckdb"))
    warehouse.init_schema()
    warehouse.load_airports(str(AIRPORTS_CSV))
    summary = warehouse.load_file(prepared(path), the_batch)
    con = duckdb.connect(warehouse.path, read_only=True)
    tables = {table: con.execute(f"SELECT * FROM {table}").fetchall() for table in (schema.FACT, schema.REJECTED)}
    tables[schema.AUDIT] = con.execute(f"SELECT * FROM {schema.AUDIT}").fetchall()
    con.close()
    return summary, tables


def without(rows: list[tuple[Any, ...]], columns: tuple[schema.Column, ...], *dropped: str) -> list[tuple[Any, ...]]:
    keep = [i for i, (name, _) in enumerate(columns) if name not in dropped]
    return sorted((tuple(row[i] for i in keep) for row in rows), key=repr)


# --- the URI ---------------------------------------------------------------------------------------


def test_a_serverless_uri_targets_the_workgroup() -> None:
    # Given a redshift-data URI without cluster=true
    # When it is opened
    warehouse = open_warehouse(URI + "&region=eu-west-1")
    # Then it is a Redshift warehouse aimed at the workgroup, with the staging prefix and role from the URI
    assert isinstance(warehouse, RedshiftWarehouse)
    assert warehouse.target.connection_args() == {"Database": "dev", "WorkgroupName": "analytics"}
    assert warehouse.target.staging == STAGING
    assert warehouse.target.iam_role == ROLE
    assert warehouse.session.region_name == "eu-west-1"


def test_a_cluster_uri_targets_the_cluster_with_its_credentials() -> None:
    # Given cluster=true with a database user; and a staging prefix written without its trailing slash
    target = RedshiftTarget.from_uri(CLUSTER_URI.replace(STAGING, STAGING.rstrip("/")))
    # Then calls carry the cluster identifier and DbUser, and the prefix is normalized
    assert target.connection_args() == CLUSTER_ARGS
    assert target.staging == STAGING


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        pytest.param(f"redshift-data://analytics/dev?staging={STAGING}", "lacks iam_role", id="no-role"),
        pytest.param(f"redshift-data://analytics/dev?iam_role={ROLE}", "lacks staging", id="no-staging"),
        pytest.param("redshift-data://analytics/dev", "lacks iam_role and staging", id="no-options"),
        pytest.param(f"redshift-data:///dev?iam_role={ROLE}&staging={STAGING}", "no workgroup", id="no-host"),
        pytest.param(f"redshift-data://analytics?iam_role={ROLE}&staging={STAGING}", "no database", id="no-db"),
        pytest.param(URI.replace(ROLE, "my-role"), "not an IAM role ARN", id="bad-role"),
        pytest.param(URI.replace(ROLE, ROLE + "'--"), "not an IAM role ARN", id="quote-in-role"),
        pytest.param(URI.replace(STAGING, "s3://stage-bucket/it's/"), "not a usable S3 URI", id="quote-in-staging"),
        pytest.param(URI.replace(STAGING, "https://stage-bucket/x/"), "not a usable S3 URI", id="not-s3"),
        pytest.param(URI + "&cluster=true", "needs db_user", id="cluster-without-credentials"),
        pytest.param(URI + "&db_user=loader", "cluster=true", id="db-user-on-serverless"),
        pytest.param(URI + "&cluster=yes", "true or false", id="bad-flag"),
        pytest.param(URI + "&iam-role=x", "unknown redshift-data URI option", id="typo"),
        pytest.param(URI + f"&staging={STAGING}", "more than once", id="repeated"),
        pytest.param(URI.replace("//analytics/", "//AB/"), "not a valid Redshift workgroup", id="bad-workgroup"),
    ],
)
def test_a_malformed_uri_fails_loudly_saying_what_is_wrong(uri: str, complaint: str) -> None:
    # Given a URI missing or garbling one setting
    # When it is opened / Then ConfigError names the problem
    with pytest.raises(ConfigError, match=complaint):
        open_warehouse(uri)


# --- init_schema -----------------------------------------------------------------------------------


def test_init_schema_runs_the_create_statements_as_one_batch_and_waits(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given a batch that is queued, picked and started before it finishes
    expect_batch(session.stubber, schema.create_statements("redshift"))
    expect_status(session.stubber, "batch-1", "SUBMITTED", "PICKED", "STARTED", "FINISHED")
    # and a warehouse that has every added column already (nothing to ALTER)
    columns_sql, parameters = bind({"schema": schema.SCHEMA}, schema_changes.EXISTING_COLUMNS_SQL)
    rows = [(table.split(".")[1], column) for table, column, _ in schema_changes.ADDED_COLUMNS]
    expect_read(
        session.stubber, columns_sql, ["table_name", "column_name"], rows, parameters=[dict(p) for p in parameters]
    )
    # When the schema is created
    warehouse.init_schema()
    # Then every describe_statement answer was consumed: it polled until FINISHED
    session.stubber.assert_no_pending_responses()


# --- load_airports ---------------------------------------------------------------------------------


def test_load_airports_stages_the_last_row_of_each_id_and_upserts_in_one_transaction(
    session: StubbedSession, warehouse: RedshiftWarehouse, tmp_path: Path
) -> None:
    # Given an airports file where id 10 appears twice (the second row must win)
    path = tmp_path / "airports.csv"
    path.write_text('airport_id,city,state,name\n10,Old,XX,"Old, Field"\n11,B,YY,Bee\n10,New,ZZ,New Field\n')
    expect_dimension(session.stubber, [])
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "STARTED", "FINISHED")
    # When it is loaded
    result = warehouse.load_airports(str(path))
    # Then every row of the file is upserted, and one transaction locked, staged, deleted and inserted
    assert (result.rows_read, result.rows_upserted, result.rows_rejected, result.airports_added) == (3, 3, 0, 2)
    [staged] = session.staged
    [key] = staged
    prefix = f"s3://{BUCKET}/{key.rsplit('/', 1)[0]}/"
    assert [sql for _, sql, _ in session.sent] == [
        f"SELECT airport_id, city, state, name FROM {schema.AIRPORTS}",  # what changes: the dimension before
        "LOCK airlines.airports_dim",
        "CREATE TEMP TABLE stage_airports (LIKE airlines.airports_dim)",
        f"COPY stage_airports FROM '{prefix}' {COPY}",
        "DELETE FROM airlines.airports_dim WHERE airport_id IN (SELECT airport_id FROM stage_airports)",
        "INSERT INTO airlines.airports_dim SELECT * FROM stage_airports",
    ]
    # And the staged Parquet holds one row per id, the last one, in the dimension's column order
    assert key.startswith("staging/airports/")
    assert staged[key].columns == schema.column_names(schema.AIRPORTS_COLUMNS)
    assert sorted(staged[key].rows) == [(10, "New", "ZZ", "New Field"), (11, "B", "YY", "Bee")]
    # And the staged objects are gone afterwards
    assert staged_keys() == []


def test_load_airports_keeps_bad_rows_apart_and_upserts_the_rest(
    session: StubbedSession, warehouse: RedshiftWarehouse, tmp_path: Path
) -> None:
    # Given ids the flights' rules refuse (10830.7 would have been rounded onto airport 10831)
    path = tmp_path / "airports.csv"
    path.write_text("airport_id,city,state,name\n10830.7,X,XX,Bad\n0x10,Y,YY,Hex\n12,C,CC,Sea\n")
    expect_dimension(session.stubber, [(12, "C", "CC", "Old Sea")])
    expect_read(session.stubber, ANY_FACT, ["n"], [(0,)], statement_id="any-fact")
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    # When it is loaded
    result = warehouse.load_airports(str(path))
    # Then the good row is upserted and the two bad ones are copied into rejected_airports, in one transaction
    assert (result.rows_read, result.rows_upserted, result.rows_rejected) == (3, 1, 2)
    assert (result.airports_added, result.airports_changed) == (0, 1)
    assert result.rejected_by_reason == {"not_integer": 1, "not_whole_number": 1}
    [staged] = session.staged
    rejected = next(staged[key] for key in staged if "/rejected/" in key)
    assert rejected.columns == schema.column_names(schema.REJECTED_AIRPORTS_COLUMNS)
    assert [(row[2], row[4]) for row in rejected.rows] == [(2, "not_whole_number"), (3, "not_integer")]
    airports = next(staged[key] for key in staged if "/airports/airports.parquet" in key)
    assert airports.rows == [(12, "C", "CC", "Sea")]
    sqls = [sql for _, sql, _ in session.sent if sql.startswith(("LOCK", "COPY"))]
    assert sqls[0] == "LOCK airlines.airports_dim"
    assert sqls[-1].startswith(f"COPY {schema.REJECTED_AIRPORTS} FROM 's3://{BUCKET}/staging/airports/")
    # And no flight was loaded yet, so nothing warns about names kept by loaded flights
    assert "keep the old names" not in (result.warning or "")


def test_load_airports_with_a_wrong_header_calls_nothing(
    session: StubbedSession, warehouse: RedshiftWarehouse, tmp_path: Path
) -> None:
    # Given a file that is not an airports file (the Stubber has no answers: any call would fail)
    path = tmp_path / "airports.csv"
    path.write_text("id,city\n1,X\n")
    # When it is loaded / Then InvalidFile, nothing staged
    with pytest.raises(InvalidFile, match="expected header"):
        warehouse.load_airports(str(path))
    assert staged_keys() == []


# --- identities: never cut ------------------------------------------------------------------------

#: The longest S3 URI there is: a 63-byte bucket name and a 1,024-byte key.
LONGEST_BUCKET = "b" * 63
_DAY = "daily-flights/date=2013-01-15/"


def longest_uri(last: str) -> str:
    key = _DAY + "k" * (1024 - len(_DAY) - len(last) - 4) + last + ".csv"
    assert len(key.encode()) == 1024
    return f"s3://{LONGEST_BUCKET}/{key}"


def test_identity_columns_hold_any_s3_uri_and_a_step_functions_execution_name() -> None:
    # Given the longest S3 URI (1,093 bytes) and an 80-character execution name of 4-byte characters
    uri, name = longest_uri("a"), "\U0001f6eb" * 80
    # Then every table's identity columns are wide enough to keep them whole
    for columns in (schema.FACT_COLUMNS, schema.AUDIT_COLUMNS, schema.REJECTED_COLUMNS):
        types = dict(columns)
        assert schema.varchar_bytes(types["source_file"]) >= len(uri.encode()) == 1093
        assert schema.varchar_bytes(types["batch_id"]) >= len(name.encode()) == 320
    assert schema.identity_problem("source_file", uri) is None
    assert schema.identity_problem("batch_id", name) is None
    assert "never cuts" in (schema.identity_problem("source_file", uri + "x" * 8) or "")


def test_two_long_uris_sharing_1024_bytes_are_staged_whole(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given two S3 URIs of 1,093 bytes that differ only in their last characters (the first 1,024 are equal)
    first, second = longest_uri("a"), longest_uri("b")
    assert first[:1024] == second[:1024]
    assert first != second
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    # When the first is loaded
    warehouse.load_file(prepared(FLIGHTS_CSV), batch(source_file=first))
    # Then the fact, rejected and audit rows staged for COPY carry its whole name, not a 1,024-byte prefix
    # (the transaction deletes by the staged name: a prefix would be the second file's too)
    [staged] = session.staged
    for part in ("fact", "rejected", "audit"):
        files = [item for key, item in staged.items() if f"/{part}/" in key]
        assert files, part
        names = {row[item.columns.index("source_file")] for item in files for row in item.rows}
        assert names == {first}, part


def test_staging_refuses_an_identity_too_long_instead_of_cutting_it() -> None:
    # Given a staging query for a source_file one byte over the column
    too_long = "s3://b/" + "k" * (schema.varchar_bytes(schema.SOURCE_FILE_TYPE) or 0)
    select = parquet_select("SELECT ? AS source_file, ? AS detail", (("source_file", schema.SOURCE_FILE_TYPE),))
    # When DuckDB runs it / Then it fails instead of writing a cut name (other VARCHARs are still cut)
    con = duckdb.connect()
    with pytest.raises(duckdb.InvalidInputException, match="never cut"):
        con.execute(select, [too_long, "x"]).fetchall()
    detail = parquet_select("SELECT ? AS detail", (("detail", "VARCHAR(4)"),))
    assert con.execute(detail, ["abcdef"]).fetchall() == [("abcd",)]


# --- load_file -------------------------------------------------------------------------------------


def test_load_file_runs_the_exact_transaction_and_stages_what_duckdb_would_insert(
    session: StubbedSession, warehouse: RedshiftWarehouse, tmp_path: Path
) -> None:
    # Given Redshift holds the sample airports, and the load batch runs for a while
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, LOAD_STATEMENTS)
    expect_status(session.stubber, "batch-1", "SUBMITTED", "STARTED", "FINISHED")
    the_batch = batch()
    s3_calls: list[str] = []
    warehouse.s3.meta.events.register("before-call.s3", lambda model, **_: s3_calls.append(model.name))
    # When the sample flights file is loaded
    summary = warehouse.load_file(prepared(FLIGHTS_CSV), the_batch)
    # Then its first call committed a STARTED audit row - one statement, no finish time, values as parameters -
    # which the load's transaction then replaces (the DELETE ... finished_at IS NULL of LOAD_STATEMENTS)
    operation, sql, parameters = session.sent[0]
    assert operation == "ExecuteStatement"
    assert sql.startswith("INSERT INTO airlines.load_audit (")
    assert "CAST(NULL AS TIMESTAMP), CAST(NULL AS VARCHAR(4096))" in sql  # finished_at, error
    values = {p["name"]: p["value"] for p in parameters}
    assert (values["status"], values["batch_id"]) == ("STARTED", BATCH_ID)
    assert values["started_at"] == the_batch.started_at.isoformat(sep=" ")
    # And the summary is the one the DuckDB warehouse returns for the same file (3 rejected, airport 99999 unknown)
    reference, tables = duckdb_reference(tmp_path, the_batch)
    assert summary == reference
    assert (summary.rows_rejected, summary.unknown_airports, summary.unknown_airport_ids) == (3, 1, [99999])
    # And each staged file holds exactly the rows DuckDB inserted (timestamps of this run aside)
    [staged] = session.staged
    assert sorted(staged) == [f"staging/{BATCH_ID}/{t}/part-1.parquet" for t in ("audit", "fact", "rejected")]
    fact = staged[f"staging/{BATCH_ID}/fact/part-1.parquet"]
    rejected = staged[f"staging/{BATCH_ID}/rejected/part-1.parquet"]
    audit = staged[f"staging/{BATCH_ID}/audit/part-1.parquet"]
    assert without(fact.rows, schema.FACT_COLUMNS, "loaded_at") == without(
        tables[schema.FACT], schema.FACT_COLUMNS, "loaded_at"
    )
    assert without(rejected.rows, schema.REJECTED_COLUMNS, "rejected_at") == without(
        tables[schema.REJECTED], schema.REJECTED_COLUMNS, "rejected_at"
    )
    assert without(audit.rows, schema.AUDIT_COLUMNS, "finished_at") == without(
        tables[schema.AUDIT], schema.AUDIT_COLUMNS, "finished_at"
    )
    # And the staged objects were deleted after the commit, by key: the job's role has no s3:ListBucket
    assert staged_keys() == []
    assert "ListObjectsV2" not in s3_calls
    assert s3_calls.count("DeleteObjects") == 1


def test_staged_parquet_matches_the_tables_column_order_and_types(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given a load of the sample (Parquet COPY into Redshift is positional)
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, LOAD_STATEMENTS)
    expect_status(session.stubber, "batch-1", "FINISHED")
    warehouse.load_file(prepared(FLIGHTS_CSV), batch())
    # Then every staged file has its table's columns, in order, with the Parquet type COPY expects
    parquet_type = {"BIGINT": "INT_64", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP_MILLIS", "DOUBLE PRECISION": "DOUBLE"}
    for table, columns in (
        ("fact", schema.FACT_COLUMNS),
        ("rejected", schema.REJECTED_COLUMNS),
        ("audit", schema.AUDIT_COLUMNS),
    ):
        staged = session.staged[0][f"staging/{BATCH_ID}/{table}/part-1.parquet"]
        assert staged.columns == schema.column_names(columns), table
        assert staged.types == [parquet_type.get(t, "UTF8") for _, t in columns], table


def test_a_file_without_rejected_rows_copies_no_rejected_file_but_still_replaces_old_rejections(
    session: StubbedSession, warehouse: RedshiftWarehouse, tmp_path: Path
) -> None:
    # Given a clean two-row file
    path = tmp_path / "clean.csv"
    path.write_text("Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nAA,10397,12478,5,\nDL,10397,12478,,\n")
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expected = [sql for sql in LOAD_STATEMENTS if not sql.startswith("COPY stage_rejected")]
    expect_batch(session.stubber, expected)
    expect_status(session.stubber, "batch-1", "FINISHED")
    # When it is loaded
    summary = warehouse.load_file(prepared(path), batch())
    # Then there is no COPY of an empty rejected set, while the DELETE of the file's old rejected rows stays
    assert (summary.rows_loaded, summary.rows_rejected) == (2, 0)
    assert sorted(session.staged[0]) == [f"staging/{BATCH_ID}/{t}/part-1.parquet" for t in ("audit", "fact")]


def test_a_file_with_only_a_header_raises_no_data_rows_and_loads_nothing(
    session: StubbedSession, warehouse: RedshiftWarehouse, tmp_path: Path
) -> None:
    # Given a header-only file
    path = tmp_path / "empty.csv"
    path.write_text("Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n")
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports(10))
    # When it is loaded / Then NoDataRows, nothing staged and no batch submitted (no answer stubbed for one)
    with pytest.raises(NoDataRows):
        warehouse.load_file(prepared(path), batch())
    assert staged_keys() == []
    session.stubber.assert_no_pending_responses()


def test_a_failed_copy_raises_load_failed_with_the_load_error_detail(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given the batch fails at its first COPY and sys_load_error_detail explains why
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, LOAD_STATEMENTS)
    expect_status(
        session.stubber,
        "batch-1",
        "STARTED",
        "FAILED",
        Error="ERROR: Spectrum Scan Error",
        SubStatements=[
            {"Id": "batch-1:1", "Status": "FINISHED"},
            {
                "Id": "batch-1:5",
                "Status": "FAILED",
                "Error": "ERROR: Spectrum Scan Error",
                "QueryString": LOAD_STATEMENTS[4],
            },
        ],
    )
    expect_read(
        session.stubber,
        LOAD_ERRORS_SERVERLESS,
        ["file_name", "line_number", "column_name", "error_code", "error_message"],
        [(f"{PREFIX}fact/part-1.parquet", 1, "dep_delay", 1207, "Invalid digit, Value 'x', Pos 0, Type: Long")],
        parameters=[{"name": "staged", "value": PREFIX + "%"}],
        statement_id="errors",
    )
    session.stubber.add_response("execute_statement", {"Id": "fail-1"}, None)
    expect_status(session.stubber, "fail-1", "FINISHED")
    the_batch = batch()
    # When the file is loaded
    with pytest.raises(LoadFailed) as failure:
        warehouse.load_file(prepared(FLIGHTS_CSV), the_batch)
    # Then the error names the failing statement and carries the COPY error text for the notification
    assert "statement 5 (COPY stage_fact" in str(failure.value)
    assert "Invalid digit, Value 'x'" in failure.value.details
    assert "dep_delay" in failure.value.details
    # And the staged files are kept for inspection
    assert len(staged_keys()) == 3
    # And when the failure is recorded, the attempt's STARTED row becomes FAILED (no second row), values bound
    warehouse.record_failure(the_batch, "LoadFailed: Invalid digit")
    operation, sql, parameters = session.sent[-1]
    assert (operation, sql) == (
        "ExecuteStatement",
        "UPDATE airlines.load_audit SET status = CAST(:status AS VARCHAR(16)), "
        "finished_at = CAST(:finished_at AS TIMESTAMP), error = CAST(:error AS VARCHAR(4096))\n"
        "WHERE batch_id = CAST(:batch_id AS VARCHAR(320)) AND started_at = CAST(:started_at AS TIMESTAMP)\n"
        "  AND finished_at IS NULL",
    )
    values = {p["name"]: p["value"] for p in parameters}
    assert (values["status"], values["error"], values["batch_id"]) == ("FAILED", "LoadFailed: Invalid digit", BATCH_ID)
    assert values["started_at"] == the_batch.started_at.isoformat(sep=" ")
    session.stubber.assert_no_pending_responses()


def test_a_provisioned_cluster_reads_copy_errors_from_stl_load_errors(session: StubbedSession) -> None:
    # Given a provisioned-cluster warehouse whose load fails without any COPY error rows
    warehouse = RedshiftWarehouse.from_uri(CLUSTER_URI, boto3_session=session, poll_initial=0)
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports(), args=CLUSTER_ARGS)
    expect_batch(session.stubber, LOAD_STATEMENTS, args=CLUSTER_ARGS)
    expect_status(session.stubber, "batch-1", "FAILED", Error="ERROR: permission denied for relation load_audit")
    expect_read(
        session.stubber,
        LOAD_ERRORS_PROVISIONED,
        ["file_name", "line_number", "column_name", "error_code", "error_message"],
        [],
        args=CLUSTER_ARGS,
        parameters=[{"name": "staged", "value": PREFIX + "%"}],
        statement_id="errors",
    )
    # When the file is loaded / Then LoadFailed falls back to the statement's own error
    with pytest.raises(LoadFailed, match="permission denied for relation load_audit") as failure:
        warehouse.load_file(prepared(FLIGHTS_CSV), batch())
    assert failure.value.details == "ERROR: permission denied for relation load_audit"
    session.stubber.assert_no_pending_responses()


def test_a_load_that_outlives_the_timeout_is_cancelled(session: StubbedSession) -> None:
    # Given a zero timeout and a batch that is still running at the first look
    warehouse = RedshiftWarehouse.from_uri(URI, boto3_session=session, poll_initial=0, timeout=0)
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, LOAD_STATEMENTS)
    expect_status(session.stubber, "batch-1", "STARTED")
    session.stubber.add_response("cancel_statement", {"Status": True}, {"Id": "batch-1"})
    # When the file is loaded / Then the statement is cancelled (so it cannot commit later) and LoadFailed raised
    with pytest.raises(LoadFailed, match="still running after 0s, cancelled"):
        warehouse.load_file(prepared(FLIGHTS_CSV), batch())
    session.stubber.assert_no_pending_responses()


def test_a_batch_id_with_unsafe_characters_gets_a_safe_unique_staging_key(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given a batch id (e.g. a Step Functions execution name) with a quote and a space
    expect_start(session.stubber)
    expect_dimension(session.stubber, sample_airports())
    expect_batch(session.stubber, None)
    expect_status(session.stubber, "batch-1", "FINISHED")
    # When the file is loaded
    warehouse.load_file(prepared(FLIGHTS_CSV), batch(batch_id="it's run 1"))
    # Then the staging key is cleaned and suffixed with a hash; the id itself is only in the Parquet rows
    keys = sorted(session.staged[0])
    assert all(key.startswith("staging/it_s_run_1-") for key in keys), keys
    assert all("it's" not in sql for _, sql, _ in session.sent)


def test_rejected_details_longer_than_the_column_are_cut_to_its_size_in_bytes() -> None:
    # Given values longer than a VARCHAR(8), in ASCII and in two-byte characters
    con = duckdb.connect()
    sql = parquet_select("SELECT ? AS detail", (("detail", "VARCHAR(8)"),))
    # When they are conformed for Parquet / Then they fit in 8 bytes and stay valid text
    assert con.execute(sql, ["abcdefghijk"]).fetchall() == [("abcdefgh",)]
    assert con.execute(sql, ["short"]).fetchall() == [("short",)]
    [(cut,)] = con.execute(sql, ["éééééééééé"]).fetchall()
    assert 0 < len(cut.encode()) <= 8
    assert set(cut) == {"é"}


# --- record_failure and query --------------------------------------------------------------------


def test_record_failure_inserts_a_failed_audit_row_with_named_parameters(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given a failed attempt whose key named no date, no etag and no delay filter
    expected_sql = (
        "INSERT INTO airlines.load_audit (batch_id, source_file, etag, flight_date, status, rows_read, rows_loaded, "
        "rows_rejected, rows_filtered, unknown_airports, unknown_airport_ids, min_dep_delay, started_at, "
        "finished_at, error, job_capacity_dpu)\n"
        "VALUES (CAST(:batch_id AS VARCHAR(320)), CAST(:source_file AS VARCHAR(1100)), CAST('' AS VARCHAR(128)), "
        "CAST(NULL AS DATE), CAST(:status AS VARCHAR(16)), CAST(:rows_read AS BIGINT), CAST(:rows_loaded AS BIGINT), "
        "CAST(:rows_rejected AS BIGINT), CAST(:rows_filtered AS BIGINT), CAST(:unknown_airports AS BIGINT), "
        "CAST('' AS VARCHAR(1024)), CAST(NULL AS BIGINT), CAST(:started_at AS TIMESTAMP), "
        "CAST(:finished_at AS TIMESTAMP), CAST(:error AS VARCHAR(4096)), CAST(NULL AS DOUBLE PRECISION))"
    )
    the_batch = batch(flight_date=None, etag="")
    session.stubber.add_response("execute_statement", {"Id": "fail-1"}, None)
    expect_status(session.stubber, "fail-1", "FINISHED")
    # When the failure is recorded
    warehouse.record_failure(the_batch, "InvalidHeader: wrong header")
    # Then values travel as parameters (the API refuses empty values: None/'' are written as NULL/'')
    [(operation, sql, parameters)] = session.sent
    assert (operation, sql) == ("ExecuteStatement", expected_sql)
    values = {p["name"]: p["value"] for p in parameters}
    assert values["batch_id"] == BATCH_ID
    assert values["source_file"] == SOURCE
    assert values["status"] == "FAILED"
    assert values["rows_read"] == "0"
    assert values["error"] == "InvalidHeader: wrong header"
    assert values["started_at"] == the_batch.started_at.isoformat(sep=" ")


def test_record_failure_never_raises(
    session: StubbedSession, warehouse: RedshiftWarehouse, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the Data API refuses the statement
    session.stubber.add_client_error("execute_statement", "ValidationException", "workgroup not found")
    # When the failure is recorded / Then nothing is raised, and the problem is logged
    with caplog.at_level(logging.ERROR):
        warehouse.record_failure(batch(), "LoadFailed: boom")
    assert "could not write the FAILED audit row" in caplog.text
    assert "workgroup not found" in caplog.text


def test_query_binds_named_parameters_and_returns_plain_python_rows(
    session: StubbedSession, warehouse: RedshiftWarehouse
) -> None:
    # Given audit rows with NULLs, one in an integer column
    expect_read(
        session.stubber,
        "SELECT batch_id, rows_loaded, error FROM airlines.load_audit WHERE batch_id = :batch_id AND error IS NULL",
        ["batch_id", "rows_loaded", "error"],
        [(BATCH_ID, 895, None), (BATCH_ID, None, "LoadFailed: boom")],
        parameters=[{"name": "batch_id", "value": BATCH_ID}],
    )
    # When it is read with a :name placeholder (a None parameter becomes NULL in the text)
    rows = warehouse.query(
        "SELECT batch_id, rows_loaded, error FROM airlines.load_audit WHERE batch_id = :batch_id AND error IS :nothing",
        {"batch_id": BATCH_ID, "nothing": None},
    )
    # Then the rows are dicts of plain Python values, None (not NaN) for NULL
    assert rows == [
        {"batch_id": BATCH_ID, "rows_loaded": 895, "error": None},
        {"batch_id": BATCH_ID, "rows_loaded": None, "error": "LoadFailed: boom"},
    ]
    assert type(rows[0]["rows_loaded"]) is int
