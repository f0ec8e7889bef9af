"""The input files of a range of days, locally or in S3: each with the day its ``date=`` folder names.

A range that matches nothing is an error (:class:`NoFilesFound`): a typo in a date must not look like a
successful reprocess.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from pydantic import BaseModel

from airline_pipeline.adapters import aws
from airline_pipeline.core.contract import flight_date_from_key
from airline_pipeline.core.defaults import DATA_PREFIX
from airline_pipeline.core.errors import ConfigError, InvalidKey, PipelineError

log = logging.getLogger(__name__)


class NoFilesFound(PipelineError):
    """Nothing matched the requested dates: a typo in a date must not look like a successful reprocess."""


class FoundFile(BaseModel):
    """One input file of the range: where it is and which day its folder names."""

    location: str
    flight_date: date
    #: S3 only: what the ``Object Created`` event carries.
    size: Optional[int] = None
    etag: Optional[str] = None


def _check_range(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise ConfigError(f"--from {date_from} is after --to {date_to}")


def _folder_date(name: str) -> Optional[date]:
    """The day a ``date=...`` folder names, or None for a folder that is not one (logged, then skipped)."""
    try:
        return flight_date_from_key(name.rstrip("/") + "/")
    except InvalidKey as exc:
        log.warning("skipping %s: %s", name, exc)
        return None


def _is_csv(name: str) -> bool:
    return name.lower().endswith(".csv")


def find_local_files(directory: str, *, date_from: date, date_to: date) -> list[FoundFile]:
    """``DIR/date=YYYY-MM-DD/*.csv`` (or ``date=YYYYMMDD``) within the range, oldest first."""
    _check_range(date_from, date_to)
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--source {directory} is not a directory")
    found: list[FoundFile] = []
    for folder in sorted(root.glob("date=*")):
        day = _folder_date(folder.name) if folder.is_dir() else None
        if day is None or not date_from <= day <= date_to:
            continue
        found.extend(
            FoundFile(location=str(path), flight_date=day)
            for path in sorted(folder.iterdir())
            if path.is_file() and _is_csv(path.name)
        )
    return sorted(found, key=lambda f: (f.flight_date, f.location))


def find_s3_files(
    bucket: str,
    *,
    date_from: date,
    date_to: date,
    prefix: str = DATA_PREFIX,
    s3_client: Any = None,
) -> list[FoundFile]:
    """``s3://bucket/<prefix>date=.../*.csv`` within the range, with size and ETag.

    Lists the ``date=`` folders first (one delimiter listing) and then only the folders in range,
    so a one-day reprocess of a year of data costs a handful of requests.
    """
    _check_range(date_from, date_to)
    client = s3_client or aws.client("s3")
    paginator = client.get_paginator("list_objects_v2")
    folders = []
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}date=", Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            folder = common["Prefix"]
            day = _folder_date(PurePosixPath(folder).name)
            if day is not None and date_from <= day <= date_to:
                folders.append((day, folder))
    found: list[FoundFile] = []
    for day, folder in folders:
        for page in paginator.paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
            found.extend(
                FoundFile(
                    location=f"s3://{bucket}/{item['Key']}",
                    flight_date=day,
                    size=int(item["Size"]),
                    etag=str(item.get("ETag", "")).strip('"'),
                )
                for item in page.get("Contents", [])
                if _is_csv(item["Key"])
            )
    return sorted(found, key=lambda f: (f.flight_date, f.location))


def require_files(files: list[FoundFile], where: str, date_from: date, date_to: date) -> None:
    if not files:
        raise NoFilesFound(
            f"no .csv files for {date_from}..{date_to} under {where} "
            "(expected date=YYYY-MM-DD/ or date=YYYYMMDD/ folders): check the dates and the location"
        )
