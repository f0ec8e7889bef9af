"""The scale model of docs/scale.md: files a day (or a backfill) -> Glue DPU-s, Redshift time, drain, cost.

    python -m bench.scale [--max-concurrent-loads 3] [--redshift-rpu 4] [--poll-seconds 20]

One file is priced by ``bench.cost.new`` and ``airline_pipeline.core.cost`` (the model the success
notification uses): a daily file loads at 0.0625 DPU and skips the crawler, which runs only when the
catalog would change. The admission queue is simulated, not estimated: files land, the starter admits
each while fewer than N executions run and otherwise defers it with the starter's own backoff
(:func:`airline_pipeline.core.admission.backoff_seconds`), so the drain time and the receives a
waiting file costs include the idle slot time of the backoff. Durations are assumptions (no AWS
account here), each named below; docs/scale.md holds the printed table and
tests/unit/test_scale_model.py keeps the two equal.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
from dataclasses import dataclass

from airline_pipeline.core import cost
from airline_pipeline.core.admission import backoff_seconds
from bench.cost import WORKLOADS, new

DAY_SECONDS = 86_400.0
#: A daily file (20,000 rows, 0.5 MiB): bench/cost.py's first workload.
DAILY_FILE = WORKLOADS[0]
#: Wall time of an execution outside the job's wait loop: ValidateFile, CheckCatalog, the routes, Report,
#: NotifySuccess (~1 s each as Lambda calls, plus transitions). Assumption.
STEPS_SECONDS = 8.0
#: The Redshift load's two transactions (bench/cost.py: 5 s in all): COPY into session temp tables,
#: then LOCK + DELETE + INSERT. Only the second holds the lock. Assumption.
STAGE_SECONDS = 3.0
APPLY_SECONDS = DAILY_FILE.redshift_seconds - STAGE_SECONDS
#: The admission starter per received message: a ListExecutions, a ledger read, a StartExecution or a
#: ChangeMessageVisibility (template.yaml: 512 MB). Assumption.
STARTER_SECONDS = 0.3
STARTER_MEMORY_GB = 0.5
#: Amazon SQS pricing: standard queue, $0.40 per million requests (64 KB each).
SQS_REQUEST_USD = 0.40 / 1_000_000
#: Requests per receive of a message: its ReceiveMessage and its ChangeMessageVisibility or DeleteMessage.
SQS_REQUESTS_PER_RECEIVE = 2
#: The template's defaults: AdmissionBackoffSeconds, AdmissionBackoffMaxSeconds, the queue's maxReceiveCount.
BACKOFF_SECONDS = 30
BACKOFF_MAX_SECONDS = 900
MAX_RECEIVES = 1000
#: SQS's longest message retention (the queue's MessageRetentionPeriod): how long a burst may wait in all.
RETENTION_SECONDS = 14 * DAY_SECONDS
#: One crawl (1 DPU, its 10-minute minimum), when the catalog has no table yet or a header changes.
CRAWL = cost.FileRun(job_dpu=cost.SMALL_DPU, job_seconds=0, crawler_seconds=0)


@dataclass(frozen=True)
class Scenario:
    name: str
    files: int
    #: Over how long the files land (at random times): a day for daily arrivals, 0 for a burst or a backfill.
    arrival_seconds: float
    crawls: int = 0


SCENARIOS = (
    Scenario("1 file/day", 1, DAY_SECONDS),
    Scenario("100 files/day, spread over the day", 100, DAY_SECONDS),
    Scenario("100 files at once (a burst)", 100, 0),
    Scenario("10,000 files/day", 10_000, DAY_SECONDS),
    Scenario("10-year backfill (3,650 files, `reprocess --via-state-machine`, new stack)", 3_650, 0, crawls=1),
)


@dataclass(frozen=True)
class Drain:
    """What the admission simulation saw (seconds from the first file landing)."""

    #: When the last execution ended.
    last_end: float
    #: Files not yet admitted at ``horizon`` (0: every file was admitted).
    backlog: int
    #: Every time the starter received a message (first delivery included).
    receives: int
    most_receives: int
    #: Mean time from landing to the end of its execution.
    mean_latency: float


def simulate(
    arrivals: list[float], *, slots: int, execution: float, base: int, cap: int, horizon: float, seed: int = 13
) -> Drain:
    """The admission queue and N execution slots, message by message, until ``horizon`` (no overshoot, no
    starter latency: the real starter adds both, see docs/scale.md)."""
    rng = random.Random(seed)
    queue = [(at, number, 1) for number, at in enumerate(arrivals)]
    heapq.heapify(queue)
    running: list[float] = []
    ends: list[float | None] = [None] * len(arrivals)
    receives = most = 0
    backlog = 0
    while queue:
        now, number, count = heapq.heappop(queue)
        if now > horizon:
            backlog = len(queue) + 1
            break
        while running and running[0] <= now:
            heapq.heappop(running)
        receives, most = receives + 1, max(most, count)
        if len(running) < slots:
            ends[number] = now + execution
            heapq.heappush(running, now + execution)
        else:
            wait = backoff_seconds(count, base=base, cap=cap, rand=rng.random)
            heapq.heappush(queue, (now + wait, number, count + 1))
    started = [(end, at) for end, at in zip(ends, arrivals) if end is not None]
    return Drain(
        last_end=max((end for end, _ in started), default=0.0),
        backlog=backlog,
        receives=receives,
        most_receives=most,
        mean_latency=sum(end - at for end, at in started) / max(1, len(started)),
    )


def arrivals(scenario: Scenario, seed: int = 13) -> list[float]:
    rng = random.Random(seed)
    return sorted(rng.uniform(0, scenario.arrival_seconds) for _ in range(scenario.files))


@dataclass(frozen=True)
class Row:
    """One scenario's numbers (seconds and dollars)."""

    scenario: Scenario
    drain: Drain
    dpu_seconds: float
    redshift_seconds: float
    locked_seconds: float
    glue_usd: float
    crawler_usd: float
    steps_usd: float
    admission_usd: float
    redshift_usd: float

    @property
    def total_usd(self) -> float:
        return self.glue_usd + self.crawler_usd + self.steps_usd + self.admission_usd + self.redshift_usd


def execution_seconds(poll_seconds: float) -> float:
    """An execution's wall time in AWS: the steps plus the job, seen at the wait loop's next poll."""
    return STEPS_SECONDS + cost.polls(DAILY_FILE.job_seconds_small, poll_seconds) * poll_seconds


def redshift_usd(files: int, window: float, rpu: int) -> float:
    """Redshift Serverless, billed per second while busy, at least 60 s per active period (upper bound).

    Loads more than 60 s apart each wake the workgroup (60 s minimum each); closer together, the
    workgroup is counted busy for the whole window they span - the billing pages do not say how
    short idle gaps are billed, so this is the ceiling.
    """
    per_second = rpu * cost.REDSHIFT_RPU_HOUR_USD / 3600
    if files == 1 or window / files >= cost.REDSHIFT_MIN_SECONDS:
        return files * max(DAILY_FILE.redshift_seconds, cost.REDSHIFT_MIN_SECONDS) * per_second
    return max(window, files * DAILY_FILE.redshift_seconds) * per_second


def model(scenario: Scenario, *, slots: int, rpu: int, poll_seconds: float) -> Row:
    """The scenario at ``slots`` concurrent loads (MaxConcurrentLoads), for a day or until drained."""
    run = new(DAILY_FILE, rpu=rpu, poll_seconds=poll_seconds)
    priced = cost.estimate(run)
    drain = simulate(
        arrivals(scenario),
        slots=slots,
        execution=execution_seconds(poll_seconds),
        base=BACKOFF_SECONDS,
        cap=BACKOFF_MAX_SECONDS,
        # a day's files must be admitted within the day; a burst within the queue's retention
        horizon=scenario.arrival_seconds or RETENTION_SECONDS,
    )
    files = scenario.files
    per_receive = (
        SQS_REQUESTS_PER_RECEIVE * SQS_REQUEST_USD
        + cost.LAMBDA_REQUEST_USD
        + STARTER_SECONDS * STARTER_MEMORY_GB * cost.LAMBDA_GB_SECOND_USD
    )
    return Row(
        scenario=scenario,
        drain=drain,
        dpu_seconds=files * run.job_dpu * max(math.ceil(run.job_seconds), cost.PYTHON_SHELL_MIN_SECONDS),
        redshift_seconds=files * DAILY_FILE.redshift_seconds,
        locked_seconds=files * APPLY_SECONDS,
        glue_usd=files * priced.line("job").usd,
        crawler_usd=scenario.crawls * cost.estimate(CRAWL).line("crawler").usd,
        steps_usd=files * (priced.line("step_functions").usd + priced.line("lambda").usd),
        admission_usd=drain.receives * per_receive,
        redshift_usd=redshift_usd(files, max(scenario.arrival_seconds, drain.last_end), rpu),
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _usd(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"


def _drain(row: Row, slots: int) -> str:
    drain = row.drain
    if drain.backlog:
        return f"**does not keep up** at N = {slots}: {drain.backlog:,} files still waiting at the end of the day"
    if row.scenario.arrival_seconds:
        return f"each ~{_duration(drain.mean_latency)} after it lands"
    waits = f"a file received up to {drain.most_receives}x of {MAX_RECEIVES}"
    return f"**{_duration(drain.last_end)}** (N = {slots}; {waits})"


def table(*, slots: int, rpu: int, poll_seconds: float) -> str:
    """The Markdown table of docs/scale.md."""
    lines = [
        "| scenario | Glue job DPU-s | crawls | Redshift load time (of it locked) | wall time to drain | "
        f"cost: Glue job + crawler + Step Functions & Lambda + admission (SQS, starter) + Redshift ({rpu} RPU) |",
        "|---|--:|--:|--:|---|--:|",
    ]
    for scenario in SCENARIOS:
        row = model(scenario, slots=slots, rpu=rpu, poll_seconds=poll_seconds)
        parts = (row.glue_usd, row.crawler_usd, row.steps_usd, row.admission_usd, row.redshift_usd)
        lines.append(
            f"| {scenario.name} | {row.dpu_seconds:,.0f} | {scenario.crawls} | "
            f"{_duration(row.redshift_seconds)} ({_duration(row.locked_seconds)}) | {_drain(row, slots)} | "
            + " + ".join(_usd(usd) for usd in parts)
            + f" = **{_usd(row.total_usd)}** |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-concurrent-loads", type=int, default=3, help="the stack's MaxConcurrentLoads (N)")
    parser.add_argument("--redshift-rpu", type=int, default=4, help="the workgroup's base capacity (minimum 4)")
    parser.add_argument("--poll-seconds", type=float, default=20, help="the stack's PollSeconds")
    args = parser.parse_args(argv)
    print(table(slots=args.max_concurrent_loads, rpu=args.redshift_rpu, poll_seconds=args.poll_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
