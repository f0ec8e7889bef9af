"""Ctrl-C and SIGTERM: stop the work, roll back, record and say why.

Python raises KeyboardInterrupt for Ctrl-C only while it runs Python code. While DuckDB runs a
query it checks for signals itself, stops the query and raises its own ``Query interrupted``
error instead - so a Ctrl-C in the middle of a load arrives as an ordinary engine error, and which
signal it was is lost. The CLI's handlers therefore remember the signal before raising, and
:func:`as_interrupted` turns either form back into one :class:`~airline_pipeline.core.errors.Interrupted`.
Without :func:`install` (the Lambdas, the Glue job) nothing changes.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Optional

from airline_pipeline.core.errors import Interrupted

#: Names of the signals received since :func:`install`, oldest first.
_received: list[str] = []
#: What DuckDB says when a signal stopped a query (``RuntimeError`` or ``duckdb.InterruptException``).
_ENGINE_MESSAGES = ("query interrupted", "interrupted!")


def install() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted`; a SIGINT the parent ignores (``cmd &``) stays ignored."""
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _raise_interrupted)


def _raise_interrupted(number: int, frame: Optional[FrameType]) -> None:
    name = signal.Signals(number).name
    _received.append(name)
    raise Interrupted(name)


def as_interrupted(exc: BaseException) -> Optional[Interrupted]:
    """``exc`` as an :class:`Interrupted` when a signal caused it, else None."""
    if isinstance(exc, Interrupted):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("SIGINT")
    engine_says = type(exc).__name__ == "InterruptException" or str(exc).strip().lower().endswith(_ENGINE_MESSAGES)
    if _received and engine_says:
        return Interrupted(_received[-1])
    return None
