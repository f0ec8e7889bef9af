"""What one daily file costs on AWS: today's design next to the new one (airline_pipeline.ops.cost).

    python -m bench.cost [--redshift-rpu 4] [--poll-seconds 20] [--crawler-dpu 1]

Prints a Markdown table for a typical daily file and a large one. No AWS account is used: the
durations below are the assumptions the table rests on, each with where it comes from; the prices
and billing minimums are the ones ``airline_pipeline.ops.cost`` documents. The notification of
every execution prices that execution from what it recorded (the audit row's job capacity and load
duration, the Glue run's execution time), with the same model.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from airline_pipeline.core.cost import (
    LARGE_DPU,
    FileCost,
    FileRun,
    estimate,
    job_capacity,
    polls,
    success_transitions,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Workload:
    """One file and how long its steps take (seconds)."""

    name: str
    size_bytes: int
    rows: int
    #: Glue job run at 1 DPU: run start-up and installing the job's wheels (--extra-py-files) plus
    #: the load itself (bench/results/latest.md: ingest wall time, 2 cores).
    job_seconds_1_dpu: float
    #: The same at 1/16 DPU (a quarter vCPU): the CPU-bound part up to 4x slower.
    job_seconds_small: float
    #: A crawl of one new date= folder (billed at least 600 s in any case).
    crawler_seconds: float
    #: The load's transaction in Redshift (COPY from staged Parquet, DELETE, INSERT, audit row).
    redshift_seconds: float


#: Start-up and wheel installation of a Python shell run, assumed; not measurable without AWS.
START_UP_SECONDS = 45.0
WORKLOADS = (
    # A day of BTS on-time data: ~20,000 flights, ~0.5 MiB; ingest takes ~0.3 s.
    Workload("daily file (20,000 rows, 0.5 MiB)", MIB // 2, 20_000, START_UP_SECONDS + 1, START_UP_SECONDS * 2, 90, 5),
    # bench 10x: 3,367,760 rows, 68 MiB; ingest 4.19 s wall, ~6.7 s CPU on 2 cores.
    Workload(
        "large file (3.37M rows, 68 MiB)", 68 * MIB, 3_367_760, START_UP_SECONDS + 5, 2 * START_UP_SECONDS + 27, 120, 15
    ),
)

#: Lambda calls: validate, crawler start + one status check per poll, report, notify; the new
#: design replaces the crawler calls by one catalog check when the crawler is skipped.
LIGHT_CALL_SECONDS = 0.3
REPORT_CALL_SECONDS = 2.0


def today(work: Workload, *, rpu: int, poll_seconds: float, crawler_dpu: float = 1.0) -> FileRun:
    """The design on main: a crawl per file, a 1-DPU job."""
    crawler_polls = polls(work.crawler_seconds, poll_seconds)
    job_polls = polls(work.job_seconds_1_dpu, poll_seconds)
    calls = 1 + 1 + crawler_polls + 1 + 1
    return FileRun(
        job_dpu=LARGE_DPU,
        job_seconds=work.job_seconds_1_dpu,
        crawler_seconds=work.crawler_seconds,
        crawler_dpu=crawler_dpu,
        lambda_invocations=calls,
        lambda_seconds=(calls - 1) * LIGHT_CALL_SECONDS + REPORT_CALL_SECONDS,
        state_transitions=success_transitions(
            crawled=True, crawler_polls=crawler_polls, job_polls=job_polls, catalog_check=False
        ),
        redshift_seconds=work.redshift_seconds,
        redshift_base_rpu=rpu,
    )


def new(work: Workload, *, rpu: int, poll_seconds: float) -> FileRun:
    """This design on a day whose table exists and whose header is unchanged: no crawl, capacity by size."""
    dpu = job_capacity(work.size_bytes)
    seconds = work.job_seconds_small if dpu < LARGE_DPU else work.job_seconds_1_dpu
    calls = 1 + 1 + 1 + 1
    return FileRun(
        job_dpu=dpu,
        job_seconds=seconds,
        crawler_seconds=None,
        lambda_invocations=calls,
        lambda_seconds=(calls - 1) * LIGHT_CALL_SECONDS + REPORT_CALL_SECONDS,
        state_transitions=success_transitions(
            crawled=False, crawler_polls=0, job_polls=polls(seconds, poll_seconds), catalog_check=True
        ),
        redshift_seconds=work.redshift_seconds,
        redshift_base_rpu=rpu,
    )


ROWS = (
    ("Glue crawler", "crawler"),
    ("Glue Python shell job", "job"),
    ("Lambda", "lambda"),
    ("Step Functions", "step_functions"),
)


def table(rpu: int, poll_seconds: float, crawler_dpu: float = 1.0) -> str:
    """The Markdown comparison: per component, today and new, for each workload."""
    costs: list[tuple[str, FileCost, FileCost]] = [
        (
            w.name,
            estimate(today(w, rpu=rpu, poll_seconds=poll_seconds, crawler_dpu=crawler_dpu)),
            estimate(new(w, rpu=rpu, poll_seconds=poll_seconds)),
        )
        for w in WORKLOADS
    ]
    header = "| per file | " + " | ".join(f"{name}: today | {name}: new" for name, _, _ in costs) + " |"
    lines = [header, "|---|" + "--:|" * (2 * len(costs))]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for label, component in ROWS:
        cells = []
        for _, old, now in costs:
            cells += [f"${c.line(component).usd:.5f} ({c.line(component).detail})" for c in (old, now)]
        row(label, cells)
    row(
        "**pipeline total** (target <= $0.005)",
        [f"**${c.total - c.line('redshift').usd:.4f}**" for _, old, now in costs for c in (old, now)],
    )
    row(
        f"Redshift Serverless, marginal ({rpu} RPU busy for the load)",
        [f"${c.line('redshift').usd:.5f} ({c.line('redshift').detail})" for _, old, now in costs for c in (old, now)],
    )
    row(
        f"Redshift Serverless, wake-up (60 s minimum at {rpu} RPU)",
        [f"${c.redshift_wakeup_usd:.5f}" for _, old, now in costs for c in (old, now)],
    )
    row("total, Redshift marginal", [f"${c.total:.4f}" for _, old, now in costs for c in (old, now)])
    row("total, Redshift woken up", [f"${c.total_with_wakeup:.4f}" for _, old, now in costs for c in (old, now)])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redshift-rpu", type=int, default=4, help="the workgroup's base capacity (minimum 4)")
    parser.add_argument("--poll-seconds", type=float, default=20, help="the stack's PollSeconds")
    parser.add_argument(
        "--crawler-dpu",
        type=float,
        default=1.0,
        help="DPUs a crawl uses (its history's DPUHour tells; AWS's example: 2)",
    )
    args = parser.parse_args(argv)
    print(table(args.redshift_rpu, args.poll_seconds, args.crawler_dpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
