"""The command line's grammar: argparse with typed, bounded arguments (a refused line still prints its JSON line)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any, Callable, NoReturn

from airline_pipeline import __version__
from airline_pipeline.cli.commands import (
    cmd_demo,
    cmd_freshness,
    cmd_history,
    cmd_ingest,
    cmd_init_warehouse,
    cmd_load_airports,
    cmd_report,
    cmd_reprocess,
    cmd_verify,
)
from airline_pipeline.cli.output import BIGINT_MAX, BIGINT_MIN, USAGE_EXIT, default_warehouse, emit, failure
from airline_pipeline.core.defaults import DATA_PREFIX


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
        commands.add_parser(
            "freshness",
            help="which days of a range are LOADED, FAILED or MISSING (exit 1 unless every day is LOADED)",
        )
    )
    sub.add_argument("--from", dest="date_from", type=_iso_date, required=True, metavar="YYYY-MM-DD", help="first day")
    sub.add_argument("--to", dest="date_to", type=_iso_date, required=True, metavar="YYYY-MM-DD", help="last day")
    sub.add_argument("--json", action="store_true", help="print a JSON array, one entry per day, instead of a table")
    sub.set_defaults(func=cmd_freshness)

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
