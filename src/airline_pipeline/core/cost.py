"""What one daily file costs on AWS: list prices times what the pipeline used.

Pure arithmetic (no AWS calls, Python 3.9): the notify step prices the execution it reports on,
``bench/cost.py`` prices today's design against the new one. Prices are us-east-1 on-demand list
prices, without free tiers (a month's free tier would hide the per-file cost we want to compare):

- AWS Glue pricing (https://aws.amazon.com/glue/pricing/): $0.44 per DPU-hour for ETL jobs and
  crawlers, billed per second; a crawler run has a 10-minute minimum; a Python shell job runs with
  0.0625 or 1 DPU and has a 1-minute minimum.
- StartJobRun (https://docs.aws.amazon.com/glue/latest/webapi/API_StartJobRun.html), MaxCapacity:
  "When you specify a Python shell job (JobCommand.Name="pythonshell"), you can allocate either
  0.0625 or 1 DPU"; the run's value is used for that run.
- AWS Lambda pricing (https://aws.amazon.com/lambda/pricing/): $0.20 per 1M requests and
  $0.0000166667 per GB-second (x86), duration rounded up to 1 ms.
- AWS Step Functions pricing (https://aws.amazon.com/step-functions/pricing/): Standard workflows,
  $0.025 per 1,000 state transitions, retries included.
- Billing for Amazon Redshift Serverless
  (https://docs.aws.amazon.com/redshift/latest/mgmt/serverless-billing.html): RPU-hours billed per
  second while queries run, nothing while idle, 60-second minimum; $0.375 per RPU-hour (the 4-RPU
  base capacity "beginning at $1.50 per hour", AWS Big Data Blog "Amazon Redshift Serverless at 4
  RPUs"). A load into a workgroup that is running anyway costs its own seconds (marginal); a load
  that wakes an idle workgroup pays at least 60 s of the base capacity (wake-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

GLUE_DPU_HOUR_USD = 0.44
CRAWLER_MIN_SECONDS = 600.0
PYTHON_SHELL_MIN_SECONDS = 60.0
#: The two capacities a Python shell job can run with: 1/16 DPU (1 GB memory) or 1 DPU (16 GB, 4 vCPU).
SMALL_DPU = 0.0625
LARGE_DPU = 1.0
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_GB_SECOND_USD = 0.0000166667
STATE_TRANSITION_USD = 0.025 / 1000
REDSHIFT_RPU_HOUR_USD = 0.375
REDSHIFT_MIN_SECONDS = 60.0

#: Files up to this size load at 1/16 DPU (1 GB of memory, a quarter vCPU). The benchmark
#: (bench/results/latest.md) measured ingest's peak RSS at 141 MiB for a 7 MiB file, 236 MiB for
#: 68 MiB and 285 MiB for 678 MiB (DuckDB's memory_limit of 192 MB caps the working set and spills
#: the rest to /tmp). At 256 MiB a file is ~12.7M flights - years of daily files - and its load
#: stays under 300 MiB, less than a third of the 1 GB; larger files get 1 DPU for its 4 vCPUs, so
#: that a file of several GB still finishes well inside the job's timeout.
SMALL_FILE_MAX_BYTES = 256 * 1024 * 1024


def job_capacity(size_bytes: int) -> float:
    """The Glue job's DPUs for a file of ``size_bytes``: 1/16 DPU for a daily file, 1 DPU for a huge one."""
    return SMALL_DPU if size_bytes <= SMALL_FILE_MAX_BYTES else LARGE_DPU


@dataclass(frozen=True)
class FileRun:
    """What one execution used: the inputs of the cost model (durations in seconds)."""

    job_dpu: float
    job_seconds: float
    #: How long the crawler ran; None when this execution did not run it.
    crawler_seconds: Optional[float] = None
    #: DPUs a crawl uses: not exposed before the crawl (its history's DPUHour says afterwards).
    crawler_dpu: float = 1.0
    lambda_invocations: int = 4
    #: Billed duration of all the invocations together.
    lambda_seconds: float = 4.0
    lambda_memory_mb: int = 512
    state_transitions: int = 20
    #: Seconds the load kept Redshift Serverless busy (0: no Redshift, e.g. the local DuckDB warehouse).
    redshift_seconds: float = 0.0
    redshift_base_rpu: int = 8


@dataclass(frozen=True)
class CostLine:
    component: str
    usd: float
    detail: str


@dataclass(frozen=True)
class FileCost:
    """The cost of one file, line by line; Redshift counted at its marginal cost."""

    lines: tuple[CostLine, ...]
    #: What the Redshift line becomes when the load has to wake an idle workgroup (60 s minimum).
    redshift_wakeup_usd: float = 0.0

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def total_with_wakeup(self) -> float:
        marginal = sum(line.usd for line in self.lines if line.component == "redshift")
        return self.total - marginal + self.redshift_wakeup_usd

    def line(self, component: str) -> CostLine:
        return next(line for line in self.lines if line.component == component)

    def summary(self) -> str:
        """One line for the notification: the total and what it is made of."""
        parts = [line.detail for line in self.lines if line.usd > 0 or line.component in ("job", "crawler")]
        text = f"Estimated AWS cost: ${self.total:.4f} ({', '.join(parts)})"
        if self.redshift_wakeup_usd:
            text += f"; ${self.total_with_wakeup:.4f} if the load woke Redshift Serverless"
        return text


def _glue_usd(dpu: float, seconds: float, minimum: float) -> float:
    return dpu * max(seconds, minimum) / 3600 * GLUE_DPU_HOUR_USD


def _seconds(value: float) -> str:
    return f"{value:.0f} s"


def estimate(run: FileRun) -> FileCost:
    """Price ``run``: every line rounds billed durations the way the price list does."""
    billed_job = max(math.ceil(run.job_seconds), PYTHON_SHELL_MIN_SECONDS)
    lines = [
        CostLine(
            "job",
            _glue_usd(run.job_dpu, math.ceil(run.job_seconds), PYTHON_SHELL_MIN_SECONDS),
            f"job {run.job_dpu:g} DPU x {_seconds(billed_job)}",
        )
    ]
    if run.crawler_seconds is None:
        lines.append(CostLine("crawler", 0.0, "crawler skipped"))
    else:
        billed = max(math.ceil(run.crawler_seconds), CRAWLER_MIN_SECONDS)
        lines.append(
            CostLine(
                "crawler",
                _glue_usd(run.crawler_dpu, billed, CRAWLER_MIN_SECONDS),
                f"crawler {run.crawler_dpu:g} DPU x {_seconds(billed)}",
            )
        )
    gb_seconds = run.lambda_memory_mb / 1024 * run.lambda_seconds
    lines.append(
        CostLine(
            "lambda",
            run.lambda_invocations * LAMBDA_REQUEST_USD + gb_seconds * LAMBDA_GB_SECOND_USD,
            f"{run.lambda_invocations} Lambda calls",
        )
    )
    lines.append(
        CostLine(
            "step_functions",
            run.state_transitions * STATE_TRANSITION_USD,
            f"{run.state_transitions} state transitions",
        )
    )
    rpu_hour_usd = run.redshift_base_rpu * REDSHIFT_RPU_HOUR_USD / 3600
    lines.append(
        CostLine(
            "redshift",
            run.redshift_seconds * rpu_hour_usd,
            f"Redshift {run.redshift_base_rpu} RPU x {_seconds(run.redshift_seconds)}",
        )
    )
    wakeup = max(run.redshift_seconds, REDSHIFT_MIN_SECONDS) * rpu_hour_usd if run.redshift_seconds else 0.0
    return FileCost(lines=tuple(lines), redshift_wakeup_usd=wakeup)


def success_transitions(*, crawled: bool, crawler_polls: int, job_polls: int, catalog_check: bool) -> int:
    """State transitions of a successful execution of statemachine/pipeline.asl.json.

    Every state entered is one transition: ValidateFile, RouteFile, [CheckCatalog, CatalogRoute],
    [StartCrawler, then Wait + GetCrawlerState + CrawlerFinished per poll], StartLoadJob, then
    Wait + GetLoadJobRun + LoadJobFinished per poll, Report, NotifySuccess, Loaded.
    """
    states = 2 + (2 if catalog_check else 0)
    if crawled:
        states += 1 + 3 * max(crawler_polls, 1)
    return states + 1 + 3 * max(job_polls, 1) + 3


def polls(seconds: float, poll_seconds: float) -> int:
    """Status checks of a wait loop that checks every ``poll_seconds`` until ``seconds`` have passed."""
    return max(1, math.ceil(seconds / poll_seconds))


#: Billed seconds assumed per Lambda call when pricing an execution (the state does not carry them):
#: the steps are a range GET, a few Glue or DynamoDB calls, or one SNS publish.
ASSUMED_LAMBDA_SECONDS = 1.0
