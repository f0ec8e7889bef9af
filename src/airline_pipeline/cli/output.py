"""What every command prints: stderr for people, one JSON line on stdout for scripts (always the last)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from airline_pipeline.core import status

log = logging.getLogger("airline_pipeline")

#: Files above this size get a download progress bar.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024
#: Exit code of a refused command line (argparse's).
USAGE_EXIT = 2
#: The range of the warehouse's integer columns (BIGINT).
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def default_warehouse() -> str:
    """``$AIRLINE_PIPELINE_WAREHOUSE``, else a DuckDB file in the current directory."""
    return os.environ.get("AIRLINE_PIPELINE_WAREHOUSE") or f"duckdb://{Path.cwd() / 'warehouse.duckdb'}"


def emit(payload: Any) -> None:
    """The command's result: one JSON line on stdout, always the last one."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def failure(error: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON line of a command that failed before it had a result of its own."""
    return {"status": status.FAILED, "error": error, "message": message, **extra}


class download_bar:
    """A tqdm bar on stderr that appears only once a download turns out to be large."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < PROGRESS_MIN_BYTES:
                return
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc="download", file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
