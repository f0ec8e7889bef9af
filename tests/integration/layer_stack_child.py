"""Runs ONE Lambda handler the way the python3.11 runtime would, in a fresh ``python -I -S``.

Not a test module: tests/integration/test_packaging.py starts it with
``function_dir opt_python runtime_dir spec.json``. ``sys.path`` becomes what Lambda gives a function
(``/var/task``, ``/opt/python``, the standard library, the runtime's boto3) and nothing else.

The spec names the event, and the Redshift Data API calls the handler must make, in order: each
``{"operation", "params", "response"}``. Hooks registered on every ``redshift-data`` client the code
creates check each call's parameters (``before-parameter-build``) and answer it (``before-call``,
after botocore validated the request) - the two hooks botocore's own Stubber uses. A call that is not the next
expected one, or with other parameters, fails the run. The last stdout line is JSON: the handler's
result or its error, the calls left over, and which of our own packages came from where.
"""

from __future__ import annotations

import json
import os
import sys

function_dir, opt_python, runtime_dir, spec_path = sys.argv[1:5]
stdlib = [p for p in sys.path if p.startswith(sys.base_prefix)]
sys.path[:] = [function_dir, opt_python, *stdlib, runtime_dir]

with open(spec_path, encoding="utf-8") as handle:
    spec = json.load(handle)
expected = list(spec["calls"])
unexpected: list[str] = []

import boto3.session  # noqa: E402 - only after sys.path is Lambda's
from botocore.awsrequest import AWSResponse  # noqa: E402

_client = boto3.session.Session.client


def check(model, params, **_):  # type: ignore[no-untyped-def]
    """Fail a call that is not the next expected one, or has other parameters."""
    call = expected[0] if expected else None
    if call is None or call["operation"] != model.name or any(params.get(k) != v for k, v in call["params"].items()):
        unexpected.append(f"{model.name} {params} (expected {call})")
        raise AssertionError(f"Data API call {model.name} {params} is not the expected {call}")


def serve(model, **_):  # type: ignore[no-untyped-def]
    """The next expected call's response."""
    call = expected.pop(0)
    return (AWSResponse(None, 200, {}, None), call["response"])


def client(self, service_name, *args, **kwargs):  # type: ignore[no-untyped-def]
    made = _client(self, service_name, *args, **kwargs)
    if service_name == "redshift-data":
        made.meta.events.register_first("before-parameter-build.redshift-data.*", check)
        made.meta.events.register_first("before-call.redshift-data.*", serve)
    return made


boto3.session.Session.client = client  # type: ignore[method-assign]
boto3.DEFAULT_SESSION = None


class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "2026/11/23/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


import app  # noqa: E402

outcome: dict[str, object] = {}
try:
    outcome["result"] = app.handler(spec["event"], Context())
except Exception as exc:  # reported to the test, which shows it
    outcome["error"] = f"{type(exc).__name__}: {exc}"
origins = {}
for name in ("airline_pipeline", "pydantic", "typing_extensions", "awswrangler", "pandas", "boto3", "botocore"):
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None):
        origins[name] = os.path.realpath(module.__file__)
outcome.update(
    left_over=[call["operation"] for call in expected],
    unexpected=unexpected,
    origins=origins,
    duckdb_imported="duckdb" in sys.modules,
    typing_extensions=getattr(sys.modules.get("typing_extensions"), "__file__", None),
)
print(json.dumps(outcome, default=str))
