"""The delay report: punctuality by carrier, by departure airport and by route, as HTML and CSV.

Definitions (also printed in the report):

- *on time*: ``arr_delay <= 15`` minutes (the US DOT rule); the on-time share is over flights that
  have an arrival delay.
- *cancelled*: no departure and no arrival delay (both NULL). *diverted*: departed (a departure
  delay) but no arrival delay. Both are counted separately and left out of every average,
  percentile and on-time share; ``flights = arrived + cancelled + diverted``.
- *p90*: ``PERCENTILE_CONT(0.9)``, linear interpolation (what pandas' ``quantile(0.9)`` computes),
  computed from a histogram of the whole-minute delays (see :func:`_p90_ctes`).
- *worst routes*: highest average arrival delay among routes with at least ``min_route_flights``
  arrived flights; flights whose airports are unknown to ``airports_dim`` are left out of routes.

The SQL runs unchanged on DuckDB and on Redshift through :meth:`Reader.query`, and every
statement aggregates in the database: what comes back is one row per group, never per flight.

Names in the data (carriers, airports) are data, never markup: HTML is escaped, chart labels have
matplotlib's ``$`` (math mode) escaped, and ``report.csv`` neutralises text a spreadsheet would run
as a formula (OWASP "CSV Injection").
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from airline_pipeline.adapters.warehouse import Reader
from airline_pipeline.core.errors import PipelineError
from airline_pipeline.ops.delay_report_sql import (
    DEFAULT_MIN_ROUTE_FLIGHTS,
    DEFAULT_TOP_ROUTES,
    report_statements,
)

if TYPE_CHECKING:
    import pandas as pd

#: Daily rows shown as a table in the HTML (the CSV always has them all).
MAX_DAILY_TABLE_ROWS = 31

GROUP_METRICS = (
    "flights",
    "arrived",
    "cancelled",
    "diverted",
    "on_time",
    "on_time_share",
    "avg_dep_delay",
    "p90_dep_delay",
    "avg_arr_delay",
    "p90_arr_delay",
)
ROUTE_METRICS = ("flights", "arrived", "on_time", "on_time_share", "avg_arr_delay", "p90_arr_delay")
COUNT_METRICS = frozenset(
    ("flights", "arrived", "cancelled", "diverted", "on_time", "days", "files", "rejected_rows", "rank")
)
DAILY_METRICS = ("flights", "arrived", "cancelled", "diverted", "on_time", "on_time_share", "avg_arr_delay")


class NoFlightsInRange(PipelineError):
    """The range holds no fact rows: an empty report would hide a typo in the dates."""


class ReportNotWritable(PipelineError):
    """``--out`` is a file, or a folder that cannot be created or written."""


# --- the numbers -------------------------------------------------------------------------------------


@dataclass
class DelayReport:
    """The report's numbers as DataFrames; ``date_from``/``date_to`` are the requested bounds (or None)."""

    date_from: Optional[date]
    date_to: Optional[date]
    first_date: date
    last_date: date
    overview: dict[str, Any]
    by_carrier: pd.DataFrame
    by_airport: pd.DataFrame
    routes: pd.DataFrame
    daily: pd.DataFrame
    min_route_flights: int
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows to a DataFrame with numeric columns as numbers, whatever types the engine returned."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:
        if column not in ("dimension", "group_value", "measure", "dep_airport", "arr_airport", "flight_date"):
            frame[column] = pd.to_numeric(frame[column])
    return frame


def _with_share(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    arrived = frame["arrived"].where(frame["arrived"] > 0)
    frame["on_time_share"] = frame["on_time"] / arrived
    return frame


def build_report(
    warehouse: Reader,
    *,
    date_from: Optional[date] = None,
    date_to: Optional[date] = None,
    min_route_flights: int = DEFAULT_MIN_ROUTE_FLIGHTS,
    top_routes: int = DEFAULT_TOP_ROUTES,
) -> DelayReport:
    """Run the report's queries; raises :class:`NoFlightsInRange` when there is nothing to report."""
    statements = report_statements(
        date_from=date_from, date_to=date_to, min_route_flights=min_route_flights, top_routes=top_routes
    )

    def run(name: str) -> list[dict[str, Any]]:
        statement = statements[name]
        return warehouse.query(statement.sql, statement.params)

    totals = run("overview")[0]
    if not int(totals["flights"] or 0):
        shown = f"{date_from or 'the beginning'}..{date_to or 'the end'}"
        raise NoFlightsInRange(f"no flights loaded for {shown}: check the dates (nothing was written)")

    counts = ["flights", "arrived", "cancelled", "diverted", "on_time"]
    groups = _with_share(_frame(run("groups"), ["dimension", "group_value", *counts, "avg_dep_delay", "avg_arr_delay"]))
    p90 = _frame(run("group_percentiles"), ["dimension", "group_value", "measure", "p90"])
    p90_wide = p90.pivot_table(index=["dimension", "group_value"], columns="measure", values="p90").add_prefix("p90_")
    groups = groups.merge(p90_wide.reset_index(), on=["dimension", "group_value"], how="left")
    for column in ("p90_dep_delay", "p90_arr_delay"):
        if column not in groups:
            groups[column] = float("nan")
    groups = groups.sort_values(["avg_arr_delay", "flights"], ascending=[False, False], na_position="last")

    def grouping(dimension: str) -> pd.DataFrame:
        picked = groups[groups["dimension"] == dimension].rename(columns={"group_value": dimension})
        return picked[[dimension, *GROUP_METRICS]].reset_index(drop=True)

    everything = grouping("all").iloc[0].to_dict()
    overview = {
        **{k: int(totals[k]) for k in ("days", "files", "rejected_rows")},
        **{k: everything[k] for k in GROUP_METRICS},
    }
    routes = _with_share(
        _frame(run("routes"), ["dep_airport", "arr_airport", *counts, "avg_arr_delay", "p90_arr_delay"])
    )
    daily = _with_share(_frame(run("daily"), ["flight_date", *counts, "avg_arr_delay"]))
    return DelayReport(
        date_from=date_from,
        date_to=date_to,
        first_date=as_date(totals["first_date"]),
        last_date=as_date(totals["last_date"]),
        overview=overview,
        by_carrier=grouping("carrier"),
        by_airport=grouping("dep_airport"),
        routes=routes[["dep_airport", "arr_airport", *ROUTE_METRICS]],
        daily=daily[["flight_date", *DAILY_METRICS]],
        min_route_flights=min_route_flights,
    )


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# --- CSV ---------------------------------------------------------------------------------------------


def tidy(report: DelayReport) -> pd.DataFrame:
    """One long table ``date_from, date_to, section, group, metric, value``: easy to filter, diff and load.

    Sections: ``overview`` (group ``all``), ``carrier``, ``dep_airport``, ``route`` (group
    ``"<dep> -> <arr>"``, with its ``rank``) and ``daily`` (group = the ISO date).
    """
    import pandas as pd

    rows: list[tuple[str, str, str, Any]] = []
    rows.extend(("overview", "all", metric, value) for metric, value in report.overview.items())
    for section, frame in (("carrier", report.by_carrier), ("dep_airport", report.by_airport)):
        for record in frame.to_dict("records"):
            rows.extend((section, str(record[section]), metric, record[metric]) for metric in GROUP_METRICS)
    for rank, record in enumerate(report.routes.to_dict("records"), start=1):
        group = f"{record['dep_airport']} -> {record['arr_airport']}"
        rows.append(("route", group, "rank", rank))
        rows.extend(("route", group, metric, record[metric]) for metric in ROUTE_METRICS)
    for record in report.daily.to_dict("records"):
        rows.extend(("daily", str(record["flight_date"])[:10], metric, record[metric]) for metric in DAILY_METRICS)
    frame = pd.DataFrame(
        [
            (section, spreadsheet_safe(group), metric, _csv_value(metric, value))
            for section, group, metric, value in rows
        ],
        columns=["section", "group", "metric", "value"],
        dtype=object,
    )
    frame.insert(0, "date_to", (report.date_to or report.last_date).isoformat())
    frame.insert(0, "date_from", (report.date_from or report.first_date).isoformat())
    return frame


#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
#: (OWASP "CSV Injection": = + - @ tab carriage return; OWASP ASVS 1.2.10 adds NUL).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet shows as text: a leading ``'`` when it would start a formula (OWASP's advice).

    For names from the data only; numbers stay numbers (a negative delay is not text).
    """
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_value(metric: str, value: Any) -> Any:
    """Counts as integers, the rest rounded to 4 decimals; NaN (e.g. no arrived flight) stays empty."""
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return int(value) if metric in COUNT_METRICS else round(float(value), 4)


# --- the command -------------------------------------------------------------------------------------


def prepare_out_dir(out_dir: str) -> Path:
    """Check that ``out_dir`` is (or can become) a folder we can write, without creating it yet.

    Raises :class:`ReportNotWritable` naming the problem: a file in the way, no permission.
    """
    out = Path(out_dir).expanduser().absolute()
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    if not existing.is_dir():
        raise ReportNotWritable(
            f"--out {out_dir}: {existing} is a file, not a folder; give --out a folder for report.html and report.csv"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ReportNotWritable(
            f"--out {out_dir}: cannot write into {existing} ({exc.strerror}); choose a folder you can write"
        ) from exc
    return out


def write_report(report: DelayReport, out_dir: str, *, source: str = "") -> dict[str, Any]:
    """Write ``report.html`` and ``report.csv`` into ``out_dir``; returns what the CLI prints."""
    from airline_pipeline.ops.delay_report_html import render_html  # matplotlib only when writing

    out = prepare_out_dir(out_dir)
    document, charts = render_html(report, source=source)
    html_path, csv_path = out / "report.html", out / "report.csv"
    table = tidy(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        html_path.write_text(document, encoding="utf-8")
        table.to_csv(csv_path, index=False)
    except OSError as exc:
        raise ReportNotWritable(
            f"could not write the report into {out}: {exc}; check the folder and free space"
        ) from exc
    return {
        "html": str(html_path.resolve()),
        "csv": str(csv_path.resolve()),
        "date_from": (report.date_from or report.first_date).isoformat(),
        "date_to": (report.date_to or report.last_date).isoformat(),
        "flights": int(report.overview["flights"]),
        "days": int(report.overview["days"]),
        "carriers": len(report.by_carrier),
        "dep_airports": len(report.by_airport),
        "routes": len(report.routes),
        "charts": charts,
        "csv_rows": len(table),
    }
