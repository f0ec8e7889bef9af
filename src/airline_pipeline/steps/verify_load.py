"""Step 4: read the load's outcome back from the warehouse.

The Glue job's SUCCEEDED state only says the script exited 0; this step proves the rows are
there: the audit row of the batch, the fact rows carrying its batch_id, and why rows were rejected.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel
from pydantic.dataclasses import dataclass

from airline_pipeline.adapters.warehouse import Reader
from airline_pipeline.core import schema
from airline_pipeline.core.errors import LoadFailed, WarehouseError
from airline_pipeline.core.outcome import ROW_COUNTS, LoadOutcome


class ReasonCount(BaseModel):
    reason: str
    rows: int
    first_line: int
    example: str


@dataclass(frozen=True)
class BatchReport(LoadOutcome):
    """``$.report`` in the state machine and the numbers of the success notification.

    The batch's identity and counts are :class:`~airline_pipeline.core.outcome.LoadOutcome`'s (declared
    once, for the load too); this adds what the report reads back. A pydantic dataclass: the
    inherited fields are validated too.
    """

    #: A default only because the inherited fields have one (``kw_only`` needs Python 3.10; the Glue
    #: job's 3.9 imports this module); the report step always sets it.
    fact_rows: int = 0
    #: The Glue job's DPUs, as the load recorded them (None: loaded outside Glue).
    job_capacity_dpu: Optional[float] = None
    top_rejection_reasons: list[ReasonCount] = field(default_factory=list)
    rejected_rows_location: Optional[str] = None


_AUDIT = f"""
SELECT batch_id, source_file, flight_date, status, {", ".join(ROW_COUNTS)},
       unknown_airports, unknown_airport_ids, started_at, finished_at, error, job_capacity_dpu
FROM {schema.AUDIT}
WHERE batch_id = :batch_id
ORDER BY finished_at DESC NULLS LAST, started_at DESC
LIMIT 1"""

_FACT_ROWS = f"SELECT count(*) AS n FROM {schema.FACT} WHERE batch_id = :batch_id"

_REASONS = f"""
SELECT reason, count(*) AS n, min(line_number) AS first_line, min(raw_line) AS example
FROM {schema.REJECTED}
WHERE batch_id = :batch_id
GROUP BY reason
ORDER BY n DESC, reason
LIMIT 5"""

#: Every statement this module runs (tests parse them as Redshift SQL).
STATEMENTS = (_AUDIT, _FACT_ROWS, _REASONS)


def batch_report(warehouse: Reader, batch_id: str) -> BatchReport:
    """The batch's numbers; raises when the load is missing, failed, or its rows are not all there.

    The newest *finished* attempt counts (NULLS LAST: Redshift sorts NULL first in DESC): a retried
    job run leaves its killed attempt's STARTED row next to the LOADED one. Only STARTED rows mean
    the load never finished.
    """
    audit = warehouse.query(_AUDIT, {"batch_id": batch_id})
    if not audit:
        raise LoadFailed(f"no load recorded for batch {batch_id}: the Glue job ended without loading the file")
    row = audit[0]
    if row["status"] == schema.STARTED:
        raise LoadFailed(
            f"batch {batch_id} started at {row['started_at']} and recorded no outcome: the load was killed "
            "(out of memory, timeout) before it finished, and nothing of it was kept; reprocess the file"
        )
    if row["status"] != schema.LOADED:
        raise LoadFailed(f"batch {batch_id} failed", details=str(row.get("error") or ""))
    fact_rows = int(warehouse.query(_FACT_ROWS, {"batch_id": batch_id})[0]["n"])
    if fact_rows != int(row["rows_loaded"]):
        raise WarehouseError(
            f"batch {batch_id}: audit says {row['rows_loaded']} rows loaded, the fact table has {fact_rows} "
            "(a later load of the same file replaces them; check `airline-pipeline history`)"
        )
    reasons = [
        ReasonCount(
            reason=r["reason"], rows=int(r["n"]), first_line=int(r["first_line"]), example=str(r["example"])[:200]
        )
        for r in warehouse.query(_REASONS, {"batch_id": batch_id})
    ]
    return BatchReport(
        batch_id=batch_id,
        source_file=row["source_file"],
        flight_date=row["flight_date"],
        status=row["status"],
        **{name: int(row[name] or 0) for name in ROW_COUNTS},
        unknown_airports=int(row["unknown_airports"] or 0),
        unknown_airport_ids=_ids(row.get("unknown_airport_ids")),
        fact_rows=fact_rows,
        duration_seconds=_seconds(row["started_at"], row["finished_at"]),
        job_capacity_dpu=float(row["job_capacity_dpu"]) if row.get("job_capacity_dpu") is not None else None,
        top_rejection_reasons=reasons,
        rejected_rows_location=(
            f"{schema.REJECTED} WHERE batch_id = '{batch_id}'" if int(row["rows_rejected"]) else None
        ),
    )


def _ids(value: Any) -> list[int]:
    return [int(part) for part in str(value or "").split(",") if part.strip()]


def _seconds(start: Any, end: Any) -> float:
    """The load's duration. The Redshift Data API returns timestamps as text ('2013-01-15 10:00:00.123')."""
    try:
        return round(float((_timestamp(end) - _timestamp(start)).total_seconds()), 3)
    except (TypeError, ValueError):  # a missing or unreadable timestamp: no duration rather than no report
        return 0.0


def _timestamp(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
