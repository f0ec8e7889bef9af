"""A load's policy: when a file is too bad to load, what its rows replace, and when it arrived late.

Why here (``core``): the CLI, the Glue job and the engine apply the same rules, and the Glue job
runs Python 3.9 without pydantic. The thresholds are off by default (today's behaviour): a load
refuses nothing and replaces its own file's rows only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

#: ``--on-threshold``: ``fail`` refuses the file (nothing loaded, status REJECTED), ``warn`` loads it
#: and says so.
ON_THRESHOLD = ("warn", "fail")
#: ``--replace-scope``: a load replaces the rows of its ``file`` (its source_file), or every row of its
#: ``date`` (whatever file they came from: a corrected file under another name).
REPLACE_SCOPES = ("file", "date")
#: A file whose flight date is more than this many days before its load is flagged late.
DEFAULT_LATE_AFTER_DAYS = 3
#: The ``error`` of a refused load (the audit row, the CLI's JSON line, the Glue job's first stderr line).
THRESHOLD_ERROR = "QualityThresholdExceeded"
#: How the ``warning`` of a file loaded over a threshold (on-threshold warn) begins (lineage looks for it).
THRESHOLD_WARNING = "over the quality threshold, loaded anyway (on-threshold warn)"


def check_share(value: float) -> float:
    """A rejected-rows share: a fraction from 0 to 1 (``0.05`` is 5%); ``5`` is refused, not read as 500%."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
        raise ValueError(f"{value} is not a fraction between 0 and 1 (0.05 means 5%)")
    return float(value)


@dataclass(frozen=True)
class LoadPolicy:
    """What a load accepts and replaces. The defaults are today's behaviour."""

    #: Refuse (or warn about) a file whose rejected rows are MORE than this share of its rows read.
    max_rejected_share: Optional[float] = None
    #: Refuse (or warn about) a file with fewer valid rows (read minus rejected) than this.
    min_rows: Optional[int] = None
    on_threshold: str = "fail"
    replace_scope: str = "file"
    #: None: never flag a file late.
    late_after_days: Optional[int] = DEFAULT_LATE_AFTER_DAYS

    def __post_init__(self) -> None:
        if self.max_rejected_share is not None:
            check_share(self.max_rejected_share)
        if self.min_rows is not None and self.min_rows < 0:
            raise ValueError(f"min_rows must be 0 or more, not {self.min_rows}")
        if self.on_threshold not in ON_THRESHOLD:
            raise ValueError(f"on_threshold must be one of {', '.join(ON_THRESHOLD)}, not {self.on_threshold!r}")
        if self.replace_scope not in REPLACE_SCOPES:
            raise ValueError(f"replace_scope must be one of {', '.join(REPLACE_SCOPES)}, not {self.replace_scope!r}")
        if self.late_after_days is not None and self.late_after_days < 0:
            raise ValueError(f"late_after_days must be 0 or more, not {self.late_after_days}")

    def breach(self, *, rows_read: int, rows_rejected: int) -> Optional[str]:
        """Why the file is over a threshold (a sentence), or None when it is within every one.

        The share is ``rows_rejected / rows_read``; a share exactly at the limit is within it. A file
        with no rows has a share of 0 (only ``min_rows`` can refuse it).
        """
        problems = []
        share = rows_rejected / rows_read if rows_read else 0.0
        if self.max_rejected_share is not None and share > self.max_rejected_share:
            problems.append(
                f"{_percent(share)} of rows rejected ({rows_rejected:,} of {rows_read:,}), "
                f"over the {_percent(self.max_rejected_share)} limit"
            )
        valid = rows_read - rows_rejected
        if self.min_rows is not None and valid < self.min_rows:
            problems.append(f"{valid:,} valid rows, fewer than the minimum of {self.min_rows:,}")
        return "; ".join(problems) or None

    def is_late(self, flight_date: Optional[date], arrived: datetime) -> bool:
        """Whether a file for ``flight_date`` arriving at ``arrived`` (UTC) is more than the allowed days old."""
        if self.late_after_days is None or flight_date is None:
            return False
        return (arrived.date() - flight_date).days > self.late_after_days


def _percent(share: float) -> str:
    """``0.125`` -> ``12.5%``, ``0.05`` -> ``5%``: as few digits as say it exactly (up to 2 decimals)."""
    return f"{round(share * 100, 2):g}%"
