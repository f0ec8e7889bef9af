"""``airline-pipeline``: the command line. Progress and messages go to stderr; the last stdout
line of every command is one JSON object, so scripts can ``tail -n1 | jq``.

That holds for failures too - a refused argument (exit 2), a failed command (exit 1), Ctrl-C (130)
or SIGTERM (143): a message on stderr naming the cause and what to do, then the JSON line with
``status``, ``error`` and ``message``. Tracebacks are for ``--debug`` only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

from airline_pipeline import __version__
from airline_pipeline.adapters.warehouse import describe, open_reader, open_warehouse
from airline_pipeline.core import interrupts, schema, status
from airline_pipeline.core.defaults import DATA_PREFIX
from airline_pipeline.core.errors import ConfigError, Interrupted, PipelineError
from airline_pipeline.core.quality import DEFAULT_LATE_AFTER_DAYS, ON_THRESHOLD, REPLACE_SCOPES, LoadPolicy, check_share

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


# --- commands -----------------------------------------------------------------------------------


def cmd_init_warehouse(args: argparse.Namespace) -> int:
    with open_warehouse(args.warehouse) as warehouse:
        warehouse.init_schema()
    log.info("schema %s ready in %s", schema.SCHEMA, describe(args.warehouse))
    emit({"warehouse": describe(args.warehouse), "schema": schema.SCHEMA, "status": "ready"})
    return 0


def cmd_load_airports(args: argparse.Namespace) -> int:
    with open_warehouse(args.warehouse) as warehouse:
        warehouse.init_schema()
        result = warehouse.load_airports(str(Path(args.path).resolve()))
    log.info(
        "upserted %s airports into %s (%s new, %s changed), rejected %s rows",
        f"{result.rows_upserted:,}",
        schema.AIRPORTS,
        f"{result.airports_added:,}",
        f"{result.airports_changed:,}",
        f"{result.rows_rejected:,}",
    )
    if result.warning:
        log.warning("%s", result.warning)
    emit({"warehouse": describe(args.warehouse), "table": schema.AIRPORTS, "status": status.LOADED, **result.as_json()})
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from airline_pipeline.engine.ingest import ingest

    with open_warehouse(args.warehouse) as warehouse:
        warehouse.init_schema()
        with _download_bar() as progress:
            summary = ingest(
                args.source,
                warehouse,
                min_dep_delay=args.min_dep_delay,
                batch_id=args.batch_id,
                download_progress=progress,
                policy=LoadPolicy(
                    max_rejected_share=args.max_rejected_share,
                    min_rows=args.min_rows,
                    on_threshold=args.on_threshold,
                    replace_scope=args.replace_scope,
                    late_after_days=args.late_after_days,
                ),
            )
    emit(summary.as_json())
    return 0 if summary.status == schema.LOADED else 1


def cmd_reprocess(args: argparse.Namespace) -> int:
    from airline_pipeline.ops import reprocess as operations

    if args.wait and not args.via_state_machine:
        raise ConfigError("--wait applies to --via-state-machine only (a local reprocess always waits)")
    the_range = {"date_from": args.date_from, "date_to": args.date_to, "prefix": args.prefix, "progress": True}
    if args.via_state_machine:
        if not args.bucket:
            raise ConfigError("--via-state-machine starts executions for S3 objects: it needs --bucket")
        result: Any = operations.reprocess_via_state_machine(
            state_machine_arn=args.via_state_machine, bucket=args.bucket, wait=args.wait, **the_range
        )
        failed = result.executions_failed
    else:
        with open_warehouse(args.warehouse) as warehouse:
            warehouse.init_schema()
            result = operations.reprocess(
                warehouse,
                source_dir=args.source_dir,
                bucket=args.bucket,
                min_dep_delay=args.min_dep_delay,
                **the_range,
            )
        failed = result.files_failed
    log.info("reprocess %s..%s: %s files, %s failed", args.date_from, args.date_to, result.files_found, failed)
    if result.error:
        log.error("%s: %s", result.error, result.message)
    emit(result.model_dump(mode="json"))
    return 1 if failed else 0


def cmd_history(args: argparse.Namespace) -> int:
    from airline_pipeline.ops import history

    with open_reader(args.warehouse) as warehouse:
        rows = history.load_history(warehouse, last=args.last)
    if args.json:
        emit(rows)
        return 0
    sys.stdout.write(history.format_history(rows) + "\n")
    statuses = [row["status"] for row in rows]
    emit(
        {
            "warehouse": describe(args.warehouse),
            "attempts": len(rows),
            "loaded": statuses.count(schema.LOADED),
            "failed": statuses.count(schema.FAILED),
            "rejected": statuses.count(status.REJECTED),
            "started": statuses.count(schema.STARTED),
        }
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from airline_pipeline.ops import delay_report as report

    report.prepare_out_dir(args.out)  # before the queries: a wrong --out fails in a second, not after them
    with open_reader(args.warehouse) as warehouse:
        numbers = report.build_report(
            warehouse,
            date_from=args.date_from,
            date_to=args.date_to,
            min_route_flights=args.min_route_flights,
            top_routes=args.top_routes,
        )
    written = report.write_report(numbers, args.out, source=describe(args.warehouse))
    log.info("wrote %s and %s", written["html"], written["csv"])
    emit(written)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from airline_pipeline.local.demo import run_demo

    summary = run_demo(
        flights=args.flights,
        airports=args.airports,
        flight_date=args.date,
        project=args.project_dir,
        port=args.port,
        keep_running=args.keep_running,
    )
    return _execution_outcome(summary, succeeded=summary["execution_status"] == "SUCCEEDED")


def cmd_verify(args: argparse.Namespace) -> int:
    from airline_pipeline.local.deployed import verify

    summary = verify(args.stack_name, flights=args.flights, flight_date=args.date, name=args.name, timeout=args.timeout)
    return _execution_outcome(
        summary, succeeded=summary["execution_status"] == "SUCCEEDED" and summary["rows_loaded"] > 0
    )


def _execution_outcome(summary: dict[str, Any], *, succeeded: bool) -> int:
    """``demo`` / ``verify``: print the execution's summary, with ``status``/``message`` when it failed."""
    if not succeeded:
        summary = {
            "status": status.FAILED,
            "message": f"the execution ended {summary['execution_status']} with {summary.get('rows_loaded')} rows: "
            f"{summary.get('error') or ''} {summary.get('cause') or ''}".strip(),
            **summary,
        }
    emit(summary)
    return 0 if succeeded else 1


# --- plumbing -----------------------------------------------------------------------------------


class _download_bar:
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


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value}") from None


def _whole(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in ``low..high`` (``1e23`` and ``2**64`` are refused, named)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not a whole number ({what})") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {what}")
        return number

    return parse


_DELAY = _whole(BIGINT_MIN, BIGINT_MAX, f"minutes between {BIGINT_MIN} and {BIGINT_MAX}, the delay column's BIGINT")
_COUNT = _whole(1, BIGINT_MAX, f"at least 1 and at most {BIGINT_MAX}")
#: Redshift's LIMIT takes at most 2147483647 (and so does this one, on DuckDB too).
_LIMIT = _whole(1, 2**31 - 1, "at least 1 and at most 2147483647, the largest LIMIT Redshift takes")
_PORT = _whole(1, 65535, "a TCP port, 1 to 65535")
_ROWS = _whole(0, BIGINT_MAX, f"a row count, 0 to {BIGINT_MAX}")
_DAYS = _whole(0, 36500, "a number of days, 0 to 36500")


def _share(value: str) -> float:
    """An argparse type: a fraction from 0 to 1 (``0.05``); ``5`` or ``5%`` is refused, named."""
    try:
        return check_share(float(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a fraction between 0 and 1 (0.05 means 5%)") from None


class _Parser(argparse.ArgumentParser):
    """argparse that, on a refused command line, also prints the JSON line (and exits 2 as usual)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        emit(failure("UsageError", f"{self.prog}: {message}"))
        raise SystemExit(USAGE_EXIT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="airline-pipeline",
        description="Load daily flights CSVs into the warehouse, locally or through the deployed SAM pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    parser.add_argument("--debug", action="store_true", help="debug logging, and tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_warehouse(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--warehouse",
            default=default_warehouse(),
            metavar="URI",
            help="duckdb:///abs/path.duckdb or redshift-data://... (default: $AIRLINE_PIPELINE_WAREHOUSE "
            "or ./warehouse.duckdb)",
        )
        return sub

    sub = with_warehouse(commands.add_parser("init-warehouse", help="create the schema and tables (safe to rerun)"))
    sub.set_defaults(func=cmd_init_warehouse)

    sub = with_warehouse(commands.add_parser("load-airports", help="upsert airports_dim from a CSV"))
    sub.add_argument("path", help="CSV with header airport_id,city,state,name")
    sub.set_defaults(func=cmd_load_airports)

    sub = with_warehouse(commands.add_parser("ingest", help="validate, join and load one flights file"))
    sub.add_argument("source", metavar="PATH_OR_S3_URI", help=".../date=YYYY-MM-DD/<name>.csv, local or s3://")
    sub.add_argument("--min-dep-delay", type=_DELAY, default=None, metavar="N", help="keep flights with DepDelay >= N")
    sub.add_argument("--batch-id", default=None, help="identifier for this attempt (default: <date>-<random>)")
    _add_policy_options(sub)
    sub.set_defaults(func=cmd_ingest)

    sub = with_warehouse(
        commands.add_parser(
            "reprocess",
            help="load every file of a date range again (replaces their rows), or restart their executions",
            description="Re-ingest every .csv under date=YYYY-MM-DD/ (or date=YYYYMMDD/) folders of the range. "
            "Exits 1 when a file fails or when the range matches no file.",
        )
    )
    sub.add_argument("--from", dest="date_from", type=_iso_date, required=True, metavar="YYYY-MM-DD", help="first day")
    sub.add_argument("--to", dest="date_to", type=_iso_date, required=True, metavar="YYYY-MM-DD", help="last day")
    where = sub.add_mutually_exclusive_group(required=True)
    where.add_argument("--bucket", metavar="B", help="files under s3://B/<prefix>date=.../")
    where.add_argument("--source", dest="source_dir", metavar="DIR", help="files under DIR/date=.../")
    sub.add_argument("--prefix", default=DATA_PREFIX, help=f"S3 key prefix (default: {DATA_PREFIX})")
    sub.add_argument("--min-dep-delay", type=_DELAY, default=None, metavar="N", help="keep flights with DepDelay >= N")
    sub.add_argument(
        "--via-state-machine",
        metavar="ARN",
        help="instead of loading here, start one execution per file with the EventBridge event (needs --bucket)",
    )
    sub.add_argument("--wait", action="store_true", help="with --via-state-machine: wait for the executions")
    sub.set_defaults(func=cmd_reprocess)

    sub = with_warehouse(commands.add_parser("history", help="the load attempts, newest first"))
    sub.add_argument("--last", type=_LIMIT, default=20, metavar="N", help="how many attempts (default: 20)")
    sub.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    sub.set_defaults(func=cmd_history)

    sub = with_warehouse(
        commands.add_parser("report", help="delay report (HTML with charts + CSV) by carrier, airport and route")
    )
    sub.add_argument("--out", required=True, metavar="DIR", help="where report.html and report.csv go")
    sub.add_argument("--from", dest="date_from", type=_iso_date, metavar="YYYY-MM-DD", help="first day (default: all)")
    sub.add_argument("--to", dest="date_to", type=_iso_date, metavar="YYYY-MM-DD", help="last day (default: all)")
    sub.add_argument(
        "--min-route-flights", type=_COUNT, default=10, metavar="N", help="routes need N arrived flights (default: 10)"
    )
    sub.add_argument("--top-routes", type=_LIMIT, default=15, metavar="N", help="worst routes listed (default: 15)")
    sub.set_defaults(func=cmd_report)

    _add_stack_commands(commands)
    for command in commands.choices.values():  # --debug after the command works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _add_policy_options(sub: argparse.ArgumentParser) -> None:
    """The load policy (``core.quality``): the same options the template's parameters set for the Glue job."""
    sub.add_argument(
        "--max-rejected-share",
        type=_share,
        default=None,
        metavar="X",
        help="a file whose rejected rows are more than this fraction of its rows (0.05 = 5%%) is over the "
        "threshold (default: no limit)",
    )
    sub.add_argument(
        "--min-rows", type=_ROWS, default=None, metavar="N", help="fewer valid rows than N is over the threshold"
    )
    sub.add_argument(
        "--on-threshold",
        choices=ON_THRESHOLD,
        default="fail",
        help="over a threshold: fail = load nothing, status REJECTED, exit 1 (the rejected rows are kept); "
        "warn = load it with a warning (default: fail)",
    )
    sub.add_argument(
        "--replace-scope",
        choices=REPLACE_SCOPES,
        default="file",
        help="what the load replaces: the rows of this file (default), or every row of its date (a corrected "
        "file under another name)",
    )
    sub.add_argument(
        "--late-after-days",
        type=_DAYS,
        default=DEFAULT_LATE_AFTER_DAYS,
        metavar="N",
        help="flag the file late when its date is more than N days before the load "
        f"(default: {DEFAULT_LATE_AFTER_DAYS})",
    )


def _add_stack_commands(commands: Any) -> None:
    """``demo`` and ``verify``: the deployed pipeline, on the emulator or anywhere."""
    sub = commands.add_parser(
        "demo",
        help="deploy template.yaml to the local AWS emulator and run one file through the whole pipeline",
        description="Starts MiniStack on 127.0.0.1 (or reuses one running on --port), sam build + sam deploy "
        "--config-env local, loads the airports into a local DuckDB warehouse, uploads the flights to "
        "daily-flights/date=<date>/ and follows the execution the upload starts. No AWS account needed.",
    )
    sub.add_argument("--flights", type=Path, help="flights CSV (default: a real day shipped with the package)")
    sub.add_argument("--airports", type=Path, help="airports CSV airport_id,city,state,name (default: shipped)")
    sub.add_argument("--date", type=_iso_date, metavar="YYYY-MM-DD", help="flight date (default: 2013-01-15)")
    sub.add_argument("--port", type=_PORT, default=4566, help="emulator port on 127.0.0.1 (default: 4566)")
    sub.add_argument("--project-dir", type=Path, help="the checkout with template.yaml (default: found from cwd)")
    sub.add_argument("--keep-running", action="store_true", help="leave the emulator running afterwards")
    sub.set_defaults(func=cmd_demo)

    sub = commands.add_parser(
        "verify",
        help="upload a day to a deployed stack and prove its rows reached the warehouse",
        description="For a stack deployed from template.yaml (AWS, or the local emulator through "
        "AWS_ENDPOINT_URL): uploads the flights to <DataPrefix>date=<date>/<name> in the stack's bucket, "
        "follows the execution the upload starts and counts the batch's rows in the stack's warehouse "
        "(DuckDB or Redshift). Exits 1 unless the execution SUCCEEDED and loaded rows. Each run loads the "
        "file under a name of its own (the same bytes under the same key would be skipped as a duplicate).",
    )
    sub.add_argument("--stack-name", required=True, help="the CloudFormation stack (sam deploy's stack_name)")
    sub.add_argument("--flights", type=Path, help="flights CSV (default: a real day shipped with the package)")
    sub.add_argument("--date", type=_iso_date, metavar="YYYY-MM-DD", help="flight date (default: 2013-01-15)")
    sub.add_argument("--name", help="object name (default: airline-pipeline-verify-<time>-<random>.csv)")
    sub.add_argument(
        "--timeout", type=float, default=1800, metavar="SECONDS", help="give up waiting after this (default: 1800)"
    )
    sub.set_defaults(func=cmd_verify)


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


if __name__ == "__main__":
    sys.exit(main())
