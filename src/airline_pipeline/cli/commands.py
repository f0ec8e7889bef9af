"""The commands behind ``airline-pipeline <command>``: each parses nothing, calls the domain and emits its JSON line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from airline_pipeline.adapters.warehouse import describe, open_reader, open_warehouse
from airline_pipeline.cli.output import download_bar, emit, log
from airline_pipeline.core import schema, status
from airline_pipeline.core.errors import ConfigError, Interrupted
from airline_pipeline.core.quality import LoadPolicy


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

    try:
        with open_warehouse(args.warehouse) as warehouse:
            warehouse.init_schema_for_loads()
            with download_bar() as progress:
                summary = ingest(
                    args.source,
                    warehouse,
                    min_dep_delay=args.min_dep_delay,
                    batch_id=args.batch_id,
                    download_progress=progress,
                    policy=load_policy(args),
                )
    except Interrupted as stopped:  # Ctrl-C / SIGTERM: the run still ends, with FAIL, in the lineage
        if stopped.summary:
            _send_lineage(stopped.summary, args)
        raise
    _send_lineage(summary.as_json(), args)
    emit(summary.as_json())
    return 0 if summary.status == schema.LOADED else 1


def _send_lineage(summary: dict[str, Any], args: argparse.Namespace) -> None:
    """The load's OpenLineage events, only when configured (imported after the load: not on its clock)."""
    from airline_pipeline.adapters import lineage

    lineage.emit_load(summary, warehouse_uri=describe(args.warehouse))


def load_policy(args: argparse.Namespace) -> LoadPolicy:
    """The policy ingest's options set: one option per :class:`LoadPolicy` field, named alike."""
    return LoadPolicy(**{option.name: getattr(args, option.name) for option in dataclasses.fields(LoadPolicy)})


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


def cmd_freshness(args: argparse.Namespace) -> int:
    from airline_pipeline.ops import freshness

    with open_reader(args.warehouse) as reader:
        days = freshness.freshness(reader, date_from=args.date_from, date_to=args.date_to)
    stale = freshness.not_fresh(days)
    if stale:
        log.error("%s", freshness.describe_stale(stale))
    if args.json:
        emit([day.as_json() for day in days])
    else:
        sys.stdout.write(freshness.format_table(days) + "\n")
        emit(
            freshness.summary(days, warehouse=describe(args.warehouse), date_from=args.date_from, date_to=args.date_to)
        )
    return 1 if stale else 0


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
