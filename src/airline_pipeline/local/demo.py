"""The whole pipeline with no AWS account: ``template.yaml`` deployed to the local emulator.

``sam build`` + ``sam deploy --config-env local`` put the very template users deploy to AWS onto
MiniStack; a DuckDB file stands in for Redshift. The demo is: start the emulator, deploy, prepare
the warehouse, then what ``airline-pipeline verify`` does against any deployed stack
(:class:`airline_pipeline.local.deployed.DeployedPipeline`): a file uploaded to the data bucket travels
S3 -> EventBridge rule -> Step Functions -> Lambdas -> Glue crawler -> Glue job -> SNS, and is
followed to its rows. The e2e tests drive the same :class:`LocalPipeline`. Nothing differs from an
AWS deployment but the parameters (``--config-env local``), the endpoint, and one emulator quirk
put right after the deploy (:meth:`LocalPipeline._job_timeout_as_a_number`).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any, Optional

from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
from airline_pipeline.core import schema
from airline_pipeline.core.defaults import SAMPLE_DATE, SAMPLE_FLIGHTS, SHIPPED_AIRPORTS
from airline_pipeline.core.errors import ConfigError, PipelineError
from airline_pipeline.local.deployed import DeployedPipeline
from airline_pipeline.local.emulator import Emulator

log = logging.getLogger(__name__)

STACK = "airline-pipeline-local"
ARTIFACTS_BUCKET = "airline-pipeline-local-artifacts"

__all__ = ["DemoError", "LocalPipeline", "find_project", "run_demo"]


class DemoError(PipelineError):
    """The local deployment did not behave (not: the pipeline rejected the file)."""


def find_project(start: Optional[Path] = None) -> Path:
    """The checkout holding template.yaml: upwards from ``start`` (cwd), else from this package."""
    here = Path(__file__).resolve()
    candidates = [start or Path.cwd(), here.parent]
    for origin in candidates:
        for directory in (origin, *origin.parents):
            if (directory / "template.yaml").is_file() and (directory / "statemachine").is_dir():
                return directory
    raise ConfigError(
        "template.yaml not found: run the demo from the airline-pipeline checkout (or pass --project-dir)"
    )


class LocalPipeline(DeployedPipeline):
    """The stack deployed to an emulator, with a DuckDB warehouse on this machine."""

    def __init__(
        self, emulator: Emulator, project: Path, warehouse_path: Path, *, stack_name: str = STACK, **overrides: str
    ) -> None:
        super().__init__(stack_name, emulator.client)
        self.emulator = emulator
        self.project = project
        self.warehouse_path = warehouse_path
        #: Parameters on top of samconfig.toml's local ones (e.g. another engine, for IAM checks).
        self.overrides = overrides

    def deploy(self) -> None:
        """``sam build`` + ``sam deploy --config-env local``; then the stack's outputs."""
        started = time.monotonic()
        self.emulator.client("s3").create_bucket(Bucket=ARTIFACTS_BUCKET)
        self._sam("build", "--config-env", "local")
        parameters = {"WarehouseLocation": str(self.warehouse_path), **self.overrides}
        overrides = " ".join(
            [_local_parameter_overrides(self.project), *(f"{k}={shlex.quote(v)}" for k, v in parameters.items())]
        )
        self._sam(
            "deploy", "--config-env", "local", "--stack-name", self.stack_name, "--s3-bucket", ARTIFACTS_BUCKET,
            "--no-progressbar", "--parameter-overrides", overrides,
        )  # fmt: skip
        self.load_outputs()
        self._job_timeout_as_a_number()
        log.info("deployed %s to the emulator in %.1fs", self.stack_name, time.monotonic() - started)

    def _sam(self, *args: str) -> None:
        env = {**os.environ, **self.emulator.aws_env()}
        sam = str(self.emulator.venv_bin / "sam")
        log.info("$ sam %s", " ".join(shlex.quote(a) for a in args))
        done = subprocess.run([sam, *args], cwd=self.project, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DemoError(f"sam {args[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def _job_timeout_as_a_number(self) -> None:
        """MiniStack keeps a ``Timeout: !Ref <Number parameter>`` as the string CloudFormation passes,
        then compares it with an int when it runs a Python shell job, and fails the run. AWS takes
        the number; here the job is updated with it."""
        glue = self.emulator.client("glue")
        job = glue.get_job(JobName=self.outputs["GlueJobName"])["Job"]
        if isinstance(job.get("Timeout"), int):
            return
        update = {name: job[name] for name in ("Role", "Command", "DefaultArguments", "MaxRetries", "MaxCapacity")}
        update.update(GlueVersion=job["GlueVersion"], Timeout=int(job["Timeout"]))
        glue.update_job(JobName=job["Name"], JobUpdate=update)

    # --- the warehouse ------------------------------------------------------------------------

    def remove_warehouse(self) -> None:
        """Start from no warehouse: the deploy's WarehouseBootstrap creates it."""
        for path in (self.warehouse_path, Path(f"{self.warehouse_path}.wal")):
            path.unlink(missing_ok=True)

    def prepare_warehouse(self, airports: Optional[Path] = None) -> int:
        """The airports the pipeline joins with; returns how many the warehouse holds.

        The deploy's WarehouseBootstrap created the schema and loaded the shipped airports (as it does
        in AWS); only a different airports file is upserted here, on top.
        """
        warehouse = DuckDBWarehouse(str(self.warehouse_path))
        if airports is not None and airports.resolve() != SHIPPED_AIRPORTS.resolve():
            warehouse.load_airports(str(airports))
        rows = warehouse.query(f"SELECT count(*) AS n FROM {schema.AIRPORTS}")
        return int(rows[0]["n"])


def _local_parameter_overrides(project: Path) -> str:
    """samconfig.toml's ``local`` parameter_overrides: the one place the local settings live."""
    import tomllib

    config = tomllib.loads((project / "samconfig.toml").read_text())
    return str(config["local"]["deploy"]["parameters"]["parameter_overrides"])


def run_demo(
    *,
    flights: Optional[Path] = None,
    airports: Optional[Path] = None,
    flight_date: Optional[date] = None,
    project: Optional[Path] = None,
    port: int = 4566,
    keep_running: bool = False,
) -> dict[str, Any]:
    """Everything ``airline-pipeline demo`` does; returns the summary it prints."""
    project = project or find_project()
    flights = (flights or SAMPLE_FLIGHTS).resolve()
    airports = (airports or SHIPPED_AIRPORTS).resolve()
    flight_date = flight_date or SAMPLE_DATE
    for path in (flights, airports):
        if not path.is_file():
            raise ConfigError(f"no such file: {path}")
    workdir = project / ".local" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(port=port, workdir=workdir / "emulator")
    started = time.monotonic()
    started_here = emulator.start()
    try:
        pipeline = LocalPipeline(emulator=emulator, project=project, warehouse_path=workdir / "warehouse.duckdb")
        if started_here:  # a fresh emulator: a fresh warehouse, which the deploy's bootstrap prepares
            pipeline.remove_warehouse()
        pipeline.deploy()
        count = pipeline.prepare_warehouse(airports)
        log.info("warehouse %s ready with %s airports", pipeline.warehouse_path, f"{count:,}")
        result = pipeline.run_file(flights, flight_date)
    finally:
        if started_here and not keep_running:
            emulator.stop()
    log.info("execution %s in %.1fs (demo total %.1fs)", result.status, result.seconds, time.monotonic() - started)
    return {**pipeline.summary(result, flight_date), "demo_seconds": round(time.monotonic() - started, 1)}
