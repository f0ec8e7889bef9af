"""Bad input, file by file: every case of :mod:`corpus` ends in a clear file-level error with nothing
loaded, or in exactly the promised quarantined rows with every good row loaded.

Each case runs through the CLI (a subprocess on a real DuckDB file, as operators and the demo use
it) and through the Python API (``-m glue39``: the same core under Python 3.9 / DuckDB 1.2.2).
A hypothesis property (``test_row_accounting_property.py``) closes the gaps between the cases.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Optional

import pytest
from corpus import CASES, Case
from flights_oracle import Airports, expected_load
from ingest_helpers import CliResult, Db, place, run_cli

IDS = [case.kind for case in CASES]
LOADING = [case for case in CASES if case.loads]


@dataclass
class Outcome:
    case: Case
    db: Db
    source: str
    summary: dict[str, Any]
    cli: Optional[CliResult] = None


def test_the_corpus_is_large_and_varied() -> None:
    # Given the generated corpus
    # Then it covers at least 22 kinds of input, with unique names, both outcomes represented
    assert len(CASES) >= 22
    assert len(set(IDS)) == len(IDS)
    assert sum(case.loads for case in CASES) >= 10
    assert sum(not case.loads for case in CASES) >= 10


@pytest.mark.parametrize("case", LOADING, ids=[case.kind for case in LOADING])
def test_hand_written_expectations_agree_with_the_oracle(case: Case, airports: Airports) -> None:
    # Given a case that loads, with its quarantined rows written by hand
    # When the independent oracle reads the same bytes
    expected = expected_load(case.data, airports)
    # Then both agree on which lines are rejected and why, and on blank lines and unknown airports
    assert expected.rejects == case.rejects
    assert expected.blank_lines == case.blank_lines
    assert expected.unknown_airports == case.unknown_airports


# --- the checks, shared by the CLI and the API runs --------------------------------------------------


def assert_outcome(outcome: Outcome, airports: Airports, baseline: tuple[list[Any], str, Any]) -> None:
    case, db, source, summary = outcome.case, outcome.db, outcome.source, outcome.summary
    baseline_snapshot, baseline_file, baseline_facts = baseline
    audit = db.audit(source)
    assert len(audit) == 1, audit
    if not case.loads:
        # Then a clear file-level error ...
        assert summary["status"] == "FAILED"
        assert summary["error"] == case.error
        for words in case.message:
            assert words in summary["message"], (words, summary["message"])
        if outcome.cli is not None:
            assert outcome.cli.returncode != 0
            assert case.error in outcome.cli.stderr
        # ... and nothing loaded: the warehouse's facts are exactly as before, no rejected rows
        assert db.snapshot() == baseline_snapshot
        assert db.rejects(source) == {}
        assert audit[0]["status"] == "FAILED"
        assert audit[0]["error"].startswith(case.error)
        assert audit[0]["rows_loaded"] == 0
        return
    # Then the file loads ...
    if outcome.cli is not None:
        assert outcome.cli.returncode == 0, outcome.cli.stderr
    assert summary["status"] == "LOADED", summary
    expected = expected_load(case.data, airports)
    # ... with exactly the promised rows quarantined (line numbers + reasons)
    assert db.rejects(source) == case.rejects
    raw = dict(db.rows("SELECT line_number, raw_line FROM airlines.rejected_rows WHERE source_file = ?", [source]))
    for line, reason in case.rejects.items():
        if reason != "invalid_utf8":  # DuckDB keeps a bad byte of a too-long line as '?'
            assert raw[line] == expected.raw[line].replace("\ufffd", "?")
    # ... and every good row loaded, joined as the oracle computes it
    assert db.facts(source) == expected.facts
    assert summary["rows_read"] == expected.rows_read
    assert summary["rows_loaded"] == expected.rows_loaded
    assert summary["rows_rejected"] == expected.rows_rejected
    assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_rejected"]
    assert summary["blank_lines"] == case.blank_lines
    assert summary["unknown_airports"] == case.unknown_airports
    assert set(summary["unknown_airport_ids"]) == expected.unknown_airport_ids
    # ... under the key's date and this batch, next to the untouched earlier load
    assert summary["flight_date"] == case.flight_date
    lineage = db.rows(
        "SELECT DISTINCT flight_date, batch_id FROM airlines.daily_flights_fact WHERE source_file = ?", [source]
    )
    if expected.rows_loaded:
        assert lineage == [(date.fromisoformat(case.flight_date), summary["batch_id"])]
    assert db.facts(baseline_file) == baseline_facts
    assert audit[0]["status"] == "LOADED"
    assert (audit[0]["rows_loaded"], audit[0]["rows_rejected"]) == (expected.rows_loaded, expected.rows_rejected)


@pytest.fixture(scope="module")
def baseline(template_warehouse) -> tuple[list[Any], str, Any]:
    path, baseline_file = template_warehouse
    template = Db(path)
    return template.snapshot(), baseline_file, template.facts(baseline_file)


def place_case(root: Path, case: Case) -> Path:
    """The case's file under its key, with its neighbours beside it."""
    for name, data in case.neighbours.items():
        place(root, data, folder=case.folder, name=name)
    return place(root, case.data, folder=case.folder, name=case.name)


def _fresh(template_warehouse, root: Path) -> Db:
    root.mkdir(parents=True, exist_ok=True)
    target = root / "warehouse.duckdb"
    shutil.copyfile(template_warehouse[0], target)
    return Db(target)


# --- through the CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_outcomes(template_warehouse, tmp_path_factory) -> dict[str, Outcome]:
    """When every case is ingested by the CLI, each on its own copy of the seeded warehouse (3 at a time)."""
    root = tmp_path_factory.mktemp("corpus-cli")

    def run(index: int) -> Outcome:
        case = CASES[index]
        work = root / f"case{index:02d}"
        db = _fresh(template_warehouse, work)
        source = place_case(work / "in", case)
        result = run_cli("ingest", str(source), "--warehouse", db.uri)
        return Outcome(case, db, str(source), result.summary, result)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return {o.case.kind: o for o in pool.map(run, range(len(CASES)))}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_corpus_through_the_cli(case: Case, cli_outcomes, airports: Airports, baseline) -> None:
    # Given the case's file under its key, and a warehouse that already holds an earlier day
    # When `airline-pipeline ingest` loads it
    # Then the outcome is the promised one
    assert_outcome(cli_outcomes[case.kind], airports, baseline)


# --- through the Python API (the engine-side core; also under Python 3.9) ----------------------------


@pytest.mark.glue39
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_corpus_through_the_api(case: Case, template_warehouse, tmp_path: Path, airports: Airports, baseline) -> None:
    from airline_pipeline.adapters.warehouse import open_warehouse
    from airline_pipeline.engine.ingest import ingest

    # Given the case's file under its key, and a warehouse that already holds an earlier day
    db = _fresh(template_warehouse, tmp_path)
    source = place_case(tmp_path / "in", case)
    # When ingest() loads it
    with open_warehouse(db.uri) as warehouse:
        summary = ingest(str(source), warehouse).as_json()
    # Then the outcome is the promised one
    assert_outcome(Outcome(case, db, str(source), summary), airports, baseline)
