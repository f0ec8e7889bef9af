"""Glue Python shell entry point: load one flights file (the same code as ``airline-pipeline ingest``).

Job arguments: ``--source_uri`` (s3://bucket/key), ``--warehouse`` (URI), and optionally
``--batch_id`` (the Step Functions execution name), ``--min_dep_delay``, ``--data_prefix``,
``--job_capacity_dpu`` (the run's MaxCapacity, recorded in the audit row for the cost model).

In AWS they come through ``awsglue.utils.getResolvedOptions``. The local emulator has no
``awsglue`` and passes them as environment variables named without the dashes; ``--name value``
pairs on the command line work too (handy for running the script by hand).

Logs go to stdout (the job's output log). On failure the first line on stderr is
``<ErrorCode>: <message>`` - the emulator reports the first 2,000 characters of stderr as the
run's ErrorMessage, and AWS reports the exception raised right after it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Optional

ARGUMENTS = ("source_uri", "warehouse", "batch_id", "min_dep_delay", "data_prefix", "job_capacity_dpu")
REQUIRED = ("source_uri", "warehouse")


class LoadJobFailed(RuntimeError):
    """The file was not loaded; the message says why (also written to stderr)."""


def job_arguments(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The job's arguments from Glue, else from ``--name value`` pairs and environment variables."""
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        values = {name: environ[name] for name in ARGUMENTS if environ.get(name)}
        pairs = list(argv[1:])
        for flag, value in zip(pairs[::2], pairs[1::2]):
            if flag.startswith("--") and flag[2:] in ARGUMENTS:
                values[flag[2:]] = value
        return values
    present = [name for name in ARGUMENTS if f"--{name}" in argv]
    return dict(getResolvedOptions(list(argv), present))


def _min_dep_delay(value: Optional[str]) -> Optional[int]:
    return int(value) if value not in (None, "") else None


def _capacity(value: Optional[str]) -> Optional[float]:
    """The run's MaxCapacity as the state machine passed it (recorded in the audit row for the cost model)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None  # a record, not an input of the load: a bad value must not fail it


def main(argv: Sequence[str] = tuple(sys.argv), environ: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = job_arguments(argv, environ)
    missing = [name for name in REQUIRED if not args.get(name)]
    if missing:
        message = "missing job arguments: " + ", ".join(f"--{name}" for name in missing)
        sys.stderr.write(f"ConfigError: {message}\n")
        raise LoadJobFailed(message)

    from airline_pipeline.adapters.warehouse import open_warehouse
    from airline_pipeline.engine.ingest import ingest

    with open_warehouse(args["warehouse"]) as warehouse:
        summary = ingest(
            args["source_uri"],
            warehouse,
            min_dep_delay=_min_dep_delay(args.get("min_dep_delay")),
            batch_id=args.get("batch_id") or None,
            data_prefix=args.get("data_prefix", ""),
            job_capacity_dpu=_capacity(args.get("job_capacity_dpu")),
        )
    print(json.dumps(summary.as_json()), flush=True)
    if summary.status != "LOADED":
        sys.stderr.write(f"{summary.error}: {summary.message}\n")
        sys.stderr.flush()
        raise LoadJobFailed(f"{summary.error}: {summary.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
