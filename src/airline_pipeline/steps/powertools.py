"""What every Lambda handler shares: Powertools Logger/Tracer/Metrics and input parsing.

Handlers in ``functions/`` are a decorator and one call into a step; this keeps them that way.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, TypeAdapter

from airline_pipeline.adapters import aws
from airline_pipeline.adapters.ledger import Ledger
from airline_pipeline.steps.settings import LedgerSettings

logger = Logger()
tracer = Tracer()
metrics = Metrics()

Model = TypeVar("Model", bound=BaseModel)
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
#: What a step returns: a pydantic model or a (pydantic) dataclass, such as ``BatchReport``.
Result = Any


def step_handler(
    model: type[Model], *, correlation_id_path: str
) -> Callable[[Callable[[Model, LambdaContext], Result]], Handler]:
    """Parse the event into ``model``, run the step, return its result as JSON-ready data.

    The correlation id (event id, execution name or batch id) goes on every log line; the event
    itself is never logged (it names buckets and keys, and the state can be large).
    """

    def decorate(step: Callable[[Model, LambdaContext], Result]) -> Handler:
        @logger.inject_lambda_context(correlation_id_path=correlation_id_path, log_event=False)
        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        @functools.wraps(step)
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            result = step(parse(event=event, model=model), context)
            return _as_json(result)

        return handler  # type: ignore[no-any-return]  # Powertools decorators are untyped

    return decorate


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service and container, created on first use (tests clear the cache)."""
    return aws.client(service)


def ledger(settings: LedgerSettings) -> Ledger:
    """The load ledger on the container's DynamoDB client (validate claims files, notify closes them)."""
    return Ledger(settings.ledger_table, dynamodb=aws_client("dynamodb"), claim_minutes=settings.claim_minutes)


def _as_json(result: Result) -> dict[str, Any]:
    """``model_dump(mode="json")`` for a model and a dataclass alike (one adapter per type, built once)."""
    kind = type(result)
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind].dump_python(result, mode="json")  # type: ignore[no-any-return]


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}
