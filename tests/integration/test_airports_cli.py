"""``airline-pipeline load-airports`` as a subprocess on a real DuckDB file (issue 17).

The dimension's ids follow the flights' own integer rule (one rule, ``rules.number_rule``):
``10830.7``, ``0x10``, ``1e3`` or ``1_000`` are rejected with their line number and reason, never
coerced into another airport's id. ``rows_read = rows_upserted + rows_rejected``; a file whose
every row is bad upserts nothing; the path is literal; an operator is told when changed airports
leave already loaded flights with the old names.
"""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import SAMPLE_FLIGHTS, Db, place, run_cli

HEADER = "airport_id,city,state,name"


def airports(db: Db) -> dict[int, tuple[str, str, str]]:
    return {row[0]: row[1:] for row in db.rows("SELECT airport_id, city, state, name FROM airlines.airports_dim")}


def write(path: Path, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join((HEADER, *rows)) + "\n")
    return path


def test_ids_the_flights_refuse_are_rejected_not_coerced(db: Db, tmp_path: Path) -> None:
    # Given the seeded dimension (it holds 10831, Hayward), and a file of ids a BIGINT cast would coerce
    before = airports(db)
    path = write(
        tmp_path / "airports.csv",
        "10830.7,Overwriter,XX,Rounded Onto 10831",
        "0x10,Hex,XX,Sixteen",
        "1e3,Exp,XX,Thousand",
        "1_000,Under,XX,Thousand Too",
        "",
        ' 90001 ,Good City,"GS","Good, Field"',
        "90002,Second,SS,Second Field",
        "90003,Short",
    )
    # When the file is loaded
    result = run_cli("load-airports", str(path), "--warehouse", db.uri)
    # Then the good rows are upserted, and nothing else changed (10831 is still Hayward)
    assert result.returncode == 0, result.stderr
    after = airports(db)
    assert after == {**before, 90001: ("Good City", "GS", "Good, Field"), 90002: ("Second", "SS", "Second Field")}
    assert after[10831] == ("Hayward", "California", "Hayward Executive Airport")
    # And every row is counted once: read = upserted + rejected, the blank line apart
    summary = result.summary
    assert (summary["rows_read"], summary["rows_upserted"], summary["rows_rejected"]) == (7, 2, 5)
    assert summary["blank_lines"] == 1
    assert summary["airports_added"] == 2
    assert summary["rejected_by_reason"] == {"not_integer": 3, "not_whole_number": 1, "wrong_field_count": 1}
    # And the bad rows are kept with their line numbers, reasons and raw text under the run's load_id
    kept = db.rows(
        """SELECT line_number, reason, raw_line, source_file FROM airlines.rejected_airports
           WHERE load_id = ? ORDER BY 1""",
        [summary["load_id"]],
    )
    assert [(line, reason) for line, reason, _, _ in kept] == [
        (2, "not_whole_number"),
        (3, "not_integer"),
        (4, "not_integer"),
        (5, "not_integer"),
        (9, "wrong_field_count"),
    ]
    assert kept[0][2] == "10830.7,Overwriter,XX,Rounded Onto 10831"
    assert {row[3] for row in kept} == {str(path.resolve())}
    # And the command says so, on stderr and in the JSON
    assert "5 of 7 rows rejected" in summary["warning"]
    assert summary["load_id"] in result.stderr


def test_a_file_whose_every_row_is_bad_upserts_nothing(db: Db, tmp_path: Path) -> None:
    # Given a file of bad ids only
    before = airports(db)
    path = write(tmp_path / "airports.csv", "10830.7,A,B,C", "x,A,B,C", ",A,B,C")
    # When it is loaded
    result = run_cli("load-airports", str(path), "--warehouse", db.uri)
    # Then nothing is upserted, every row is rejected, and the warning says no airport was loaded
    assert result.returncode == 0, result.stderr
    assert airports(db) == before
    assert (result.summary["rows_read"], result.summary["rows_upserted"], result.summary["rows_rejected"]) == (3, 0, 3)
    assert "no airport was loaded" in result.summary["warning"]
    assert db.scalar("SELECT count(*) FROM airlines.rejected_airports") == 3


def test_the_airports_path_is_literal(db: Db, tmp_path: Path) -> None:
    # Given a*.csv next to ab.csv (which the pattern a*.csv matches)
    star = write(tmp_path / "in" / "a*.csv", "90001,Star,ST,Star Field")
    write(tmp_path / "in" / "ab.csv", "90002,Other,OT,Other Field", "10831,Wrong,WR,Overwritten")
    before = airports(db)
    # When a*.csv is loaded
    result = run_cli("load-airports", str(star), "--warehouse", db.uri)
    # Then only its own row is upserted
    assert result.returncode == 0, result.stderr
    assert result.summary["rows_read"] == 1
    assert airports(db) == {**before, 90001: ("Star", "ST", "Star Field")}


def test_changed_airports_are_reported_and_loaded_flights_keep_their_names(db: Db, tmp_path: Path) -> None:
    # Given a loaded day whose flights leave from 10570 (Newark)
    day = place(tmp_path / "in", SAMPLE_FLIGHTS.read_bytes(), folder="date=2013-01-15")
    assert run_cli("ingest", str(day), "--warehouse", db.uri).returncode == 0
    newark = "Newark Liberty International Airport"
    before = db.scalar(
        "SELECT count(*) FROM airlines.daily_flights_fact WHERE source_file = ? AND dep_airport = ?", [str(day), newark]
    )
    assert before > 0
    # When the airports are reloaded with Newark renamed (and one new airport)
    path = write(tmp_path / "airports.csv", "10570,Newark,New Jersey,Newark Renamed", "90001,New,NW,New Field")
    result = run_cli("load-airports", str(path), "--warehouse", db.uri)
    # Then the change is counted and the operator is told the loaded flights keep the old name, and how to refresh
    assert result.returncode == 0, result.stderr
    assert (result.summary["airports_changed"], result.summary["airports_added"]) == (1, 1)
    assert "keep the old names" in result.summary["warning"]
    assert "reprocess" in result.summary["warning"]
    assert "keep the old names" in result.stderr
    # And indeed the flights already loaded still carry the old name
    assert (
        db.scalar(
            "SELECT count(*) FROM airlines.daily_flights_fact WHERE source_file = ? AND dep_airport = ?",
            [str(day), newark],
        )
        == before
    )
