"""GlueLibraryFunction: CloudFormation custom resource that publishes the layer's wheel for the Glue job.

Delete leaves the wheel: a job run that is still going may need it (objects are tiny).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airline_pipeline.glue_library import publish_wheel
from airline_pipeline.steps.custom_resource import run_custom_resource
from airline_pipeline.steps.powertools import aws_client


def publish(properties: Mapping[str, Any]) -> dict[str, str]:
    return {"WheelUri": publish_wheel(aws_client("s3"), properties["Bucket"], properties["Prefix"])}


def handler(event: dict[str, Any], context: Any) -> None:
    properties = event.get("ResourceProperties", {})
    run_custom_resource(event, publish, physical_id=f"{properties.get('Bucket')}/{properties.get('Prefix')}")
