"""``ingest`` sends OpenLineage events through the client's file transport: START + COMPLETE for a
good file, START + FAIL for a refused one, each valid per the vendored spec, with the CLI's counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import SAMPLE_FLIGHTS, Db, place, run_cli

pytest.importorskip("openlineage.client", reason="openlineage-python needs Python >= 3.10")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from openlineage_schema import validate_run_event

WRONG_HEADER = b"Carrier,Origin,Dest,DepDelay,ArrDelay,Extra\nAA,1,2,3,4,5\n"


def lineage_env(events: Path) -> dict[str, str]:
    return {
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_ingest_sends_start_and_complete_or_fail(db: Db, tmp_path: Path) -> None:
    # Given the client configured with its file transport
    events = tmp_path / "lineage.jsonl"
    good = place(tmp_path, SAMPLE_FLIGHTS.read_bytes(), folder="date=2013-01-15")
    bad = place(tmp_path, WRONG_HEADER, folder="date=2013-01-16")
    # When a good file and a refused one are ingested
    loaded = run_cli("ingest", str(good), "--warehouse", db.uri, env=lineage_env(events))
    refused = run_cli("ingest", str(bad), "--warehouse", db.uri, env=lineage_env(events))
    assert (loaded.returncode, refused.returncode) == (0, 1)
    # Then four valid events: START and COMPLETE of one run, START and FAIL of another
    sent = read_events(events)
    for event in sent:
        validate_run_event(event)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE", "START", "FAIL"]
    assert sent[0]["run"]["runId"] == sent[1]["run"]["runId"] != sent[2]["run"]["runId"] == sent[3]["run"]["runId"]
    # with the file and the table as datasets and the CLI's own counts
    complete = sent[1]
    assert complete["inputs"][0] == {**complete["inputs"][0], "namespace": "file", "name": str(good)}
    assert complete["outputs"][0]["name"] == "airlines.daily_flights_fact"
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == loaded.summary["rows_loaded"]
    metrics = complete["inputs"][0]["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == loaded.summary["rows_read"]
    assert sent[3]["run"]["facets"]["errorMessage"]["message"].startswith("InvalidHeader: ")
    # and the last stdout line is still the load's JSON summary
    assert refused.summary["status"] == "FAILED"


def test_without_configuration_ingest_sends_nothing(db: Db, tmp_path: Path) -> None:
    # Given no OpenLineage variable and a working directory without openlineage.yml
    assert not any(name.startswith("OPENLINEAGE") for name in os.environ)
    work = tmp_path / "work"
    good = place(work, SAMPLE_FLIGHTS.read_bytes(), folder="date=2013-01-15")
    result = run_cli("ingest", str(good), "--warehouse", db.uri, env={"HOME": str(work)}, cwd=work)
    # Then the load is as before and no event file or console output appears
    assert result.returncode == 0
    assert "OpenLineage" not in result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["date=2013-01-15"]


CHILD = """
import json, sys
sys.path[:0] = [sys.argv[1]]
from airline_pipeline.adapters import lineage
import openlineage.client
summary = {"batch_id": "e2cef652", "source_file": "s3://b/daily-flights/date=2013-01-15/f.csv", "status": "LOADED",
           "rows_read": 3, "rows_loaded": 3}
print(json.dumps({"sent": lineage.emit_load(summary, warehouse_uri="duckdb:///w.duckdb"),
                  "origin": openlineage.client.__file__}))
"""


def test_the_lambda_layer_alone_carries_the_client(build: Path, tmp_path: Path) -> None:
    """The Lambdas import openlineage only when configured: prove the layer has all it needs, without the venv."""
    layer = build / "DomainLayer" / "python"
    events = tmp_path / "lineage.jsonl"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **lineage_env(events)}
    done = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, str(layer)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["sent"] == 2
    assert result["origin"].startswith(str(layer))
    for event in read_events(events):
        validate_run_event(event)
