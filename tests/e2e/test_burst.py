"""A burst on the local emulator: files across as many dates land at once, plus 10 exact duplicates.

The emulator's Glue refuses runs beyond the job's MaxConcurrentRuns here (recorder/glue_limit.py), as
AWS Glue does, so the pipeline must wait for a slot - in the admission queue, or in the state
machine's ConcurrentRunsExceeded retry - instead of failing. Files are tiny: the test measures the
admission path, not parsing. The drain time (first upload to empty queue and no running execution)
is printed.

How many files: ``AIRLINE_PIPELINE_BURST_FILES``, default 50 - still 17 times the 3 load slots, so
most files wait and the waiting is what is tested. The issue's 200-file burst drained in 712 s on the
shared 2-core machine (docs/scale.md), which would take CI (~13 min without it) past its 20-minute
budget; ``make burst`` runs the 200 files.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from stacks import GLUE_MAX_CONCURRENT_RUNS, admission_backlog

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.core import schema
from airline_pipeline.local.demo import LocalPipeline

#: CI's burst; ``make burst`` (AIRLINE_PIPELINE_BURST_FILES=200) is the issue's (the drain time scales with it).
FILES = int(os.environ.get("AIRLINE_PIPELINE_BURST_FILES", "50"))
DUPLICATES = 10
FIRST_DAY = date(2014, 1, 1)
AIRPORTS = (10397, 12478, 12266, 12892, 13930)
#: Measured on a shared 2-core machine: 3.6 s/file at 3 concurrent loads (8.6 s before the crawler was
#: skipped); 20 s a file leaves room for a machine five times as loaded.
DRAIN_TIMEOUT = 60.0 + 20.0 * FILES


def tiny_file(number: int) -> bytes:
    """Two or three flights, different per file (so the union is checkable), one cancelled every 7th."""
    rows = ["Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"]
    for flight in range(2 + number % 2):
        origin, dest = AIRPORTS[(number + flight) % 5], AIRPORTS[(number + flight + 2) % 5]
        delays = ("", "") if (number + flight) % 7 == 0 else (str(number % 90 - 10), str(flight * 3 - number % 50))
        rows.append(f"B{flight},{origin},{dest},{delays[0]},{delays[1]}")
    return ("\n".join(rows) + "\n").encode()


def expected_rows(body: bytes) -> list[tuple[Any, ...]]:
    rows = []
    for line in body.decode().splitlines()[1:]:
        carrier, _, _, dep, arr = line.split(",")
        rows.append((carrier, int(dep) if dep else None, int(arr) if arr else None))
    return rows


def drained(pipeline: LocalPipeline) -> bool:
    """Nothing waits in the admission queue and no execution runs."""
    if admission_backlog(pipeline):
        return False
    running = pipeline.clients("stepfunctions").list_executions(
        stateMachineArn=pipeline.outputs["StateMachineArn"], statusFilter="RUNNING", maxResults=1
    )
    return not running["executions"]


def executions_since(pipeline: LocalPipeline, since: datetime) -> list[dict[str, Any]]:
    paginator = pipeline.clients("stepfunctions").get_paginator("list_executions")
    found = []
    for page in paginator.paginate(stateMachineArn=pipeline.outputs["StateMachineArn"]):
        found += [e for e in page["executions"] if e["startDate"] >= since - timedelta(seconds=1)]
    return found


@pytest.mark.timeout(int(DRAIN_TIMEOUT) + 300)  # the suite's 600 s cannot hold 200 files draining at ~17/min
def test_a_burst_of_files_and_10_duplicates_loads_each_file_exactly_once_without_a_failure(
    pipeline: LocalPipeline, glue_limit_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack allows MaxConcurrentLoads runs at once, which the emulator's Glue enforces
    parameters = pipeline.clients("cloudformation").describe_stacks(StackName=pipeline.stack_name)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in parameters["Parameters"]}.get(
        "MaxConcurrentLoads", str(GLUE_MAX_CONCURRENT_RUNS)
    ) == str(GLUE_MAX_CONCURRENT_RUNS)
    s3 = pipeline.clients("s3")
    prefix = pipeline.outputs["DataPrefix"]
    files = {f"{prefix}date={FIRST_DAY + timedelta(days=n)}/burst-{n:03d}.csv": tiny_file(n) for n in range(FILES)}
    duplicates = list(files)[:: max(1, FILES // DUPLICATES)][:DUPLICATES]
    uploads = [*files.items(), *((key, files[key]) for key in duplicates)]

    # When all of them are uploaded at once
    since = datetime.now(timezone.utc)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=pipeline.bucket, Key=item[0], Body=item[1]), uploads))
    uploaded = time.monotonic() - started
    # and the pipeline drains them (twice in a row: a deferred message may be invisible for a moment)
    time.sleep(5)
    calm = 0
    while calm < 2:
        assert time.monotonic() - started < DRAIN_TIMEOUT, "the burst did not drain in time"
        calm = calm + 1 if drained(pipeline) else 0
        time.sleep(3)
    drain_seconds = time.monotonic() - started

    # Then no execution failed: every file that found no slot waited
    executions = executions_since(pipeline, since)
    statuses = Counter(e["status"] for e in executions)
    assert set(statuses) == {"SUCCEEDED"}, statuses
    assert FILES <= len(executions) <= FILES + DUPLICATES
    durations = [(e["stopDate"] - e["startDate"]).total_seconds() for e in executions]
    # and the Glue job ran once per file - the duplicates were skipped - never above its limit
    starts = [json.loads(line) for line in glue_limit_log.read_text().splitlines()]
    starts = [s for s in starts if s["t"] >= since.timestamp() - 1]
    accepted = [s for s in starts if not s["refused"]]
    refused = [s for s in starts if s["refused"]]
    assert len(accepted) == FILES
    assert max(s["active"] for s in accepted) <= GLUE_MAX_CONCURRENT_RUNS
    # and the warehouse holds each file exactly once: one LOADED audit row, and the fact table is the union
    warehouse = DuckDBWarehouse(str(pipeline.warehouse_path))
    audit = warehouse.query(
        f"SELECT source_file, count(*) AS n FROM {schema.AUDIT} WHERE status = 'LOADED' "
        "AND source_file LIKE :burst GROUP BY source_file",
        {"burst": "%/burst-%"},
    )
    assert {row["source_file"]: row["n"] for row in audit} == {f"s3://{pipeline.bucket}/{key}": 1 for key in files}
    fact = warehouse.query(
        f"SELECT source_file, carrier, dep_delay, arr_delay FROM {schema.FACT} WHERE source_file LIKE :burst",
        {"burst": "%/burst-%"},
    )
    loaded = Counter((r["source_file"], r["carrier"], r["dep_delay"], r["arr_delay"]) for r in fact)
    union = Counter(
        (f"s3://{pipeline.bucket}/{key}", *row) for key, body in files.items() for row in expected_rows(body)
    )
    assert loaded == union
    with capsys.disabled():
        print(
            f"\nburst: {FILES} files + {DUPLICATES} duplicates uploaded in {uploaded:.1f}s, drained in "
            f"{drain_seconds:.0f}s ({drain_seconds / FILES:.2f}s/file at {GLUE_MAX_CONCURRENT_RUNS} concurrent "
            f"loads); {len(executions)} executions of {sum(durations) / len(durations):.1f}s on average, "
            f"{len(refused)} Glue starts refused by the limit"
        )
