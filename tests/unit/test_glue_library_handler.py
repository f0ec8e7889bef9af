"""GlueLibraryFunction: the CloudFormation custom resource that publishes the layer's wheel for the Glue job.

CloudFormation waits (up to an hour) for a PUT to the request's pre-signed ``ResponseURL``; here a
local HTTP server stands in for that URL and records what the function sends. The wheel is found
next to the installed package, as in the layer (``<layer>/python/airline_pipeline`` ->
``<layer>/dist/*.whl``): a fake layer folder in tmp_path plays that part.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import pytest
from lambda_support import Stack, load_event

from airline_pipeline import glue_library

Invoke = Callable[..., Any]
WHEEL_NAME = "airline_pipeline-0.1.0-py3-none-any.whl"


@pytest.fixture
def layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Given a built layer: ``python/airline_pipeline/`` and ``dist/<wheel>``; returns the wheel."""
    root = tmp_path / "layer"
    package = root / "python" / "airline_pipeline"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    wheel = root / "dist" / WHEEL_NAME
    wheel.parent.mkdir()
    wheel.write_bytes(b"PK\x03\x04 a wheel built by sam build " + bytes(range(256)))
    real = glue_library.layer_wheel
    monkeypatch.setattr(glue_library, "layer_wheel", lambda package_dir=None: real(package_dir=package))
    return wheel


def cloudformation_event(url: str, request_type: str = "Create") -> dict[str, Any]:
    event = load_event("glue_library_create")
    event["ResponseURL"] = url
    event["RequestType"] = request_type
    if request_type != "Create":
        event["PhysicalResourceId"] = f"{event['ResourceProperties']['Bucket']}/glue/libs/"
    return event


def test_create_publishes_the_wheel_and_answers_success(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given the stack's bucket and a built layer
    url, received = response_url
    event = cloudformation_event(url)

    # When CloudFormation creates the custom resource
    assert invoke("glue_library", event) is None

    # Then the wheel is in the bucket under a content-addressed folder, keeping its wheel file name
    data = layer.read_bytes()
    key = f"glue/libs/{hashlib.sha256(data).hexdigest()[:16]}/{WHEEL_NAME}"
    stored = stack.s3.get_object(Bucket=stack.bucket, Key=key)
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "application/zip"
    # and CloudFormation got one SUCCESS answer with the URI for --additional-python-modules
    assert len(received) == 1
    answer = received[0]
    assert answer["path"].startswith("/cloudformation-response?X-Amz-Signature=")
    assert answer["content_type"] == "", "a pre-signed S3 URL signs an empty Content-Type"
    assert answer["body"] == {
        "Status": "SUCCESS",
        "Reason": "ok",
        "PhysicalResourceId": f"{stack.bucket}/glue/libs/",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": "GlueLibrary",
        "Data": {"WheelUri": f"s3://{stack.bucket}/{key}"},
    }


def test_update_republishes_and_keeps_the_physical_id(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a new layer version (the LayerVersion property changed)
    url, received = response_url

    # When CloudFormation updates the resource
    invoke("glue_library", cloudformation_event(url, "Update"))

    # Then the wheel is published again and the physical id stays (no replacement, no Delete of the old one)
    answer = received[0]["body"]
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"{stack.bucket}/glue/libs/"
    assert answer["Data"]["WheelUri"].endswith(f"/{WHEEL_NAME}")


def test_delete_leaves_the_wheel_and_answers_success(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a published wheel
    url, received = response_url
    invoke("glue_library", cloudformation_event(url))
    published = stack.s3.list_objects_v2(Bucket=stack.bucket)["KeyCount"]

    # When CloudFormation deletes the resource
    invoke("glue_library", cloudformation_event(url, "Delete"))

    # Then it answers SUCCESS without data and leaves the wheel (a running job may still install it)
    assert received[-1]["body"]["Status"] == "SUCCESS"
    assert received[-1]["body"]["Data"] == {}
    assert stack.s3.list_objects_v2(Bucket=stack.bucket)["KeyCount"] == published == 1


def test_layer_without_a_wheel_answers_failed_with_the_reason(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a layer built without its dist/ wheel
    layer.unlink()
    url, received = response_url

    # When CloudFormation creates the resource
    invoke("glue_library", cloudformation_event(url))

    # Then CloudFormation is told at once (instead of waiting an hour), with the reason
    answer = received[0]["body"]
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("ConfigError: no airline_pipeline wheel under")
    assert "was the layer built by sam build?" in answer["Reason"]
    assert answer["Data"] == {}


def test_missing_bucket_answers_failed(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given the resource names a bucket that does not exist
    url, received = response_url
    event = cloudformation_event(url)
    event["ResourceProperties"]["Bucket"] = "airline-pipeline-dev-123456789012-us-east-2"

    # When CloudFormation creates the resource
    invoke("glue_library", event)

    # Then the answer is FAILED and names S3's error
    answer = received[0]["body"]
    assert answer["Status"] == "FAILED"
    assert "NoSuchBucket" in answer["Reason"]
    assert len(answer["Reason"]) <= 500


def test_wheel_in_the_real_layer_layout_is_found(layer: Path) -> None:
    # Given the layer layout, When the wheel is looked up from the package folder, Then it is the dist/ one
    assert glue_library.layer_wheel() == layer
