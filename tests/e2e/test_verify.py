"""``airline-pipeline verify --stack-name``: the command an operator runs after a deploy, here against
the emulator's stack (through ``AWS_ENDPOINT_URL``, as it would reach AWS through its defaults)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from airline_pipeline.local.demo import LocalPipeline

CLI = Path(sys.executable).parent / "airline-pipeline"
#: What the demo's last line promises (README, design notes' CLI contract); verify prints the same.
DEMO_KEYS = {"execution_status", "rows_loaded", "rows_rejected", "notification", "batch_id", "source_file"}


def verify(pipeline: LocalPipeline, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {**os.environ, **pipeline.emulator.aws_env()}
    done = subprocess.run(
        [str(CLI), "verify", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_verify_proves_the_deployed_stack_loads_the_sample_day(pipeline: LocalPipeline) -> None:
    # Given the deployed stack, known only by its name
    # When an operator verifies it
    code, summary, stderr = verify(pipeline, "--stack-name", pipeline.stack_name, "--timeout", "240")

    # Then the sample day went through every step and its rows are in the stack's warehouse
    assert code == 0, stderr[-3000:]
    assert set(summary) >= DEMO_KEYS
    assert summary["execution_status"] == "SUCCEEDED"
    assert (summary["rows_loaded"], summary["rows_rejected"], summary["unknown_airports"]) == (895, 3, 1)
    assert "/daily-flights/date=2013-01-15/airline-pipeline-verify-" in summary["source_file"]
    assert summary["warehouse"] == f"duckdb://{pipeline.warehouse_path}"
    assert summary["notification"]["subject"].startswith(
        "[airline-pipeline] LOADED 2013-01-15 LATE airline-pipeline-verify-"  # the sample day is years old
    )
    assert "StartLoadJob" in summary["states"]
    # and progress went to stderr, the summary alone to the last stdout line
    assert "the upload started execution" in stderr


def test_verify_exits_non_zero_when_the_file_fails(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # Given a file the pipeline refuses
    bad = tmp_path / "bad.csv"
    bad.write_text("carrier,origin,dest,dep_delay,arr_delay\nDL,10397,12478,5,-3\n")

    # When it is verified with that file
    code, summary, _ = verify(pipeline, "--stack-name", pipeline.stack_name, "--flights", str(bad), "--timeout", "240")

    # Then it says FAILED, why, and exits 1
    assert code == 1
    assert summary["execution_status"] == "FAILED"
    assert summary["error"] == "InvalidHeader"
    assert summary["rows_loaded"] == 0


def test_verify_names_a_stack_that_is_not_there(pipeline: LocalPipeline) -> None:
    code, summary, stderr = verify(pipeline, "--stack-name", "no-such-stack")
    assert code == 1
    assert summary["status"] == "FAILED"
    assert "stack no-such-stack not found" in summary["message"]
    assert "Traceback" not in stderr
