"""Admission rules shared by the starter Lambda and ``reprocess``: execution names and the retry backoff.

Pure (no AWS, Python 3.9): the CLI computes the very name the starter will give an execution, so
``reprocess --via-state-machine --wait`` can follow executions that do not exist yet.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import PurePosixPath
from typing import Callable

from airline_pipeline.core.contract import flight_date_or_none

#: Step Functions execution names: 1-80 characters of letters, digits, '-' and '_'.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def execution_name(event_id: str, key: str, file: str) -> str:
    """``<yyyymmdd>-<file stem>-<hash of event id and file>``: readable, valid, the same for one event.

    The same event (an SQS redelivery, an EventBridge retry) always gets the same name, so Step
    Functions starts it once; a new event for the same file (re-upload, replay) gets a new one.
    ``key`` is the decoded object key, ``file`` the ledger's identity of the object (bucket, key, ETag:
    :func:`airline_pipeline.adapters.ledger.file_id`), whole - never truncated before hashing.
    """
    day = flight_date_or_none(key)
    stem = _NAME_UNSAFE.sub("-", PurePosixPath(key).stem).strip("-")[:40] or "file"
    digest = hashlib.sha256(f"{event_id}|{file}".encode()).hexdigest()[:24]
    return f"{day:%Y%m%d}-{stem}-{digest}" if day else f"nodate-{stem}-{digest}"


def backoff_seconds(receive_count: int, *, base: int, cap: int, rand: Callable[[], float] = random.random) -> int:
    """Exponential backoff with full jitter on how often the message was received, never above ``cap``.

    Jitter spreads the retries of a burst so they do not all come back in the same second.
    """
    ceiling = min(cap, base * 2 ** max(0, min(receive_count - 1, 20)))
    return max(1, min(cap, int(ceiling / 2 + rand() * ceiling / 2)))
