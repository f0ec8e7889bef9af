"""Load one flights file: the single entry point shared by the CLI, the Glue job and the tests."""

from __future__ import annotations

import logging
import time
from typing import Optional

from airline_pipeline.adapters.sources import ProgressCallback, SourceFile, open_source
from airline_pipeline.adapters.warehouse import Warehouse
from airline_pipeline.core import interrupts, schema
from airline_pipeline.core.contract import HEAD_BYTES, check_head, flight_date_or_none
from airline_pipeline.core.errors import IdentityTooLong, PipelineError
from airline_pipeline.core.outcome import Batch, LoadSummary, new_batch_id
from airline_pipeline.engine.scan import prepare

log = logging.getLogger(__name__)


def ingest(
    location: str,
    warehouse: Warehouse,
    *,
    min_dep_delay: Optional[int] = None,
    batch_id: Optional[str] = None,
    data_prefix: str = "",
    download_progress: Optional[ProgressCallback] = None,
    job_capacity_dpu: Optional[float] = None,
) -> LoadSummary:
    """Check, join and load the file at ``location`` (local path or ``s3://``) into ``warehouse``.

    Never raises for a bad file or a failed load: the result's ``status`` is ``FAILED`` with
    ``error`` (a stable code) and ``message``, and a FAILED audit row is written. Loading the
    same location again replaces its rows. Ctrl-C or SIGTERM (:mod:`airline_pipeline.core.interrupts`)
    is recorded the same way, then raised as :class:`~airline_pipeline.core.errors.Interrupted`.
    """
    started = time.monotonic()
    batch = Batch(
        batch_id=batch_id or new_batch_id(),
        source_file=location,
        min_dep_delay=min_dep_delay,
        job_capacity_dpu=job_capacity_dpu,
    )
    try:
        source = open_source(location)
        batch = batch.replace(source_file=source.uri, etag=source.etag, flight_date=flight_date_or_none(source.key))
        head = source.read_head(HEAD_BYTES)
        checked = check_head(head, total_size=source.size, key=source.key, prefix=data_prefix)
        if batch_id is None:
            batch = batch.replace(batch_id=new_batch_id(checked.flight_date))
        _check_identity(batch)
        log.info("loading %s (%s bytes) as batch %s", source.uri, f"{source.size:,}", batch.batch_id)
        summary = _load(source, batch, warehouse, download_progress)
    except PipelineError as exc:
        summary = _failed(batch, exc.code, str(exc), warehouse)
    except (Exception, KeyboardInterrupt) as exc:
        stopped = interrupts.as_interrupted(exc)
        if stopped is not None:
            message = f"{stopped}: the load was rolled back, nothing of it was kept; run it again to load the file"
            summary = _failed(batch, stopped.code, message, warehouse)
            stopped.summary = summary.replace(duration_seconds=round(time.monotonic() - started, 3)).as_json()
            raise stopped from (None if stopped is exc else exc)
        # a bug or an engine error: still one FAILED audit row and a summary
        log.exception("unexpected error while loading %s", location)
        summary = _failed(batch, type(exc).__name__, str(exc), warehouse)
    return summary.replace(duration_seconds=round(time.monotonic() - started, 3))


def _load(source: SourceFile, batch: Batch, warehouse: Warehouse, progress: Optional[ProgressCallback]) -> LoadSummary:
    # Every warehouse reads lines with DuckDB: prepare() hands it a literal path it reads exactly.
    with (
        source.local_copy(progress=progress) as path,
        prepare(path, name=source.uri, check_unchanged=source.check_unchanged) as file,
    ):
        summary = warehouse.load_file(file, batch)
    if summary.warning:
        log.warning("%s", summary.warning)
    log.info(
        "loaded %s rows, rejected %s, %s flights with an unknown airport",
        f"{summary.rows_loaded:,}",
        f"{summary.rows_rejected:,}",
        f"{summary.unknown_airports:,}",
    )
    return summary


def _check_identity(batch: Batch) -> None:
    """Refuse a ``source_file`` or ``batch_id`` the warehouse would have to cut (both engines alike)."""
    for name, value in (("source_file", batch.source_file), ("batch_id", batch.batch_id)):
        problem = schema.identity_problem(name, value)
        if problem:
            raise IdentityTooLong(f"{problem}; nothing loaded")


def _failed(batch: Batch, code: str, message: str, warehouse: Warehouse) -> LoadSummary:
    log.error("%s: %s", code, message)
    warehouse.record_failure(batch, f"{code}: {message}")
    return batch.summary(schema.FAILED, error=code, message=message)
