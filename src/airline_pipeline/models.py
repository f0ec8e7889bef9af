"""Typed results passed between the steps (CLI, Glue job, Lambdas, state machine)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """Naive UTC: both warehouses store TIMESTAMP without time zone."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def new_batch_id(flight_date: Optional[date] = None) -> str:
    """Readable and unique: ``2024-01-15-3f2a9c1e``."""
    prefix = flight_date.isoformat() if flight_date else "batch"
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Batch(BaseModel):
    """One attempt to load one file."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    source_file: str
    #: None only for a failed attempt whose key names no date.
    flight_date: Optional[date] = None
    etag: str = ""
    min_dep_delay: Optional[int] = None
    started_at: datetime = Field(default_factory=utcnow)


class LoadSummary(BaseModel):
    """What ``ingest`` prints as its last line and what the Glue job and report step return."""

    batch_id: str
    source_file: str
    flight_date: Optional[date] = None
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    blank_lines: int = 0
    unknown_airports: int = 0
    unknown_airport_ids: list[int] = Field(default_factory=list)
    min_dep_delay: Optional[int] = None
    duration_seconds: float = 0.0
    error: Optional[str] = None
    message: Optional[str] = None
