"""The load history: the newest attempts from the audit table, as rows or an aligned text table.

It reads through the reader port (:meth:`Reader.query`), so the same history works on DuckDB and on Redshift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from airline_pipeline.adapters.warehouse import Reader, Row
from airline_pipeline.core import schema
from airline_pipeline.core.errors import ConfigError


def history_sql(last: int) -> str:
    """Newest attempts first; ``last`` is inlined as an integer (Redshift binds no LIMIT parameter)."""
    if last < 1:
        raise ConfigError(f"--last must be at least 1, not {last}")
    return f"""SELECT batch_id, source_file, flight_date, status, rows_read, rows_loaded, rows_rejected,
       unknown_airports, started_at, finished_at, error, warning, late, replace_scope, contract_version
FROM {schema.AUDIT}
ORDER BY started_at DESC, finished_at DESC, batch_id DESC
LIMIT {int(last)}"""


#: The history's note on an attempt that has no outcome (yet).
UNFINISHED = "no outcome recorded: still running, or killed"


def load_history(warehouse: Reader, *, last: int = 20) -> list[Row]:
    """The ``last`` audit rows, newest first, each with ``duration_seconds`` added.

    A STARTED row is an attempt with no outcome: still running, or killed before it could record
    one (its rows were never committed). It has no ``finished_at`` and no duration.
    """
    rows = warehouse.query(history_sql(last))
    for row in rows:
        row["duration_seconds"] = _seconds_between(row.get("started_at"), row.get("finished_at"))
    return rows


def _seconds_between(start: Any, end: Any) -> Optional[float]:
    """Duration in seconds; tolerant of the ISO strings a Data API read may return."""
    if start is None or end is None:
        return None
    began, ended = (_timestamp(value) for value in (start, end))
    return round((ended - began).total_seconds(), 3)


def _timestamp(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _shorten(value: Any, width: int, *, keep_end: bool = False) -> str:
    """Cut long values so one attempt stays one line; paths keep their informative end."""
    text = "" if value is None else " ".join(str(value).split())
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if keep_end else text[: width - 1] + "…"


def format_history(rows: list[Row], *, file_width: int = 48, error_width: int = 60) -> str:
    """The history as an aligned text table (pandas does the layout)."""
    import pandas as pd

    if not rows:
        return "no load attempts recorded yet"
    table = pd.DataFrame(
        {
            "started_at (UTC)": [str(r["started_at"])[:19] for r in rows],
            "status": [r["status"] for r in rows],
            "flight_date": [str(r["flight_date"] or "-") for r in rows],
            "file": [_shorten(r["source_file"], file_width, keep_end=True) for r in rows],
            "loaded": [_count(r["rows_loaded"]) for r in rows],
            "rejected": [_count(r["rows_rejected"]) for r in rows],
            "seconds": ["-" if r["duration_seconds"] is None else f"{r['duration_seconds']:.0f}" for r in rows],
            "error": [
                _shorten(
                    r["error"] or r.get("warning") or (UNFINISHED if r["status"] == schema.STARTED else ""), error_width
                )
                or "-"
                for r in rows
            ],
        }
    )
    for column in ("status", "flight_date", "file", "error"):
        table[column] = table[column].str.ljust(int(table[column].str.len().max()))
    return "\n".join(line.rstrip() for line in table.to_string(index=False, justify="left").splitlines())


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"
