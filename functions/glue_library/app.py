"""GlueLibraryFunction: CloudFormation custom resource that publishes the Glue job's script and wheels.

``Data`` carries ``ScriptLocation`` and ``ExtraPyFiles`` for the job (template.yaml: JoinAndLoadJob).

The response goes to CloudFormation's pre-signed ``ResponseURL`` with urllib, scheme as given:
crhelper and cfn-response assume HTTPS, which the local emulator's plain-HTTP URL is not.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from airline_pipeline.glue_library import publish
from airline_pipeline.steps.powertools import aws_client, logger


def handler(event: dict[str, Any], context: Any) -> None:
    properties = event.get("ResourceProperties", {})
    physical_id = event.get("PhysicalResourceId") or f"{properties.get('Bucket')}/{properties.get('Prefix')}"
    data: dict[str, str] = {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = publish(aws_client("s3"), properties["Bucket"], properties["Prefix"])
        # Delete: leave the files; a job run that is still going may need them (the bucket outlives the stack).
        status, reason = "SUCCESS", "ok"
    except Exception as exc:  # CloudFormation must always get an answer, or it waits for an hour
        logger.exception("publishing the Glue library failed")
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
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
