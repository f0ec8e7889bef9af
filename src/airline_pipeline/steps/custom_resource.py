"""CloudFormation custom resources: run the work on Create/Update, nothing on Delete, always answer.

The response goes to CloudFormation's pre-signed ``ResponseURL`` with urllib, scheme as given:
crhelper and cfn-response assume HTTPS, which the local emulator's plain-HTTP URL is not. An
exception becomes a FAILED response with its message (CloudFormation waits an hour for an answer
that never comes), never a traceback to the caller.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from typing import Any, Callable

from airline_pipeline.steps.powertools import logger

Work = Callable[[Mapping[str, Any]], dict[str, str]]


def run_custom_resource(event: Mapping[str, Any], work: Work, *, physical_id: str) -> dict[str, Any]:
    """Run ``work(ResourceProperties)`` for Create and Update (Delete keeps everything) and answer; returns the answer.

    ``physical_id`` is used on Create; later requests keep the id CloudFormation sends, so an update
    never looks like a replacement (which would be followed by a Delete of the old id).
    """
    data: dict[str, str] = {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = work(event.get("ResourceProperties", {}))
        status, reason = "SUCCESS", "ok"
    except Exception as exc:
        logger.exception("custom resource %s failed", event.get("LogicalResourceId"))
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": event.get("PhysicalResourceId") or physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's own pre-signed URL
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        logger.info("custom resource %s: %s (HTTP %s)", event["RequestType"], status, response.status)
    return body
