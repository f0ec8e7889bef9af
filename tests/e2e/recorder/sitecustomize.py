"""Test-only (never deployed): record every AWS API call a stack component makes on the e2e emulator.

The e2e fixture starts the emulator with this folder on ``PYTHONPATH`` and ``AIRLINE_PIPELINE_CALL_LOG``
set, so every Python process it spawns loads this file at start: the Lambda workers (one per
function: ``AWS_LAMBDA_FUNCTION_NAME``) and the Glue job (``python3 .../join_and_load.py``). Any
other process - the emulator itself - is left alone. A process may also name its component itself
(``AIRLINE_PIPELINE_CALL_COMPONENT``, e.g. the Redshift warehouse's unit tests run as the Glue job),
and then only calls made from ``AIRLINE_PIPELINE_CALL_FROM``'s modules count: a test's own set-up
calls are not the component's.

Nothing is imported here: a Lambda worker puts its layers on ``sys.path`` only after start-up, and
the function must get the botocore of its layer. So the hook waits for ``botocore.handlers`` to be
imported (by the function, from wherever it imports it) and adds one handler to botocore's built-in
list, which every session then registers: ``before-parameter-build`` sees each call's service,
operation and parameters before anything is sent. Each call is one JSON line (tests/e2e/test_iam.py
reads them); a failing call is recorded too - it was attempted with the role's permissions.

The emulator has no Redshift. With ``AIRLINE_PIPELINE_FAKE_REDSHIFT`` set, Data API calls (recorded
first, like any call) are answered here instead of sent: every statement FINISHES, a ``count(*)``
reads 1 and any other read no rows. That is enough for the AWS-like stack's WarehouseBootstrap to
complete its deploy - so its calls are evaluated too - and proves nothing about Redshift itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
from typing import Any, Optional

_LOG = os.environ.get("AIRLINE_PIPELINE_CALL_LOG")
_KEPT = 400  # characters of a string parameter: ARNs and keys fit, bodies are dropped anyway


def _component() -> Optional[str]:
    named = os.environ.get("AIRLINE_PIPELINE_CALL_COMPONENT")
    if named:
        return named
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        return f"lambda:{function}"
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if script == "join_and_load.py":
        return "glue-job:join_and_load.py"
    return None


def _made_from(package: str) -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(package):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
    package = os.environ.get("AIRLINE_PIPELINE_CALL_FROM")
    if package and not _made_from(package):
        return
    service = model.service_model
    kept = {
        name: value[:_KEPT] if isinstance(value, str) else value
        for name, value in params.items()
        if isinstance(value, (str, int, bool)) or name in ("CopySource", "Delete")
    }
    line = {
        "component": _COMPONENT,
        "service": service.service_name,
        "prefix": service.signing_name,
        "operation": model.name,
        "params": kept,
    }
    with open(str(_LOG), "a", encoding="utf-8") as log:
        log.write(json.dumps(line, default=str) + "\n")


_STATEMENTS: dict[str, str] = {}


def _fake_redshift(params: dict[str, Any], model: Any, **_: Any) -> Optional[tuple[Any, dict[str, Any]]]:
    """A botocore ``before-call`` answer for ``redshift-data`` (None: send the call as usual)."""
    if model.service_model.service_name != "redshift-data":
        return None
    operation = model.name
    body_bytes = params.get("body") or b"{}"  # before-call sees the serialized request (JSON protocol)
    request = json.loads(body_bytes.decode() if isinstance(body_bytes, bytes) else body_bytes)
    if operation in ("ExecuteStatement", "BatchExecuteStatement"):
        statement_id = f"fake-{len(_STATEMENTS) + 1}"
        _STATEMENTS[statement_id] = str(request.get("Sql") or request.get("Sqls") or "")
        body: dict[str, Any] = {"Id": statement_id}
        # A call that keeps its session alive (or runs in one) gets the session's id back, as the Data API answers
        if "SessionKeepAliveSeconds" in request or "SessionId" in request:
            body["SessionId"] = request.get("SessionId") or f"00000000-0000-4000-8000-{len(_STATEMENTS):012d}"
    elif operation == "DescribeStatement":
        body = {"Id": request["Id"], "Status": "FINISHED", "HasResultSet": True}
    elif operation == "GetStatementResult":
        counting = "count(*)" in _STATEMENTS.get(request["Id"], "").lower()
        body = {
            "ColumnMetadata": [{"name": "n" if counting else "name"}],
            "Records": [[{"longValue": 1}]] if counting else [],
            "TotalNumRows": int(counting),
        }
    else:
        body = {}
    return (_Response(), {**body, "ResponseMetadata": {"HTTPStatusCode": 200}})


class _Response:
    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only stand-in for an HTTP response


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds module ``name`` as usual, then calls ``then(module)`` once the module has run."""

    def __init__(self, name: str, then: Any) -> None:
        self.name = name
        self.then = then

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        self.then(module)


def _add_handlers(handlers: Any) -> None:
    """Append :func:`_record` (and the fake Redshift) to ``botocore.handlers.BUILTIN_HANDLERS``."""
    handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _record))
    if os.environ.get("AIRLINE_PIPELINE_FAKE_REDSHIFT"):
        handlers.BUILTIN_HANDLERS.append(("before-call.redshift-data", _fake_redshift))


_COMPONENT = _component() if _LOG else None
if _COMPONENT:
    sys.meta_path.insert(0, _AfterImport("botocore.handlers", _add_handlers))

# The emulator's own process (no component): its Glue enforces MaxConcurrentRuns (glue_limit.py).
if _COMPONENT is None and os.environ.get("AIRLINE_PIPELINE_GLUE_MAX_CONCURRENT_RUNS"):
    import glue_limit

    sys.meta_path.insert(0, _AfterImport("ministack.services.glue", glue_limit.wrap))
