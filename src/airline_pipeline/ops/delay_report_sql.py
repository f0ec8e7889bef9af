"""The delay report's SQL: every statement aggregates in the database (one row per group, never per
flight) and runs unchanged on DuckDB and on Redshift through :meth:`Warehouse.query`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Optional

from airline_pipeline.core import schema
from airline_pipeline.core.errors import ConfigError

ON_TIME_MINUTES = 15
DEFAULT_MIN_ROUTE_FLIGHTS = 10
DEFAULT_TOP_ROUTES = 15
UNKNOWN_AIRPORT = "(unknown airport)"


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
