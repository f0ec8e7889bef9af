"""The report and history SQL must run on DuckDB (tests, local) and on Redshift (AWS) unchanged.

Redshift is not available here, so its side is checked statically with sqlglot's Redshift parser
plus the two Redshift rules that bit this kind of query before: AVG of an integer column returns a
truncated integer, and all sort-based aggregates (PERCENTILE_CONT, MEDIAN, LISTAGG) of one statement
must share a single ORDER BY.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import pytest
import sqlglot
from sqlglot import exp

from airline_pipeline.adapters.warehouse import Warehouse, open_warehouse
from airline_pipeline.core.defaults import SHIPPED_AIRPORTS
from airline_pipeline.engine.ingest import ingest
from airline_pipeline.ops import delay_report as report
from airline_pipeline.ops import delay_report_sql as report_sql
from airline_pipeline.ops import history
from airline_pipeline.ops import reprocess as operations
from airline_pipeline.ops.reprocess import FoundFile

RANGES = [
    pytest.param(None, None, id="everything"),
    pytest.param(date(2013, 1, 2), None, id="from"),
    pytest.param(None, date(2013, 1, 4), id="to"),
    pytest.param(date(2013, 1, 2), date(2013, 1, 4), id="from-to"),
]


def all_statements(date_from: Optional[date], date_to: Optional[date]) -> dict[str, report_sql.Statement]:
    statements = report_sql.report_statements(date_from=date_from, date_to=date_to, min_route_flights=3, top_routes=7)
    statements["history"] = report_sql.Statement(history.history_sql(25))
    return statements


#: One day inside every range above: four flights on one route (enough for ``min_route_flights=3``),
#: one cancelled, one diverted, one rejected row.
DAY_FILE = """Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay
DL,10000,10001,-3,4
DL,10000,10001,10,25
AA,10000,10001,0,-2
AA,10000,10001,61,70
UA,10001,10000,,
UA,10001,10000,5,
UA,not-a-number,10000,1,1
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("sql")
    wh = open_warehouse(f"duckdb://{folder / 'w.duckdb'}")
    wh.init_schema()
    wh.load_airports(str(SHIPPED_AIRPORTS))
    day = folder / "date=2013-01-03" / "flights.csv"
    day.parent.mkdir()
    day.write_text(DAY_FILE)
    assert ingest(str(day), wh).status == "LOADED"
    return wh


@pytest.mark.parametrize(("date_from", "date_to"), RANGES)
def test_every_statement_parses_as_redshift_and_runs_on_duckdb(
    warehouse: Warehouse, date_from: Optional[date], date_to: Optional[date]
) -> None:
    for name, statement in all_statements(date_from, date_to).items():
        parsed = sqlglot.parse_one(statement.sql, read="redshift")
        assert isinstance(parsed, exp.Select), name
        placeholders = {p.name for p in parsed.find_all(exp.Placeholder)}
        assert placeholders == set(statement.params), name  # every parameter bound, none left over
        # and on a warehouse holding a day of the range it returns rows with exactly the columns it names
        rows = warehouse.query(statement.sql, statement.params)
        assert rows, name
        assert list(rows[0]) == parsed.named_selects, name


@pytest.mark.parametrize(("date_from", "date_to"), RANGES)
def test_statements_follow_the_redshift_rules(date_from: Optional[date], date_to: Optional[date]) -> None:
    for name, statement in all_statements(date_from, date_to).items():
        parsed = sqlglot.parse_one(statement.sql, read="redshift")
        for average in parsed.find_all(exp.Avg):
            assert isinstance(average.this, exp.Cast), (name, average.sql())
            assert average.this.to.is_type("double"), (name, average.sql())
        orders = {group.expression.sql() for group in parsed.find_all(exp.WithinGroup)}
        assert len(orders) <= 1, (name, orders)


def test_date_bounds_are_bound_parameters_not_text_in_the_sql() -> None:
    statements = report_sql.report_statements(date_from=date(2013, 1, 2), date_to=date(2013, 1, 4))
    for statement in statements.values():
        assert "2013-01-0" not in statement.sql
        assert statement.params == {"date_from": "2013-01-02", "date_to": "2013-01-04"}


@pytest.mark.parametrize(
    "options",
    [
        {"date_from": date(2013, 1, 5), "date_to": date(2013, 1, 4)},
        {"min_route_flights": 0},
        {"top_routes": 0},
    ],
)
def test_report_options_are_checked(options: dict[str, object]) -> None:
    with pytest.raises(report_sql.ConfigError):
        report_sql.report_statements(**options)  # type: ignore[arg-type]


def test_history_limit_must_be_positive() -> None:
    with pytest.raises(history.ConfigError):
        history.history_sql(0)


def test_history_table_cuts_long_values_and_keeps_the_end_of_paths() -> None:
    row = {
        "started_at": datetime(2024, 1, 2, 3, 4, 5),
        "status": "FAILED",
        "flight_date": None,
        "source_file": "/very/long/path/" + "x" * 80 + "/date=2013-01-02/flights.csv",
        "rows_loaded": 0,
        "rows_rejected": None,
        "duration_seconds": None,
        "error": "InvalidHeader: " + "wrong header " * 20,
    }
    text = history.format_history([row], file_width=30, error_width=25)
    header, line = text.splitlines()
    assert header.split()[:3] == ["started_at", "(UTC)", "status"]
    assert "…x/date=2013-01-02/flights.csv " in line  # 30 characters, the informative end kept
    assert "InvalidHeader: wrong hea…" in line
    assert history.format_history([]) == "no load attempts recorded yet"


def test_durations_accept_the_strings_a_data_api_read_returns() -> None:
    assert history._seconds_between("2024-01-02 03:04:05", "2024-01-02 03:05:07.5") == 62.5
    assert history._seconds_between(datetime(2024, 1, 1), None) is None


def test_execution_names_are_valid_and_unique() -> None:
    found = FoundFile(
        location="s3://b/daily-flights/date=2013-01-02/" + "my file (v2)" * 10 + ".csv", flight_date=date(2013, 1, 2)
    )
    names = {operations.execution_name(found) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith("reprocess-20130102-my-file-v2")
        assert len(name) <= 80
        assert all(c.isalnum() or c in "-_" for c in name)


def test_local_listing_accepts_both_date_layouts_and_skips_the_rest(tmp_path: Path) -> None:
    for relative in (
        "date=2013-01-01/a.csv",
        "date=20130102/b.CSV",
        "date=2013-01-02/c.csv",
        "date=2013-01-02/notes.txt",
        "date=2013-01-09/d.csv",
        "date=banana/e.csv",
        "other/date=2013-01-02/f.csv",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    found = operations.find_local_files(str(tmp_path), date_from=date(2013, 1, 1), date_to=date(2013, 1, 2))
    assert [(Path(f.location).name, f.flight_date) for f in found] == [
        ("a.csv", date(2013, 1, 1)),
        ("c.csv", date(2013, 1, 2)),
        ("b.CSV", date(2013, 1, 2)),
    ]


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r", "\x00"])
def test_text_that_would_start_a_spreadsheet_formula_is_quoted(trigger: str) -> None:
    # Given a name from the data starting with one of OWASP's formula triggers
    name = f'{trigger}HYPERLINK("http://example.com")'
    # When it is made safe for report.csv / Then a leading quote makes it text, the name otherwise intact
    assert report.spreadsheet_safe(name) == "'" + name
    # And ordinary names, and triggers later in a name, are left alone
    assert report.spreadsheet_safe(f"Plain {trigger} Field") == f"Plain {trigger} Field"
