"""Freshness: which days of a date range have their flights loaded, read from the audit table.

The audit table holds one row per attempt (STARTED, then LOADED or FAILED). Per file, the newest
*finished* attempt is its state: a STARTED row is still running or was killed, and either way
changed nothing (a load is one transaction). A day is

- ``FAILED``  when any of its files' newest outcome is FAILED (someone must look, even if an older
  copy of the rows is still there),
- ``LOADED``  otherwise, when at least one of its files is loaded,
- ``MISSING`` when none is: no file arrived, or none finished loading.

``rows_loaded`` adds the rows of each file's newest LOADED attempt: the rows the fact table holds
for that day (a failed reload leaves the earlier copy in place). Here, below both of its users -
``airline-pipeline freshness`` (ops/) and the scheduled check (steps/) - and free of any warehouse:
the read goes through whatever has the reader port's ``query`` (DuckDB, or Redshift's awswrangler
reader, which loads no DuckDB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Optional, Protocol

from airline_pipeline.core import schema, status
from airline_pipeline.core.errors import ConfigError

#: Ten years of days: more is a typo (``--from 0001-01-01``), not a question anyone asks one day at a time.
MAX_DAYS = 3660

#: Every attempt of the range's days (parsed as Redshift SQL by the tests).
ATTEMPTS_SQL = f"""SELECT source_file, flight_date, status, rows_loaded, started_at, finished_at
FROM {schema.AUDIT}
WHERE flight_date >= CAST(:date_from AS DATE) AND flight_date <= CAST(:date_to AS DATE)"""

Row = dict[str, Any]


class Queryable(Protocol):
    """What freshness needs of a warehouse: the reader port's ``query`` (``:name`` placeholders)."""

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]: ...


@dataclass(frozen=True)
class DayFreshness:
    """One day of the range, as ``freshness --json`` prints it (plus the count of loaded files)."""

    day: date
    status: status.DayStatus
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


def freshness(reader: Queryable, *, date_from: date, date_to: date) -> list[DayFreshness]:
    """One entry per day of the range, oldest first."""
    days = days_between(date_from, date_to)
    rows = reader.query(ATTEMPTS_SQL, {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()})
    by_day: dict[date, dict[str, list[Row]]] = {}
    for row in rows:
        by_day.setdefault(_as_date(row["flight_date"]), {}).setdefault(str(row["source_file"]), []).append(row)
    return [_day(day, by_day.get(day, {})) for day in days]


def _day(day: date, files: dict[str, list[Row]]) -> DayFreshness:
    failed = loaded = rows_loaded = 0
    for attempts in files.values():
        finished = sorted(
            (a for a in attempts if a["status"] in (status.LOADED, status.FAILED)), key=_finished_order, reverse=True
        )
        if finished and finished[0]["status"] == status.FAILED:
            failed += 1
        newest_load = next((a for a in finished if a["status"] == status.LOADED), None)
        if newest_load is not None:
            loaded += 1
            rows_loaded += int(newest_load["rows_loaded"] or 0)
    state: status.DayStatus = "FAILED" if failed else "LOADED" if loaded else "MISSING"
    return DayFreshness(day=day, status=state, files=len(files), rows_loaded=rows_loaded, files_loaded=loaded)


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
    return [day for day in days if day.status != status.LOADED]
