"""Glue Python shell entry point: load one flights file (the same code as ``airline-pipeline ingest``).

Job arguments: ``--source_uri`` (s3://bucket/key), ``--warehouse`` (URI), and optionally
``--batch_id`` (the Step Functions execution name), ``--min_dep_delay``, ``--data_prefix``,
``--job_capacity_dpu`` (the run's MaxCapacity, recorded in the audit row for the cost model) and the
load policy (``airline_pipeline.core.quality``): ``--max_rejected_share``, ``--min_rows``,
``--on_threshold``, ``--replace_scope``, ``--late_after_days`` (an empty value: the default).

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
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

if TYPE_CHECKING:
    from airline_pipeline.core.quality import LoadPolicy

T = TypeVar("T")
POLICY_ARGUMENTS = ("max_rejected_share", "min_rows", "on_threshold", "replace_scope", "late_after_days")
ARGUMENTS = (
    "source_uri",
    "warehouse",
    "batch_id",
    "min_dep_delay",
    "data_prefix",
    "job_capacity_dpu",
    *POLICY_ARGUMENTS,
)
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


def _optional(value: Optional[str], kind: Callable[[str], T]) -> Optional[T]:
    """An optional job argument: Glue passes an unset template parameter as an empty string."""
    return kind(value) if value not in (None, "") else None


def load_policy(args: Mapping[str, str]) -> LoadPolicy:
    """The job's load policy; a value that is not one (``5%``, ``fial``) fails the job, named."""
    from airline_pipeline.core.quality import DEFAULT_LATE_AFTER_DAYS, LoadPolicy

    try:
        late = _optional(args.get("late_after_days"), int)
        return LoadPolicy(
            max_rejected_share=_optional(args.get("max_rejected_share"), float),
            min_rows=_optional(args.get("min_rows"), int),
            on_threshold=args.get("on_threshold") or "fail",
            replace_scope=args.get("replace_scope") or "file",
            late_after_days=DEFAULT_LATE_AFTER_DAYS if late is None else late,
        )
    except ValueError as exc:
        given = {name: args[name] for name in POLICY_ARGUMENTS if name in args}
        message = f"load policy arguments {given}: {exc}"
        sys.stderr.write(f"ConfigError: {message}\n")
        raise LoadJobFailed(message) from None


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

    policy = load_policy(args)

    with open_warehouse(args["warehouse"]) as warehouse:
        summary = ingest(
            args["source_uri"],
            warehouse,
            min_dep_delay=_optional(args.get("min_dep_delay"), int),
            batch_id=args.get("batch_id") or None,
            data_prefix=args.get("data_prefix", ""),
            job_capacity_dpu=_capacity(args.get("job_capacity_dpu")),
            policy=policy,
        )
    print(json.dumps(summary.as_json()), flush=True)
    if summary.status != "LOADED":
        sys.stderr.write(f"{summary.error}: {summary.message}\n")
        sys.stderr.flush()
        raise LoadJobFailed(f"{summary.error}: {summary.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
