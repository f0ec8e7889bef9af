"""What a load reads and under which name, through ``airline-pipeline`` as a subprocess (issue 17).

* A local file is its canonical path: ``P``, ``//P`` and ``P`` reached through a symlinked folder
  are one file, loaded once; the real folder's ``date=`` names the day, and a path whose own
  folder names another day is refused.
* Paths are literal in ``reprocess`` too: a file named ``a*.csv`` loads its own rows only.
* A file that changes while it is loaded (grows, shrinks, is replaced) is refused, nothing loaded.
  The change is made deterministically at a fixed point of the load by a ``sitecustomize`` hook in
  the subprocess (between the pre-scan and DuckDB's reads), not by racing a writer.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from corpus import GOOD, lines
from flights_oracle import Airports, expected_load
from ingest_helpers import Db, place, run_cli

DAY = "date=2013-01-15"


def test_one_file_reached_three_ways_is_one_source_file(db: Db, tmp_path: Path, airports: Airports) -> None:
    # Given a file, and a symlinked folder leading to the same file under the same day
    data = lines(*GOOD[:5])
    real = place(tmp_path / "data", data, folder=DAY)
    alias = tmp_path / "alias"
    alias.mkdir()
    (alias / DAY).symlink_to(real.parent, target_is_directory=True)
    # When it is ingested as P, as //P and through the symlinked folder
    results = [
        run_cli("ingest", path, "--warehouse", db.uri)
        for path in (str(real), "/" + str(real), str(alias / DAY / real.name))
    ]
    # Then each load names the canonical path, and the warehouse holds one copy of the rows
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert {r.summary["source_file"] for r in results} == {str(real.resolve())}
    assert db.facts(str(real.resolve())) == expected_load(data, airports).facts
    assert db.rows(
        "SELECT DISTINCT source_file FROM airlines.daily_flights_fact WHERE source_file LIKE ?",
        [f"{tmp_path.resolve()}%"],
    ) == [(str(real.resolve()),)]
    assert [a["status"] for a in db.audit(str(real.resolve()))] == ["LOADED"] * 3


def test_a_symlinked_folder_naming_another_day_is_refused(db: Db, tmp_path: Path) -> None:
    # Given a file of 2013-01-16, reached through a folder link named date=2013-01-15
    real = place(tmp_path / "data", lines(*GOOD[:3]), folder="date=2013-01-16")
    alias = tmp_path / "alias" / DAY
    alias.parent.mkdir()
    alias.symlink_to(real.parent, target_is_directory=True)
    before = db.snapshot()
    # When it is ingested through the link
    result = run_cli("ingest", str(alias / real.name), "--warehouse", db.uri)
    # Then the load is refused as ambiguous, naming both days, and nothing is loaded
    assert result.returncode == 1
    assert result.summary["error"] == "InvalidKey"
    assert "2013-01-16" in result.summary["message"]
    assert "2013-01-15" in result.summary["message"]
    assert db.snapshot() == before


def test_reprocess_takes_file_names_literally(db: Db, tmp_path: Path, airports: Airports) -> None:
    # Given a day folder holding a*.csv and ab.csv (which the pattern a*.csv would match)
    source = tmp_path / "daily-flights"
    star = place(source, lines(*GOOD[:2]), folder=DAY, name="a*.csv")
    other = place(source, lines(*GOOD[2:7]), folder=DAY, name="ab.csv")
    # When the day is reprocessed
    result = run_cli(
        "reprocess", "--from", "2013-01-15", "--to", "2013-01-15", "--source", str(source), "--warehouse", db.uri
    )
    # Then each file loaded its own rows only
    assert result.returncode == 0, result.stderr
    assert result.summary["files_loaded"] == 2
    assert db.facts(str(star)) == expected_load(star.read_bytes(), airports).facts
    assert db.facts(str(other)) == expected_load(other.read_bytes(), airports).facts
    assert result.summary["rows_loaded"] == 2 + 5


# --- a file that changes while it is loaded ------------------------------------------------------------

#: Runs in the CLI subprocess: changes the file right before DuckDB first reads it.
HOOK = textwrap.dedent(
    """
    import os

    MODE = os.environ.get("AIRLINE_TEST_CHANGE")
    if MODE:
        from airline_pipeline.engine import facts, rules, scan

        original = facts.load_rows

        def load_rows(con, file, *args, **kwargs):
            target = os.environ["AIRLINE_TEST_FILE"]
            if MODE == "grow":
                with open(target, "ab") as handle:
                    handle.write(b"DL,10570,10841,1,2\\n" * 3)
            elif MODE == "shrink":
                with open(target, "r+b") as handle:
                    data = handle.read()
                    handle.truncate(len(data) - len(data.splitlines(True)[-1]))
            elif MODE == "replace":  # another file of the same size and line count, renamed over it
                with open(target, "rb") as handle:
                    data = handle.read()
                with open(target + ".new", "wb") as handle:
                    handle.write(data.replace(b"DL,", b"UA,"))
                os.replace(target + ".new", target)
            return original(con, file, *args, **kwargs)

        facts.load_rows = load_rows
    """
)


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "hook"
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(HOOK)
    return directory


@pytest.mark.parametrize("change", ["grow", "shrink", "replace"])
def test_a_file_that_changes_during_the_load_is_refused(db: Db, tmp_path: Path, hook_dir: Path, change: str) -> None:
    # Given a day file of canonical rows (one of them a DL flight)
    data = lines(*GOOD[:6], "DL,10570,10841,1,2")
    path = place(tmp_path / "in", data, folder=DAY)
    before = db.snapshot()
    # When the file grows / shrinks / is replaced after it was opened and scanned, before DuckDB reads it
    env = {"PYTHONPATH": str(hook_dir), "AIRLINE_TEST_CHANGE": change, "AIRLINE_TEST_FILE": str(path)}
    result = run_cli("ingest", str(path), "--warehouse", db.uri, env=env)
    # Then the load fails naming the change, and nothing is loaded (no rows counted as "filtered")
    assert path.read_bytes() != data  # the hook did change it
    assert result.returncode == 1
    assert result.summary["status"] == "FAILED"
    assert result.summary["error"] == "FileChanged", result.summary
    assert "changed while it was being loaded" in result.summary["message"]
    assert db.snapshot() == before
    assert [a["status"] for a in db.audit(str(path))] == ["FAILED"]


def test_the_hook_changes_nothing_when_off(db: Db, tmp_path: Path, hook_dir: Path, airports: Airports) -> None:
    # Given the same hook installed but not switched on (the control for the test above)
    data = lines(*GOOD[:6])
    path = place(tmp_path / "in", data, folder=DAY)
    # When the file is ingested
    result = run_cli("ingest", str(path), "--warehouse", db.uri, env={"PYTHONPATH": str(hook_dir)})
    # Then it loads whole
    assert result.returncode == 0, result.stderr
    assert db.facts(str(path)) == expected_load(data, airports).facts
    assert path.read_bytes() == data


# --- identities are never cut (the same refusal as on Redshift, where the columns have a size) ---------


def test_a_source_file_longer_than_the_warehouse_keeps_is_refused(db: Db, tmp_path: Path) -> None:
    # Given a file whose canonical path is over 1,100 bytes (five folders of 240 characters)
    deep = tmp_path.joinpath(*("d" * 240 for _ in range(5)))
    path = place(deep, lines(*GOOD[:3]), folder=DAY)
    assert len(str(path).encode()) > 1100
    before = db.snapshot()
    # When it is ingested
    result = run_cli("ingest", str(path), "--warehouse", db.uri)
    # Then it is refused naming the problem, nothing is loaded
    assert result.returncode == 1
    assert result.summary["error"] == "IdentityTooLong"
    assert "never cuts" in result.summary["message"]
    assert db.snapshot() == before
    # And the refusal is recorded under a marked, hashed name (no cut name that could be another file's)
    [(recorded, status)] = db.rows(
        "SELECT source_file, status FROM airlines.load_audit WHERE batch_id = ?", [result.summary["batch_id"]]
    )
    assert status == "FAILED"
    assert len(recorded.encode()) <= 1100
    assert "[cut, sha256=" in recorded


def test_a_batch_id_longer_than_the_warehouse_keeps_is_refused(db: Db, tmp_path: Path) -> None:
    # Given a day file and a batch id of 321 bytes
    path = place(tmp_path / "in", lines(*GOOD[:3]), folder=DAY)
    before = db.snapshot()
    # When it is ingested under that batch id
    result = run_cli("ingest", str(path), "--warehouse", db.uri, "--batch-id", "b" * 321)
    # Then the load is refused naming the problem, and nothing is loaded
    assert result.returncode == 1
    assert result.summary["error"] == "IdentityTooLong"
    assert "batch_id is 321 bytes" in result.summary["message"]
    assert db.snapshot() == before
    # While one of 320 bytes (an 80-character execution name of 4-byte characters) loads whole
    name = "\U0001f6eb" * 80
    loaded = run_cli("ingest", str(path), "--warehouse", db.uri, "--batch-id", name)
    assert loaded.returncode == 0, loaded.stderr
    assert db.rows("SELECT DISTINCT batch_id FROM airlines.daily_flights_fact WHERE source_file = ?", [str(path)]) == [
        (name,)
    ]
