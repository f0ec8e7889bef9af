"""Freshness: which days of a date range have their flights loaded, read from the audit table.

The audit table holds one row per attempt (STARTED, then LOADED or FAILED). Per file, the newest
*finished* attempt is its state: a STARTED row is still running or was killed, and either way
changed nothing (a load is one transaction). A day is

- ``FAILED``  when any of its files' newest outcome is FAILED (someone must look, even if an older
  copy of the rows is still there),
- ``LOADED``  otherwise, when at least one of its files is loaded,
- ``MISSING`` when none is: no file arrived, or none finished loading.

``rows_loaded`` adds the rows of each file's newest LOADED attempt: the rows the fact table holds
for that day (a failed reload leaves the earlier copy in place). Reads go through
:meth:`Warehouse.query`, so the same code serves DuckDB, Redshift and the scheduled check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from airline_pipeline import schema
from airline_pipeline.errors import ConfigError
from airline_pipeline.warehouse import Row, Warehouse

MISSING = "MISSING"
#: Ten years of days: more is a typo (``--from 0001-01-01``), not a question anyone asks one day at a time.
MAX_DAYS = 3660

#: Every attempt of the range's days (parsed as Redshift SQL by the tests).
ATTEMPTS_SQL = f"""SELECT source_file, flight_date, status, rows_loaded, started_at, finished_at
FROM {schema.AUDIT}
WHERE flight_date >= CAST(:date_from AS DATE) AND flight_date <= CAST(:date_to AS DATE)"""


@dataclass(frozen=True)
class DayFreshness:
    """One day of the range, as ``freshness --json`` prints it (plus the count of loaded files)."""

    day: date
    status: str
    files: int
    rows_loaded: int
    files_loaded: int = 0

    @property
    def loaded(self) -> bool:
        """Rows of this day are in the warehouse (what the MISSING alert asks)."""
        return self.files_loaded > 0

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "status": self.status,
            "files": self.files,
            "rows_loaded": self.rows_loaded,
        }


def days_between(date_from: date, date_to: date) -> list[date]:
    """Every day from ``date_from`` to ``date_to`` inclusive; refuses an inverted or huge range."""
    if date_from > date_to:
        raise ConfigError(f"--from {date_from} is after --to {date_to}")
    count = (date_to - date_from).days + 1
    if count > MAX_DAYS:
        raise ConfigError(f"--from {date_from} --to {date_to} spans {count:,} days; at most {MAX_DAYS:,} are checked")
    return [date_from + timedelta(days=offset) for offset in range(count)]


def freshness(warehouse: Warehouse, *, date_from: date, date_to: date) -> list[DayFreshness]:
    """One entry per day of the range, oldest first."""
    days = days_between(date_from, date_to)
    rows = warehouse.query(ATTEMPTS_SQL, {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()})
    by_day: dict[date, dict[str, list[Row]]] = {}
    for row in rows:
        by_day.setdefault(_as_date(row["flight_date"]), {}).setdefault(str(row["source_file"]), []).append(row)
    return [_day(day, by_day.get(day, {})) for day in days]


def _day(day: date, files: dict[str, list[Row]]) -> DayFreshness:
    failed = loaded = rows_loaded = 0
    for attempts in files.values():
        finished = sorted(
            (a for a in attempts if a["status"] in (schema.LOADED, schema.FAILED)), key=_finished_order, reverse=True
        )
        if finished and finished[0]["status"] == schema.FAILED:
            failed += 1
        newest_load = next((a for a in finished if a["status"] == schema.LOADED), None)
        if newest_load is not None:
            loaded += 1
            rows_loaded += int(newest_load["rows_loaded"] or 0)
    status = schema.FAILED if failed else schema.LOADED if loaded else MISSING
    return DayFreshness(day=day, status=status, files=len(files), rows_loaded=rows_loaded, files_loaded=loaded)


def _finished_order(row: Row) -> tuple[datetime, datetime]:
    return (_as_datetime(row.get("finished_at")), _as_datetime(row.get("started_at")))


def _as_datetime(value: Any) -> datetime:
    """Audit timestamps: datetimes from DuckDB, ISO text from the Redshift Data API; absent sorts first."""
    if value is None:
        return datetime.min
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def not_fresh(days: list[DayFreshness]) -> list[DayFreshness]:
    """The days that make ``freshness`` exit 1: MISSING or FAILED."""
    return [day for day in days if day.status != schema.LOADED]


def format_table(days: list[DayFreshness]) -> str:
    """The range as aligned text, one day a line, for people."""
    lines = [f"{'date':<10}  {'status':<7}  {'files':>5}  {'rows_loaded':>12}"]
    lines += [f"{d.day.isoformat():<10}  {d.status:<7}  {d.files:>5}  {d.rows_loaded:>12,}" for d in days]
    return "\n".join(lines)


def summary(days: list[DayFreshness], *, warehouse: str, date_from: date, date_to: date) -> dict[str, Any]:
    """The text mode's last JSON line: counts per status, and the days that need attention."""
    stale = not_fresh(days)
    result: dict[str, Any] = {
        "warehouse": warehouse,
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "days": len(days),
        "loaded": sum(d.status == schema.LOADED for d in days),
        "failed": sum(d.status == schema.FAILED for d in days),
        "missing": sum(d.status == MISSING for d in days),
        "status": "STALE" if stale else "FRESH",
    }
    if stale:
        result["message"] = describe_stale(stale)
    return result


def describe_stale(stale: list[DayFreshness], *, limit: int = 10) -> str:
    """``3 days not loaded: 2013-01-16 MISSING, 2013-01-17 FAILED, ...`` (the first ``limit`` named)."""
    named = ", ".join(f"{d.day.isoformat()} {d.status}" for d in stale[:limit])
    more = f" and {len(stale) - limit} more" if len(stale) > limit else ""
    return f"{len(stale)} day{'s' if len(stale) != 1 else ''} not loaded: {named}{more}"
