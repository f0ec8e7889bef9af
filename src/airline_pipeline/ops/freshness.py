"""``airline-pipeline freshness``: the days of a range as a table, a summary line, or JSON.

The reading and the day states (LOADED / FAILED / MISSING) are :mod:`airline_pipeline.core.freshness`,
shared with the scheduled ExpectedBy check (:mod:`airline_pipeline.steps.freshness`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from airline_pipeline.core import status
from airline_pipeline.core.freshness import DayFreshness, freshness, not_fresh

__all__ = ["describe_stale", "format_table", "freshness", "not_fresh", "summary"]


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
        "loaded": sum(d.status == status.LOADED for d in days),
        "failed": sum(d.status == status.FAILED for d in days),
        "missing": sum(d.status == status.MISSING for d in days),
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
