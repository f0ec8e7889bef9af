"""``airline-pipeline``: the command line. Progress and messages go to stderr; the last stdout
line of every command is one JSON object, so scripts can ``tail -n1 | jq``.

That holds for failures too - a refused argument (exit 2), a failed command (exit 1), Ctrl-C (130)
or SIGTERM (143): a message on stderr naming the cause and what to do, then the JSON line with
``status``, ``error`` and ``message``. Tracebacks are for ``--debug`` only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Optional

from airline_pipeline.cli.output import emit, failure, log
from airline_pipeline.cli.parser import build_parser
from airline_pipeline.core import interrupts
from airline_pipeline.core.errors import Interrupted, PipelineError


class _Formatter(logging.Formatter):
    """Log lines for people: an error's traceback becomes its one-line cause unless ``--debug``."""

    def __init__(self, *, tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks or not record.exc_info:
            return super().format(record)
        exc = record.exc_info[1]
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        cause = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return super().format(plain) + cause


def _setup_logging(*, verbose: bool, debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(tracebacks=debug))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose or debug else logging.INFO)


def _interrupted(stopped: Interrupted) -> int:
    log.error("%s: nothing of an unfinished load was kept; run the command again to finish the work", stopped)
    message = f"{stopped}; nothing of an unfinished load was kept - run the command again"
    emit({**(stopped.summary or {}), **failure(stopped.code, message, signal=stopped.signal_name)})
    return stopped.exit_code


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(verbose=args.verbose, debug=args.debug)
    interrupts.install()
    try:
        return int(args.func(args))
    except PipelineError as exc:
        log.error("%s: %s", exc.code, exc, exc_info=exc if args.debug else None)
        emit(failure(exc.code, str(exc)))
        return 1
    except (Exception, KeyboardInterrupt) as exc:
        stopped = interrupts.as_interrupted(exc)
        if stopped is not None:
            return _interrupted(stopped)
        # Not a failure we foresaw: its cause in one line (the formatter adds it), the traceback with --debug.
        log.error(
            "unexpected error; run again with --debug for the traceback, and report it if it persists", exc_info=exc
        )
        emit(failure(type(exc).__name__, str(exc) or repr(exc)))
        return 1
