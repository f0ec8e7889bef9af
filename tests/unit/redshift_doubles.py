"""Test doubles for the Redshift warehouse: a boto3 session whose ``redshift-data`` client is stubbed.

The warehouse and awswrangler both take their clients from the session (aws-sdk-pandas style), so
one ``Stubber`` sees every Data API call in order, while S3 calls go to moto.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import boto3
import duckdb
from botocore.stub import Stubber

from airline_pipeline.adapters.warehouse.redshift.sql import file_apply_statements
from airline_pipeline.adapters.warehouse.redshift.warehouse import SESSION_KEEP_ALIVE_SECONDS
from airline_pipeline.core import schema
from airline_pipeline.engine import scan

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "airline_pipeline" / "samples"
AIRPORTS_CSV = SAMPLES / "airports.csv"
FLIGHTS_CSV = SAMPLES / "flights_2013-01-15.csv"

WORKGROUP = "analytics"
CLUSTER = "analytics-cluster"
DATABASE = "dev"
ROLE = "arn:aws:iam::123456789012:role/redshift-copy"
BUCKET = "stage-bucket"
STAGING = f"s3://{BUCKET}/staging/"
URI = f"redshift-data://{WORKGROUP}/{DATABASE}?iam_role={ROLE}&staging={STAGING}"
CLUSTER_URI = f"redshift-data://{CLUSTER}/{DATABASE}?iam_role={ROLE}&staging={STAGING}&cluster=true&db_user=loader"
SERVERLESS_ARGS = {"Database": DATABASE, "WorkgroupName": WORKGROUP}
CLUSTER_ARGS = {"Database": DATABASE, "ClusterIdentifier": CLUSTER, "DbUser": "loader"}


def prepared(path: Path) -> scan.PreparedFile:
    """A uniform file as :func:`scan.prepare` hands it to ``load_file`` (read in place here; routed alike)."""
    found = scan.scan_file(str(path))
    return scan.PreparedFile(str(path), found.lines, plain=found.plain)


DIM_SQL = f"SELECT airport_id, city, state, name FROM {schema.AIRPORTS}"


class StubbedSession(boto3.Session):
    """Hands out one stubbed ``redshift-data`` client; every other service is real (moto in the tests).

    ``sent`` collects every SQL text sent to the Data API; ``staged`` snapshots the staging bucket
    (key -> rows, columns and Parquet types) each time a batch is submitted.
    """

    def __init__(self) -> None:
        super().__init__(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.redshift_data = super().client("redshift-data")
        self.stubber = Stubber(self.redshift_data)
        self.sent: list[tuple[str, str, list[dict[str, str]]]] = []
        self.staged: list[dict[str, StagedFile]] = []
        events = self.redshift_data.meta.events
        events.register("before-parameter-build.redshift-data.*", self._record)

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if service_name == "redshift-data":
            return self.redshift_data
        return super().client(service_name, *args, **kwargs)  # type: ignore[call-overload]

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "Sqls" in params:
            self.sent.extend((model.name, sql, []) for sql in params["Sqls"])
            self.staged.append(read_staged())
        elif "Sql" in params:
            self.sent.append((model.name, params["Sql"], list(params.get("Parameters", []))))


class StagedFile:
    def __init__(self, columns: list[str], types: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns = columns
        self.types = types
        self.rows = rows


def read_staged() -> dict[str, StagedFile]:
    """Every Parquet object in the staging bucket, read."""
    s3 = boto3.client("s3", region_name="us-east-1")
    files: dict[str, StagedFile] = {}
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        if not item["Key"].endswith(".parquet"):
            continue
        with tempfile.TemporaryDirectory() as workdir:
            local = os.path.join(workdir, "f.parquet")
            s3.download_file(BUCKET, item["Key"], local)
            con = duckdb.connect()
            types = con.execute(
                "SELECT coalesce(converted_type, type) FROM parquet_schema(?) WHERE name <> 'duckdb_schema'", [local]
            ).fetchall()
            cursor = con.execute("SELECT * FROM read_parquet(?)", [local])
            columns = [d[0] for d in cursor.description]
            files[item["Key"]] = StagedFile(columns, [t[0] for t in types], cursor.fetchall())
            con.close()
    return files


def staged_keys() -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def field(value: Any) -> dict[str, Any]:
    """One Data API result field."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    return {"stringValue": str(value)}


def sample_airports(limit: Optional[int] = None) -> list[tuple[Any, ...]]:
    """The sample dimension as Redshift would return it (empty CSV fields are NULL)."""
    with open(AIRPORTS_CSV, newline="", encoding="utf-8") as handle:
        rows = [
            (int(r["airport_id"]), r["city"] or None, r["state"] or None, r["name"] or None)
            for r in csv.DictReader(handle)
        ]
    return rows[:limit] if limit is not None else rows


def expect_read(
    stubber: Stubber,
    sql: str,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    *,
    args: Optional[dict[str, str]] = None,
    parameters: Optional[list[dict[str, str]]] = None,
    statement_id: str = "read-1",
) -> None:
    """The calls of one ``awswrangler.data_api.redshift.read_sql_query``: execute, wait, describe, fetch."""
    expected: dict[str, Any] = {"Sql": sql, **(args or SERVERLESS_ARGS)}
    if parameters:
        expected["Parameters"] = parameters
    stubber.add_response("execute_statement", {"Id": statement_id}, expected)
    stubber.add_response("describe_statement", {"Id": statement_id, "Status": "FINISHED"}, {"Id": statement_id})
    stubber.add_response(
        "describe_statement", {"Id": statement_id, "Status": "FINISHED", "HasResultSet": True}, {"Id": statement_id}
    )
    stubber.add_response(
        "get_statement_result",
        {
            "Records": [[field(v) for v in row] for row in rows],
            "ColumnMetadata": [{"name": c} for c in columns],
            "TotalNumRows": len(rows),
        },
        {"Id": statement_id},
    )


def expect_dimension(stubber: Stubber, rows: list[tuple[Any, ...]], *, args: Optional[dict[str, str]] = None) -> None:
    expect_read(stubber, DIM_SQL, ["airport_id", "city", "state", "name"], rows, args=args, statement_id="dim")


def expect_batch(
    stubber: Stubber, sqls: Any, *, statement_id: str = "batch-1", args: Optional[dict[str, str]] = None
) -> None:
    """``batch_execute_statement``; pass ``sqls=None`` to accept any statements."""
    expected = None if sqls is None else {"Sqls": sqls, **(args or SERVERLESS_ARGS)}
    stubber.add_response("batch_execute_statement", {"Id": statement_id}, expected)


#: The Data API session a file load stages in and applies in (the service model's SessionId pattern).
SESSION_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def expect_stage(
    stubber: Stubber, sqls: Any, *, statement_id: str = "batch-1", args: Optional[dict[str, str]] = None
) -> None:
    """A file load's first ``batch_execute_statement``: it opens a session kept alive for the second."""
    expected = (
        None
        if sqls is None
        else {"Sqls": sqls, "SessionKeepAliveSeconds": SESSION_KEEP_ALIVE_SECONDS, **(args or SERVERLESS_ARGS)}
    )
    stubber.add_response("batch_execute_statement", {"Id": statement_id, "SessionId": SESSION_ID}, expected)


def expect_apply(
    stubber: Stubber, *statuses: str, statement_id: str = "batch-2", sqls: Optional[list[str]] = None, **final: Any
) -> None:
    """A file load's second batch: the locked DELETE + INSERT in the first batch's session, naming only it.

    ``sqls``: its statements (default: a file-scope load that was not refused)."""
    expected = {"Sqls": sqls or file_apply_statements(), "SessionId": SESSION_ID}
    stubber.add_response("batch_execute_statement", {"Id": statement_id, "SessionId": SESSION_ID}, expected)
    expect_status(stubber, statement_id, *(statuses or ("FINISHED",)), **final)


def expect_start(stubber: Stubber, *, statement_id: str = "start-1") -> None:
    """The STARTED audit row every file load commits first: one ``execute_statement``, then its wait."""
    stubber.add_response("execute_statement", {"Id": statement_id}, None)
    expect_status(stubber, statement_id, "FINISHED")


def expect_status(stubber: Stubber, statement_id: str, *statuses: str, **final: Any) -> None:
    """``describe_statement`` answering each status in turn; ``final`` adds fields to the last answer."""
    for index, status in enumerate(statuses):
        response: dict[str, Any] = {"Id": statement_id, "Status": status}
        if index == len(statuses) - 1:
            response.update(final)
        stubber.add_response("describe_statement", response, {"Id": statement_id})
