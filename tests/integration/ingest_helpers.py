"""Helpers for the load tests: the CLI as a subprocess, input files under date= folders, warehouse reads.

(Not in conftest.py: ``tests/e2e`` has a conftest too, and ``from conftest import`` would be ambiguous.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import duckdb
from flights_oracle import FACT_COLUMNS

import airline_pipeline

SAMPLES = Path(airline_pipeline.__file__).resolve().parent / "samples"
SAMPLE_AIRPORTS = SAMPLES / "airports.csv"
SAMPLE_FLIGHTS = SAMPLES / "flights_2013-01-15.csv"
CLI = str(Path(sys.executable).with_name("airline-pipeline"))
#: A file loaded into the template warehouse before every test: "nothing loaded" must leave it alone.
BASELINE_DAY = "date=2013-01-14"


@dataclass
class CliResult:
    returncode: int
    summary: dict[str, Any]
    stdout: str
    stderr: str


def run_cli(*args: str, timeout: float = 300, env: Optional[dict[str, str]] = None, **popen: Any) -> CliResult:
    """Run ``airline-pipeline ARGS``; the last stdout line is the JSON summary.

    ``env``: added to this process's environment; ``popen``: more ``subprocess.run`` arguments
    (``preexec_fn`` to inject a fault).
    """
    full_env = {**os.environ, **env} if env else None
    proc = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout, check=False, env=full_env, **popen
    )
    return CliResult(proc.returncode, last_json(proc.stdout), proc.stdout, proc.stderr)


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON object on the last stdout line; ``{}`` when there is none (the tests then say so)."""
    lines = stdout.strip().splitlines()
    try:
        value = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"_json": value}


def assert_clean_failure(result: CliResult, error: Optional[str] = None, *words: str) -> None:
    """The CLI failure contract: non-zero exit, no traceback, a message on stderr, the JSON line last on stdout."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert result.summary, f"the last stdout line is not a JSON object: {result.stdout[-500:]!r}"
    assert {"status", "error", "message"} <= set(result.summary), result.summary
    assert result.summary["status"] == "FAILED"
    assert result.summary["message"], result.summary
    assert result.stderr.strip(), "no message on stderr"
    if error is not None:
        assert result.summary["error"] == error, result.summary
    for word in words:
        assert word in result.summary["message"], (word, result.summary["message"])


def place(root: Path, data: bytes, *, folder: Optional[str] = "date=2013-01-15", name: str = "flights.csv") -> Path:
    """Write ``data`` as ``root/<folder>/<name>`` (the date comes from the folder) and return its path."""
    directory = root / folder if folder else root
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


class Db:
    """Read access to a DuckDB warehouse file, independent of the warehouse class under test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.uri = f"duckdb://{path}"

    def rows(self, sql: str, params: Optional[list[Any]] = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return [tuple(row) for row in con.execute(sql, params or []).fetchall()]
        finally:
            con.close()

    def scalar(self, sql: str, params: Optional[list[Any]] = None) -> Any:
        return self.rows(sql, params)[0][0]

    def facts(self, source_file: str) -> Counter:
        return Counter(
            self.rows(f"SELECT {FACT_COLUMNS} FROM airlines.daily_flights_fact WHERE source_file = ?", [source_file])
        )

    def rejects(self, source_file: str) -> dict[int, str]:
        rows = self.rows(
            "SELECT line_number, reason FROM airlines.rejected_rows WHERE source_file = ? ORDER BY 1", [source_file]
        )
        return dict(rows)

    def audit(self, source_file: str) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            cursor = con.execute(
                "SELECT * FROM airlines.load_audit WHERE source_file = ? ORDER BY started_at, finished_at",
                [source_file],
            )
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            con.close()

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every fact row, lineage included, in a stable order: to prove a failed load changed nothing."""
        return self.rows("SELECT * FROM airlines.daily_flights_fact ORDER BY ALL")
