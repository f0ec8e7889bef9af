"""Failure injection on the deployed stack: break one dependency, upload a file, and check that the
execution ends FAILED (or retries and succeeds, for a transient fault), that the notification names
the failing step and its cause, and that the warehouse holds no partial batch. Every test puts back
what it broke."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.core import schema
from airline_pipeline.core.defaults import SAMPLES
from airline_pipeline.local.demo import LocalPipeline

SAMPLE = SAMPLES / "flights_2013-01-15.csv"


def batches_of(pipeline: LocalPipeline, key_suffix: str) -> dict[str, int]:
    """Fact rows per batch id for one object: a partial or doubled load would show here."""
    rows = DuckDBWarehouse(str(pipeline.warehouse_path)).query(
        f"SELECT batch_id, count(*) AS n FROM {schema.FACT} WHERE source_file LIKE :s GROUP BY batch_id",
        {"s": f"%{key_suffix}"},
    )
    return {r["batch_id"]: int(r["n"]) for r in rows}


@contextmanager
def crawler_deleted(pipeline: LocalPipeline) -> Iterator[None]:
    glue = pipeline.emulator.client("glue")
    name = pipeline.outputs["CrawlerName"]
    saved = glue.get_crawler(Name=name)["Crawler"]
    glue.delete_crawler(Name=name)
    try:
        yield
    finally:
        glue.create_crawler(
            Name=name,
            Role=saved["Role"],
            DatabaseName=saved["DatabaseName"],
            Targets=saved["Targets"],
            SchemaChangePolicy=saved.get("SchemaChangePolicy") or {},
        )


@contextmanager
def job_warehouse(pipeline: LocalPipeline, uri: str) -> Iterator[None]:
    """Point the Glue job at ``uri`` (e.g. with a short lock timeout) for the duration."""
    glue = pipeline.emulator.client("glue")
    job = glue.get_job(JobName=pipeline.outputs["GlueJobName"])["Job"]

    def update(arguments: dict[str, str]) -> None:
        fields = {name: job[name] for name in ("Role", "Command", "MaxRetries", "MaxCapacity", "GlueVersion")}
        glue.update_job(
            JobName=job["Name"], JobUpdate={**fields, "Timeout": int(job["Timeout"]), "DefaultArguments": arguments}
        )

    update({**job["DefaultArguments"], "--warehouse": uri})
    try:
        yield
    finally:
        update(job["DefaultArguments"])


@contextmanager
def topic_deleted(pipeline: LocalPipeline) -> Iterator[None]:
    sns = pipeline.emulator.client("sns")
    topic = pipeline.outputs["NotificationTopicArn"]
    sns.delete_topic(TopicArn=topic)
    try:
        yield
    finally:
        recreated = sns.create_topic(Name=topic.rsplit(":", 1)[1])["TopicArn"]
        assert recreated == topic


@contextmanager
def warehouse_locked(pipeline: LocalPipeline, seconds: float) -> Iterator[None]:
    """Another process holds the DuckDB file's write lock for ``seconds`` (or until the block ends)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(pipeline.warehouse_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    try:
        yield
    finally:
        holder.terminate()
        holder.wait(10)


LOCK_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def wait_for_state(pipeline: LocalPipeline, execution_arn: str, state: str, timeout: float = 120) -> None:
    sfn = pipeline.emulator.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in events):
            return
        time.sleep(0.5)
    raise AssertionError(f"{state} not reached within {timeout}s")


def wait_until_job_ended(pipeline: LocalPipeline, execution_arn: str, timeout: float = 180) -> None:
    """Block until the execution has left the Glue job (so the lock can be released afterwards)."""
    wait_for_state(pipeline, execution_arn, "LoadJobFailed", timeout)


def summary_of(result: Any) -> dict[str, Any]:
    assert result.notification is not None, "no notification was published"
    return dict(result.notification["summary"])


def test_crawler_failure_fails_the_execution_and_names_the_step(pipeline: LocalPipeline) -> None:
    # Given the crawler is gone (a deleted or misconfigured crawler fails the same way)
    with crawler_deleted(pipeline):
        # When a good file lands
        result = pipeline.run_file(SAMPLE, date(2013, 2, 1), name="crawler-down.csv")

    # Then, after the retries, the execution fails and the notification names the step and cause
    assert result.status == "FAILED"
    summary = summary_of(result)
    assert summary["failed_state"] == "StartCrawler"
    assert "EntityNotFoundException" in summary["cause"] or "not found" in summary["cause"].lower()
    # and nothing of the file was loaded
    assert batches_of(pipeline, "date=2013-02-01/crawler-down.csv") == {}


def test_job_failing_mid_load_keeps_the_previous_copy_whole(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # Given a day that is loaded
    key = "date=2013-02-02/mid-load.csv"
    first = pipeline.run_file(SAMPLE, date(2013, 2, 2), name="mid-load.csv")
    assert first.status == "SUCCEEDED"
    before = batches_of(pipeline, key)
    assert before == {first.batch_id: 895}
    # and a warehouse that will fail at the end of the next load's transaction: the fact and rejected
    # rows are replaced first, the LOADED audit row is written last, and the audit table refuses it
    # (the attempt's STARTED row, committed before the transaction, and its FAILED row pass)
    with refusing_loaded_audit_rows(pipeline):
        # When a corrected file for the same key lands
        corrected = tmp_path / "corrected.csv"
        corrected.write_text(SAMPLE.read_text() + "DL,10570,11000,1,2\n")
        result = pipeline.run_file(corrected, date(2013, 2, 2), name="mid-load.csv")

    # Then the job fails, the notification carries the warehouse's error, and the first copy is intact
    assert result.status == "FAILED"
    summary = summary_of(result)
    assert summary["failed_state"] == "RunLoadJob"
    assert summary["error"] == "GlueJobFAILED"
    assert "load_audit" in summary["cause"]
    assert batches_of(pipeline, key) == before
    # And the attempt is on record as FAILED with that cause, not left STARTED
    with duckdb.connect(str(pipeline.warehouse_path), read_only=True) as con:
        audit = con.execute(
            f"SELECT status, error FROM {schema.AUDIT} WHERE batch_id = ?", [result.batch_id]
        ).fetchall()
    assert [status for status, _ in audit] == ["FAILED"]
    assert "CHECK constraint" in audit[0][1]


@contextmanager
def refusing_loaded_audit_rows(pipeline: LocalPipeline) -> Iterator[None]:
    """The audit table swapped for one whose CHECK refuses LOADED rows; afterwards the original, rows kept."""
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.AUDIT_COLUMNS)
    with duckdb.connect(str(pipeline.warehouse_path)) as con:
        con.execute(f"ALTER TABLE {schema.AUDIT} RENAME TO load_audit_kept")
        con.execute(f"CREATE TABLE {schema.AUDIT} ({columns}, CHECK (status <> 'LOADED'))")
    try:
        yield
    finally:
        with duckdb.connect(str(pipeline.warehouse_path)) as con:
            con.execute(f"INSERT INTO {schema.SCHEMA}.load_audit_kept SELECT * FROM {schema.AUDIT}")
            con.execute(f"DROP TABLE {schema.AUDIT}")
            con.execute(f"ALTER TABLE {schema.SCHEMA}.load_audit_kept RENAME TO load_audit")


def test_warehouse_locked_for_too_long_fails_cleanly(pipeline: LocalPipeline) -> None:
    # Given a warehouse another process holds longer than the job is willing to wait
    uri = f"duckdb://{pipeline.warehouse_path}?lock_timeout=3"
    with job_warehouse(pipeline, uri):
        with warehouse_locked(pipeline, seconds=300):
            # When a good file lands
            since = datetime.now(timezone.utc)
            key = pipeline.upload(SAMPLE, date(2013, 2, 3), name="locked.csv")
            execution = pipeline.find_execution(key, since)
            wait_until_job_ended(pipeline, execution)
        result = pipeline.wait(execution)

    # Then the job gives up with WarehouseBusy, named in the notification, and nothing is loaded
    assert result.status == "FAILED"
    summary = summary_of(result)
    assert summary["failed_state"] == "RunLoadJob"
    assert "WarehouseBusy" in summary["cause"]
    assert batches_of(pipeline, "date=2013-02-03/locked.csv") == {}


def test_warehouse_locked_briefly_is_waited_for(pipeline: LocalPipeline) -> None:
    # Given a warehouse held by another process for a few seconds (a report, another load)
    with warehouse_locked(pipeline, seconds=300):
        # When a good file lands while it is held
        since = datetime.now(timezone.utc)
        key = pipeline.upload(SAMPLE, date(2013, 2, 4), name="briefly-locked.csv")
        execution = pipeline.find_execution(key, since)
        wait_for_state(pipeline, execution, "GetLoadJobRun")
        time.sleep(3)
    result = pipeline.wait(execution)

    # Then the job waits for the lock and the file loads
    assert result.status == "SUCCEEDED"
    assert result.rows_loaded == 895


def test_notification_topic_gone_fails_the_execution_after_the_load(pipeline: LocalPipeline) -> None:
    # Given the notification topic has been deleted
    with topic_deleted(pipeline):
        # When a good file lands
        result = pipeline.run_file(SAMPLE, date(2013, 2, 5), name="no-topic.csv")

    # Then the execution fails as NotificationFailed (the failed-executions alarm sees it) ...
    assert result.status == "FAILED"
    assert result.error == "NotificationFailed"
    assert "NotifySuccess" in result.states
    assert "LoadedButNotNotified" in result.states
    # ... while the rows are loaded exactly once: the load itself had succeeded
    assert list(batches_of(pipeline, "date=2013-02-05/no-topic.csv").values()) == [895]
