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

The SQL runs unchanged on DuckDB and on Redshift through :meth:`Warehouse.query`, and every
statement aggregates in the database: what comes back is one row per group, never per flight.

Names in the data (carriers, airports) are data, never markup: HTML is escaped, chart labels have
matplotlib's ``$`` (math mode) escaped, and ``report.csv`` neutralises text a spreadsheet would run
as a formula (OWASP "CSV Injection").
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import tempfile
import textwrap
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from airline_pipeline import __version__
from airline_pipeline.adapters.warehouse import Warehouse
from airline_pipeline.core import schema
from airline_pipeline.core.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    import pandas as pd

ON_TIME_MINUTES = 15
DEFAULT_MIN_ROUTE_FLIGHTS = 10
DEFAULT_TOP_ROUTES = 15
UNKNOWN_AIRPORT = "(unknown airport)"
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


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


# --- SQL ---------------------------------------------------------------------------------------------


def _where(date_from: Optional[date], date_to: Optional[date], *extra: str) -> tuple[str, dict[str, Any]]:
    """A WHERE clause for the range; dates are bound as ISO strings (the Data API binds text)."""
    clauses, params = list(extra), {}
    if date_from is not None:
        clauses.append("flight_date >= CAST(:date_from AS DATE)")
        params["date_from"] = date_from.isoformat()
    if date_to is not None:
        clauses.append("flight_date <= CAST(:date_to AS DATE)")
        params["date_to"] = date_to.isoformat()
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _counts_sql() -> str:
    """Punctuality counts shared by every grouping; see the module docstring for the definitions."""
    return f"""COUNT(*) AS flights,
       COUNT(arr_delay) AS arrived,
       SUM(CASE WHEN arr_delay IS NULL AND dep_delay IS NULL THEN 1 ELSE 0 END) AS cancelled,
       SUM(CASE WHEN arr_delay IS NULL AND dep_delay IS NOT NULL THEN 1 ELSE 0 END) AS diverted,
       SUM(CASE WHEN arr_delay <= {ON_TIME_MINUTES} THEN 1 ELSE 0 END) AS on_time"""


def _grouped_flights_sql(where: str) -> str:
    """The fact rows once per grouping (all, carrier, departure airport): one GROUP BY serves all three."""
    return f"""SELECT CAST('all' AS VARCHAR(16)) AS dimension, CAST('all' AS VARCHAR(200)) AS group_value,
           dep_delay, arr_delay
    FROM {schema.FACT} {where}
    UNION ALL
    SELECT CAST('carrier' AS VARCHAR(16)), CAST(carrier AS VARCHAR(200)), dep_delay, arr_delay
    FROM {schema.FACT} {where}
    UNION ALL
    SELECT CAST('dep_airport' AS VARCHAR(16)), CAST(COALESCE(dep_airport, '{UNKNOWN_AIRPORT}') AS VARCHAR(200)),
           dep_delay, arr_delay
    FROM {schema.FACT} {where}"""


def _p90_ctes(values: str, keys: tuple[str, ...]) -> str:
    """CTEs ending in ``p90 (<keys>, p90)``: PERCENTILE_CONT(0.9) of ``minutes`` in ``values`` per ``keys``.

    Why not PERCENTILE_CONT itself: DuckDB's quantile aggregate holds every value of a group in
    memory and cannot spill, so a year of flights (3.4M rows, x3 groupings x2 measures) ran out of
    the warehouse's memory limit. Delays are whole minutes, so a histogram - one row per distinct
    value, a GROUP BY that spills - and its running count give the same interpolation exactly:
    the value at 1-based position ``lo = 1 + floor(0.9 (n - 1))`` plus ``tenths / 10`` of the step
    to the next one. Integer arithmetic only (no float rounding of the position); valid Redshift.
    """
    k = ", ".join(keys)
    return f"""histogram AS (
    SELECT {k}, minutes, COUNT(*) AS n FROM ({values}) AS v GROUP BY {k}, minutes
), cumulative AS (
    SELECT {k}, minutes,
           SUM(n) OVER (PARTITION BY {k} ORDER BY minutes ROWS UNBOUNDED PRECEDING) AS upto,
           SUM(n) OVER (PARTITION BY {k}) AS total
    FROM histogram
), ranks AS (
    SELECT {k}, minutes, upto,
           1 + (9 * (total - 1) - MOD(9 * (total - 1), 10)) / 10 AS lo,
           MOD(9 * (total - 1), 10) AS tenths
    FROM cumulative
), p90 AS (
    SELECT {k},
           CAST(MIN(CASE WHEN upto >= lo THEN minutes END) AS DOUBLE PRECISION)
           + CAST(MAX(tenths) AS DOUBLE PRECISION) / 10
             * (MIN(CASE WHEN upto >= lo + SIGN(tenths) THEN minutes END) - MIN(CASE WHEN upto >= lo THEN minutes END))
           AS p90
    FROM ranks
    GROUP BY {k}
)"""


def report_statements(
    *,
    date_from: Optional[date] = None,
    date_to: Optional[date] = None,
    min_route_flights: int = DEFAULT_MIN_ROUTE_FLIGHTS,
    top_routes: int = DEFAULT_TOP_ROUTES,
) -> dict[str, Statement]:
    """Every query the report runs, by name: valid Redshift and DuckDB SQL with ``:name`` parameters."""
    if date_from and date_to and date_from > date_to:
        raise ConfigError(f"--from {date_from} is after --to {date_to}")
    if min_route_flights < 1 or top_routes < 1:
        raise ConfigError("--min-route-flights and --top-routes must be at least 1")
    where, params = _where(date_from, date_to)
    route_where, _ = _where(date_from, date_to, "dep_airport IS NOT NULL", "arr_airport IS NOT NULL")
    grouped = _grouped_flights_sql(where)
    return {
        "overview": Statement(
            f"""SELECT COUNT(*) AS flights, MIN(flight_date) AS first_date, MAX(flight_date) AS last_date,
       COUNT(DISTINCT flight_date) AS days, COUNT(DISTINCT source_file) AS files,
       (SELECT COUNT(*) FROM {schema.REJECTED} {where}) AS rejected_rows
FROM {schema.FACT} {where}""",
            params,
        ),
        "groups": Statement(
            f"""WITH grouped AS (
    {grouped}
)
SELECT dimension, group_value,
       {_counts_sql()},
       AVG(CAST(dep_delay AS DOUBLE PRECISION)) AS avg_dep_delay,
       AVG(CAST(arr_delay AS DOUBLE PRECISION)) AS avg_arr_delay
FROM grouped
GROUP BY dimension, group_value""",
            params,
        ),
        "group_percentiles": Statement(
            f"""WITH grouped AS (
    {grouped}
), delays AS (
    SELECT dimension, group_value, CAST('dep_delay' AS VARCHAR(16)) AS measure, dep_delay AS minutes
    FROM grouped WHERE dep_delay IS NOT NULL
    UNION ALL
    SELECT dimension, group_value, CAST('arr_delay' AS VARCHAR(16)), arr_delay
    FROM grouped WHERE arr_delay IS NOT NULL
), {_p90_ctes("SELECT * FROM delays", ("dimension", "group_value", "measure"))}
SELECT dimension, group_value, measure, p90
FROM p90""",
            params,
        ),
        "routes": Statement(
            f"""WITH routes AS (
    SELECT dep_airport, arr_airport,
           {_counts_sql()},
           AVG(CAST(arr_delay AS DOUBLE PRECISION)) AS avg_arr_delay
    FROM {schema.FACT} {route_where}
    GROUP BY dep_airport, arr_airport
    HAVING COUNT(arr_delay) >= {int(min_route_flights)}
), {
                _p90_ctes(
                    f"SELECT dep_airport, arr_airport, arr_delay AS minutes FROM {schema.FACT} {route_where} "
                    "AND arr_delay IS NOT NULL",
                    ("dep_airport", "arr_airport"),
                )
            }
SELECT r.dep_airport, r.arr_airport, r.flights, r.arrived, r.cancelled, r.diverted, r.on_time,
       r.avg_arr_delay, p.p90 AS p90_arr_delay
FROM routes r
JOIN p90 p ON p.dep_airport = r.dep_airport AND p.arr_airport = r.arr_airport
ORDER BY r.avg_arr_delay DESC, r.arrived DESC, r.dep_airport, r.arr_airport
LIMIT {int(top_routes)}""",
            params,
        ),
        "daily": Statement(
            f"""SELECT flight_date,
       {_counts_sql()},
       AVG(CAST(arr_delay AS DOUBLE PRECISION)) AS avg_arr_delay
FROM {schema.FACT} {where}
GROUP BY flight_date
ORDER BY flight_date""",
            params,
        ),
    }


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
    warehouse: Warehouse,
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
        first_date=_as_date(totals["first_date"]),
        last_date=_as_date(totals["last_date"]),
        overview=overview,
        by_carrier=grouping("carrier"),
        by_airport=grouping("dep_airport"),
        routes=routes[["dep_airport", "arr_airport", *ROUTE_METRICS]],
        daily=daily[["flight_date", *DAILY_METRICS]],
        min_route_flights=min_route_flights,
    )


def _as_date(value: Any) -> date:
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


# --- charts ------------------------------------------------------------------------------------------

_DARK, _LIGHT, _ACCENT = "#1f5f99", "#9cc3e6", "#d9822b"


def _label(text: Any, width: int = 38) -> str:
    """Chart labels only (tables keep full names): airport names lose their boilerplate, then get cut.

    A ``$`` is escaped: to matplotlib a pair of them is math mode, and a lone one fails to parse.
    """
    short = re.sub(r"\s+Airport$", "", str(text)).replace("International", "Intl")
    return textwrap.shorten(short, width=width, placeholder="…").replace("$", r"\$")


def _png(figure: Any) -> str:
    """A figure as a ``data:`` URI: the report must open offline, without sibling files."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(rows: int, *, columns: int = 1, width: float = 11.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font-cache notes are not ours to print
    figure = Figure(figsize=(width, max(2.4, 0.27 * rows + 1.2)), layout="constrained")
    axes = figure.subplots(1, columns, sharey=True, squeeze=False)[0]
    return figure, axes


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e3e3e3", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _group_labels(frame: pd.DataFrame, label_column: str) -> list[str]:
    """Group names with their flight count: a carrier with 3 flights should not read like one with 3,000."""
    return [f"{_label(value)}  (n={int(n):,})" for value, n in zip(frame[label_column], frame["flights"])]


def delay_chart(frame: pd.DataFrame, label_column: str, title: str) -> str:
    """Average (dark) and p90 (light) delay, departure and arrival side by side, worst at the top."""
    data = frame.sort_values("avg_arr_delay", ascending=True, na_position="first")
    labels = _group_labels(data, label_column)
    figure, axes = _figure(len(data), columns=2)
    for ax, measure, name in zip(axes, ("dep_delay", "arr_delay"), ("Departure", "Arrival")):
        positions = range(len(data))
        ax.barh(positions, data[f"p90_{measure}"].fillna(0), color=_LIGHT, height=0.75, label="p90")
        ax.barh(positions, data[f"avg_{measure}"].fillna(0), color=_DARK, height=0.45, label="average")
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set_yticks(list(positions), labels)
        ax.set_title(f"{name} delay (minutes)", fontsize=10, loc="left")
        _style(ax)
    axes[1].legend(loc="lower right", fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=12, x=0.01, horizontalalignment="left")
    return _png(figure)


def on_time_chart(frame: pd.DataFrame, label_column: str, overall: float, title: str) -> str:
    """On-time share per group with the overall share as a reference line."""
    data = frame.sort_values("on_time_share", ascending=True, na_position="first")
    figure, (ax,) = _figure(len(data))
    shares = data["on_time_share"].fillna(0) * 100
    ax.barh(range(len(data)), shares, color=_DARK, height=0.6)
    for position, share in enumerate(shares):
        ax.text(share + 0.8, position, f"{share:.0f}%", va="center", fontsize=8)
    ax.axvline(overall * 100, color=_ACCENT, linestyle="--", linewidth=1.2, label=f"all flights {overall:.0%}")
    ax.set_yticks(list(range(len(data))), _group_labels(data, label_column))
    ax.set_xlim(0, 108)
    ax.set_xlabel(f"% of arrived flights with arrival delay <= {ON_TIME_MINUTES} min", fontsize=9)
    ax.legend(loc="lower right", fontsize=8, frameon=True)
    ax.set_title(title, fontsize=12, loc="left")
    _style(ax)
    return _png(figure)


def routes_chart(routes: pd.DataFrame, title: str) -> str:
    data = routes.iloc[::-1]
    figure, (ax,) = _figure(len(data))
    labels = [f"{_label(dep, 28)} → {_label(arr, 28)}" for dep, arr in zip(data["dep_airport"], data["arr_airport"])]
    ax.barh(range(len(data)), data["p90_arr_delay"], color=_LIGHT, height=0.75, label="p90")
    ax.barh(range(len(data)), data["avg_arr_delay"], color=_DARK, height=0.45, label="average")
    for position, (avg, arrived) in enumerate(zip(data["avg_arr_delay"], data["arrived"])):
        ax.text(max(avg, 0) + 1, position, f"{avg:.0f} min · n={arrived:,}", va="center", fontsize=8, color="#222")
    ax.set_yticks(list(range(len(data))), labels)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_xlabel("arrival delay (minutes)", fontsize=9)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title(title, fontsize=12, loc="left")
    _style(ax)
    return _png(figure)


def daily_chart(daily: pd.DataFrame, title: str) -> str:
    """Flights per day (bars) and the on-time share (line): spots a bad day or a half-loaded one."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11.0, 3.4), layout="constrained")
    ax = figure.subplots()
    days = [_as_date(value) for value in daily["flight_date"]]
    ax.bar(range(len(days)), daily["flights"], color=_LIGHT, label="flights")
    ax.set_ylabel("flights (bars)", fontsize=9)
    share = ax.twinx()
    share.plot(range(len(days)), daily["on_time_share"] * 100, color=_DARK, marker="o", markersize=3, label="on time")
    share.set_ylim(0, 100)
    share.set_ylabel("% on time (line)", fontsize=9, color=_DARK)
    step = -(-len(days) // 14)  # at most 14 labels, however long the range
    pattern = "%d %b" if days[0].year == days[-1].year else "%d %b %Y"
    ax.set_xticks(list(range(0, len(days), step)), [f"{day:{pattern}}" for day in days[::step]], fontsize=8)
    ax.set_title(title, fontsize=12, loc="left")
    ax.spines[["top"]].set_visible(False)
    share.spines[["top"]].set_visible(False)
    return _png(figure)


# --- HTML --------------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 0;
       background: #f4f5f7; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 40px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-top: 12px; border-top: 1px solid #e3e3e3; }
.meta, .note { color: #5f6368; font-size: 12.5px; margin: 4px 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0 8px; }
.card { background: #f4f7fb; border-radius: 6px; padding: 10px 12px; }
.card .value { font-size: 20px; font-weight: 600; color: #1f5f99; }
.card .label { font-size: 12px; color: #5f6368; }
img { display: block; max-width: 100%; height: auto; margin: 8px 0; }
table.data { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 8px 0 4px; }
table.data th { background: #eef1f5; text-align: right; padding: 5px 8px; font-weight: 600; white-space: nowrap; }
table.data td { text-align: right; padding: 4px 8px; border-bottom: 1px solid #eceff3; white-space: nowrap; }
table.data th:first-child, table.data td:first-child,
table.routes th:nth-child(2), table.routes td:nth-child(2) { text-align: left; white-space: normal; }
table.data tr:nth-child(even) td { background: #fafbfc; }
details summary { cursor: pointer; color: #1f5f99; font-size: 13px; margin: 6px 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 12.5px; color: #3c4043; }
dt { font-weight: 600; }
dd { margin: 0; }
"""

_HEADINGS = {
    "flights": "Flights",
    "arrived": "Arrived",
    "cancelled": "Cancelled",
    "diverted": "Diverted",
    "on_time": "On time",
    "on_time_share": "On-time share",
    "avg_dep_delay": "Avg dep delay",
    "p90_dep_delay": "p90 dep delay",
    "avg_arr_delay": "Avg arr delay",
    "p90_arr_delay": "p90 arr delay",
    "carrier": "Carrier",
    "dep_airport": "Departure airport",
    "arr_airport": "Arrival airport",
    "flight_date": "Date",
}


def _cell(column: str, value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "n/a"
    if column == "on_time_share":
        return f"{value:.1%}"
    if column.startswith(("avg_", "p90_")):
        return f"{value:.1f}"
    if column in ("flights", "arrived", "cancelled", "diverted", "on_time"):
        return f"{int(value):,}"
    return str(value)[:10] if column == "flight_date" else str(value)


def _table(frame: pd.DataFrame, *, css: str = "data") -> str:
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = [_cell(column, value) for value in shown[column]]
    shown = shown.rename(columns=_HEADINGS)
    return str(shown.to_html(index=False, escape=True, border=0, classes=css))


def _card(value: str, label: str) -> str:
    return f'<div class="card"><div class="value">{html.escape(value)}</div><div class="label">{label}</div></div>'


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def render_html(report: DelayReport, *, source: str = "") -> tuple[str, int]:
    """The report as one self-contained HTML document; returns it and the number of charts."""
    o = report.overview
    first, last = report.date_from or report.first_date, report.date_to or report.last_date
    charts = [
        _img(delay_chart(report.by_carrier, "carrier", "Delay by carrier"), "delay by carrier"),
        _img(on_time_chart(report.by_carrier, "carrier", o["on_time_share"], "On-time share by carrier"), "on time"),
        _img(delay_chart(report.by_airport, "dep_airport", "Delay by departure airport"), "delay by airport"),
    ]
    routes_html = f"<p class='note'>No route has {report.min_route_flights} arrived flights in this range.</p>"
    if len(report.routes):
        charts.append(_img(routes_chart(report.routes, "Worst routes by average arrival delay"), "worst routes"))
        routes_html = charts[-1] + _table(report.routes, css="data routes")
    daily_html = ""
    if len(report.daily) > 1:
        charts.append(_img(daily_chart(report.daily, "Flights and on-time share per day"), "per day"))
        daily_html = charts[-1]
    if len(report.daily) <= MAX_DAILY_TABLE_ROWS:
        daily_html += (
            f"<details><summary>Numbers per day ({len(report.daily)})</summary>{_table(report.daily)}</details>"
        )
    else:
        daily_html += f"<p class='note'>{len(report.daily)} days: the per-day numbers are in report.csv.</p>"
    span = f"{first:%d %b %Y}" if first == last else f"{first:%d %b %Y} &ndash; {last:%d %b %Y}"
    cards = "".join(
        (
            _card(f"{o['flights']:,}", "flights loaded"),
            _card(f"{o['on_time_share']:.1%}", f"on time (arr delay &le; {ON_TIME_MINUTES} min)"),
            _card(f"{o['avg_arr_delay']:.1f} min", "average arrival delay"),
            _card(f"{o['p90_arr_delay']:.0f} min", "p90 arrival delay"),
            _card(f"{o['days']:,} / {o['files']:,}", "days / files"),
            _card(f"{o['cancelled']:,}", "cancelled (no delays)"),
            _card(f"{o['diverted']:,}", "diverted (no arrival delay)"),
            _card(f"{o['rejected_rows']:,}", "rows rejected at load"),
        )
    )
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flight delay report {first.isoformat()} to {last.isoformat()}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>Flight delays, {span}</h1>
<p class="meta">Requested range: {report.date_from or "start"} to {report.date_to or "end"} · data from
{report.first_date.isoformat()} to {report.last_date.isoformat()} · {html.escape(source)} ·
generated {report.generated_at:%Y-%m-%d %H:%M} UTC by airline-pipeline {__version__}</p>
<section class="cards">{cards}</section>
<h2>By carrier</h2>
{charts[0]}
{charts[1]}
{_table(report.by_carrier)}
<h2>By departure airport</h2>
{charts[2]}
{_table(report.by_airport)}
<h2>Worst routes</h2>
<p class="note">Highest average arrival delay among routes with at least {report.min_route_flights:,} arrived
flights (flights with an airport unknown to airports_dim are left out).</p>
{routes_html}
<h2>By day</h2>
{daily_html}
<h2>Definitions</h2>
<dl>
<dt>On time</dt><dd>arrival delay &le; {ON_TIME_MINUTES} minutes; the share is over arrived flights.</dd>
<dt>Arrived</dt><dd>flights with an arrival delay: the base of every arrival average, p90 and share.</dd>
<dt>Cancelled</dt><dd>no departure and no arrival delay (both empty in the file); excluded from averages.</dd>
<dt>Diverted</dt><dd>a departure delay but no arrival delay; excluded from arrival numbers.</dd>
<dt>p90</dt><dd>90th percentile, linear interpolation (PERCENTILE_CONT 0.9): 1 flight in 10 was later.</dd>
<dt>Negative delay</dt><dd>early departure or arrival.</dd>
</dl>
</main>
</body>
</html>
"""
    return document, len(charts)


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
