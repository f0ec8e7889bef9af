"""What the steps hand each other through the state machine, typed.

The execution's state (``$``) is the S3 event EventBridge delivered plus what each step added:
``$.validation`` (:class:`ValidationResult`), ``$.catalog`` (:class:`CatalogDecision`), ``$.crawler``
(:class:`CrawlerState`), ``$.jobRun`` (:class:`JobRunStatus`), ``$.report`` (:class:`BatchReport`) and,
on a failure, ``$.failure`` - built by the Pass states of ``statemachine/pipeline.asl.json`` in one of
three shapes (:class:`Failure`). The notifier formats these models instead of guessing at dictionaries.
"""

from __future__ import annotations

import json
from typing import NamedTuple, Optional

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airline_pipeline.steps.catalog import CatalogDecision
from airline_pipeline.steps.crawler import CrawlerState
from airline_pipeline.steps.validate import ValidationResult
from airline_pipeline.steps.verify_load import BatchReport

#: Locally every Lambda error arrives as this type; the error's own payload keeps the real one.
_GENERIC_ERRORS = frozenset({"States.TaskFailed", "Runtime.HandlerError"})


class CaughtError(BaseModel):
    """What a Catch puts at its ResultPath: ``{"Error", "Cause"}`` (Cause may be absent, or a Lambda
    error's JSON ``{"errorMessage", "errorType", ...}``)."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field("UnknownError", alias="Error")
    cause: Optional[str] = Field(None, alias="Cause")


class GlueJobRun(BaseModel):
    """The parts of ``glue:getJobRun``'s ``JobRun`` the notification uses (the cost line: its seconds and DPUs)."""

    id: str = Field("", alias="Id")
    error_message: Optional[str] = Field(None, alias="ErrorMessage")
    execution_time: Optional[float] = Field(None, alias="ExecutionTime")
    max_capacity: Optional[float] = Field(None, alias="MaxCapacity")

    def cause(self, error: str) -> str:
        """The job's own first stderr line ("<ErrorCode>: <message>"), else the traceback's last line."""
        lines = [line.strip() for line in (self.error_message or "").splitlines() if line.strip()]
        # An exception that escaped before the job wrote its line (a bad --warehouse, a missing module)
        # leaves only the traceback, whose last line names it.
        if lines and lines[0].startswith("Traceback (most recent call last)"):
            lines = lines[-1:]
        return lines[0] if lines else f"Glue job run {self.id} ended {error}"


class JobRunStatus(BaseModel):
    """``$.jobRun``: the GetLoadJobRun Task's ``{"state", "run"}``."""

    state: Optional[str] = None
    run: Optional[GlueJobRun] = None


class FailureDescription(NamedTuple):
    state: str
    error: str
    cause: str


class Failure(BaseModel):
    """``$.failure``, in one of the Pass states' three shapes: ``caught`` (a Catch), ``error`` + ``cause``
    (an invalid file, a failed crawl) or ``error`` + ``job_run`` (a failed Glue run)."""

    state: str = "unknown"
    caught: Optional[CaughtError] = None
    error: Optional[str] = None
    cause: Optional[str] = None
    job_run: Optional[GlueJobRun] = None

    def describe(self) -> FailureDescription:
        """The failed state, the error type and the cause as text a person reads."""
        error = self.error or (self.caught.error if self.caught else None) or "UnknownError"
        cause = self.cause or (self.caught.cause if self.caught else None)
        if not cause and self.job_run is not None:
            cause = self.job_run.cause(error)
        text, error = _lambda_error(cause or "", error)
        return FailureDescription(self.state or "unknown", error, text.strip())


def _lambda_error(cause: str, error: str) -> tuple[str, str]:
    """A Lambda error's JSON cause as its message; its own type replaces a generic ``error``."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause, error
    if not isinstance(parsed, dict) or "errorMessage" not in parsed:
        return cause, error
    error_type = str(parsed.get("errorType") or "")
    if error_type and error_type != "Runtime.HandlerError" and error in _GENERIC_ERRORS:
        error = error_type
    return str(parsed["errorMessage"]), error


class PipelineState(BaseModel):
    """``$`` as the notifier receives it. The event keys stay as sent; :meth:`event` parses them."""

    model_config = ConfigDict(extra="allow")

    validation: Optional[ValidationResult] = None
    catalog: Optional[CatalogDecision] = None
    crawler: Optional[CrawlerState] = None
    job_run: Optional[JobRunStatus] = Field(default=None, alias="jobRun")
    report: Optional[BatchReport] = None
    failure: Optional[Failure] = None

    def event(self) -> Optional[S3EventNotificationEventBridgeModel]:
        """The S3 ``Object Created`` event the execution started with (None when it is not one)."""
        try:
            return S3EventNotificationEventBridgeModel.model_validate(self.model_extra or {})
        except ValidationError:
            return None
