"""The results of the load itself, as plain dataclasses.

The load path (CLI ``ingest``, the Glue job) imports no pydantic: its models cost a quarter of a
second at start-up, a third of the time it takes to load a day's file. The Lambda steps, whose
inputs need parsing, use pydantic models of their own (``airline_pipeline.steps``).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Optional


def utcnow() -> datetime:
    """Naive UTC to the millisecond: TIMESTAMP without time zone, as Parquet staging for Redshift keeps it."""
    now = datetime.now(timezone.utc)
    return now.replace(tzinfo=None, microsecond=now.microsecond // 1000 * 1000)


def new_batch_id(flight_date: Optional[date] = None) -> str:
    """Readable and unique: ``2024-01-15-3f2a9c1e``."""
    prefix = flight_date.isoformat() if flight_date else "batch"
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_load_id() -> str:
    """One ``load-airports`` run: ``airports-20240115T030000-3f2a9c1e``."""
    return f"airports-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Batch:
    """One attempt to load one file."""

    batch_id: str
    source_file: str
    #: None only for a failed attempt whose key names no date.
    flight_date: Optional[date] = None
    etag: str = ""
    min_dep_delay: Optional[int] = None
    started_at: datetime = field(default_factory=utcnow)
    #: The Glue job's DPUs for this load (what it is billed for); None outside Glue.
    job_capacity_dpu: Optional[float] = None

    def replace(self, **changes: Any) -> Batch:
        return dataclasses.replace(self, **changes)

    def summary(self, status: str, **fields: Any) -> LoadSummary:
        """This attempt's outcome: the batch's identity plus what the load (or its failure) says."""
        return LoadSummary(
            batch_id=self.batch_id,
            source_file=self.source_file,
            flight_date=self.flight_date,
            min_dep_delay=self.min_dep_delay,
            status=status,
            **fields,
        )


#: The row counts of a load, in the order every report shows them: ``rows_read = loaded + rejected + filtered``.
ROW_COUNTS = ("rows_read", "rows_loaded", "rows_rejected", "rows_filtered")


@dataclass(frozen=True)
class LoadOutcome:
    """A batch's identity and counts: declared once for the load's summary and the report step's report.

    :class:`LoadSummary` (CLI, Glue job) adds what only the load knows; ``BatchReport``
    (``airline_pipeline.steps.verify_load``) adds what the report step reads back from the warehouse.
    """

    batch_id: str
    source_file: str
    status: str
    flight_date: Optional[date] = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    unknown_airports: int = 0
    unknown_airport_ids: list[int] = field(default_factory=list)
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class LoadSummary(LoadOutcome):
    """What ``ingest`` prints as its last line and what the Glue job returns."""

    blank_lines: int = 0
    min_dep_delay: Optional[int] = None
    error: Optional[str] = None
    message: Optional[str] = None
    #: Loaded, but something an operator must not miss (e.g. no airports to join with).
    warning: Optional[str] = None

    def replace(self, **changes: Any) -> LoadSummary:
        return dataclasses.replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO strings, in field order (the CLI's last line)."""
        values = dataclasses.asdict(self)
        values["flight_date"] = self.flight_date.isoformat() if self.flight_date else None
        return values


@dataclass(frozen=True)
class AirportsLoad:
    """What ``load-airports`` did: every row of the file is upserted or rejected, and counted.

    ``rows_read = rows_upserted + rows_rejected`` (blank lines apart). Rejected rows are kept in
    ``airlines.rejected_airports`` under ``load_id``; ``rejected_examples`` shows the first few.
    """

    load_id: str
    source_file: str
    rows_read: int
    rows_upserted: int
    rows_rejected: int
    blank_lines: int
    #: Airport ids the dimension did not have before / had with another city, state or name.
    airports_added: int
    airports_changed: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_examples: list[dict[str, Any]] = field(default_factory=list)
    warning: Optional[str] = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
