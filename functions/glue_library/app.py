"""GlueLibraryFunction: CloudFormation custom resource that publishes the Glue job's script and wheels.

``Data`` carries ``ScriptLocation`` and ``ExtraPyFiles`` for the job (template.yaml: JoinAndLoadJob).
Delete leaves the files: a job run that is still going may need them (the bucket outlives the stack).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airline_pipeline.steps.custom_resource import run_custom_resource
from airline_pipeline.steps.glue_library import publish
from airline_pipeline.steps.powertools import aws_client


def _publish(properties: Mapping[str, Any]) -> dict[str, str]:
    return publish(aws_client("s3"), properties["Bucket"], properties["Prefix"])


def handler(event: dict[str, Any], context: Any) -> None:
    properties = event.get("ResourceProperties", {})
    run_custom_resource(event, _publish, physical_id=f"{properties.get('Bucket')}/{properties.get('Prefix')}")
