"""GlueLibraryFunction: the CloudFormation custom resource that publishes the Glue job's script and wheels.

CloudFormation waits (up to an hour) for a PUT to the request's pre-signed ``ResponseURL``; here a
local HTTP server stands in for that URL and records what the function sends. The files come from
GlueArtifactsLayer, found on the path like a package (``<layer>/python/airline_pipeline_glue_job/``,
as ``sam build`` lays it out): a fake layer folder in tmp_path, put on ``sys.path``, plays that part.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from lambda_support import Stack, load_event

from airline_pipeline.steps import glue_library

Invoke = Callable[..., Any]
#: The layer's wheels in manifest order: a dependency before its dependent.
WHEELS = ("tenacity-9.1.2-py3-none-any.whl", "airline_pipeline-0.1.0-py3-none-any.whl")


@pytest.fixture
def layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Given a built GlueArtifactsLayer on the path; returns its ``airline_pipeline_glue_job`` folder."""
    folder = tmp_path / "layer" / "python" / glue_library.ARTIFACTS_PACKAGE
    (folder / "wheels").mkdir(parents=True)
    entries = []
    for index, name in enumerate(WHEELS):
        data = b"PK\x03\x04 a wheel built by sam build " + bytes([index]) * 64
        (folder / "wheels" / name).write_bytes(data)
        entries.append({"file": f"wheels/{name}", "sha256": hashlib.sha256(data).hexdigest()})
    (folder / "join_and_load.py").write_text("print('the job')\n")
    manifest = {"script": "join_and_load.py", "wheels": entries}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.syspath_prepend(str(folder.parent))
    importlib.invalidate_caches()
    return folder


def key_of(path: Path) -> str:
    return f"glue/{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}/{path.name}"


def cloudformation_event(url: str, request_type: str = "Create") -> dict[str, Any]:
    event = load_event("glue_library_create")
    event["ResponseURL"] = url
    event["RequestType"] = request_type
    if request_type != "Create":
        event["PhysicalResourceId"] = f"{event['ResourceProperties']['Bucket']}/glue/"
    return event


def puts_counted() -> list[str]:
    """The keys the function's (cached, per-container) S3 client PUTs from now on, in order."""
    from airline_pipeline.steps.powertools import aws_client

    keys: list[str] = []
    events = aws_client("s3").meta.events
    events.register("before-call.s3.PutObject", lambda params, **_: keys.append(params["url_path"]))
    return keys


def test_create_publishes_the_script_and_wheels_and_answers_their_uris(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given the stack's bucket and a built layer
    url, received = response_url
    event = cloudformation_event(url)

    # When CloudFormation creates the custom resource
    assert invoke("glue_library", event) is None

    # Then every file is in the bucket under a content-addressed key that keeps its file name
    script = layer / "join_and_load.py"
    wheels = [layer / "wheels" / name for name in WHEELS]
    for path in (script, *wheels):
        stored = stack.s3.get_object(Bucket=stack.bucket, Key=key_of(path))
        assert stored["Body"].read() == path.read_bytes()
    assert key_of(script).endswith("/join_and_load.py"), "Glue runs the script only from a .py key"
    assert stack.s3.head_object(Bucket=stack.bucket, Key=key_of(wheels[0]))["ContentType"] == "application/zip"
    # and CloudFormation got one SUCCESS answer: the script, and the wheels in the manifest's order
    assert len(received) == 1
    answer = received[0]
    assert answer["path"].startswith("/cloudformation-response?X-Amz-Signature=")
    assert answer["content_type"] == "", "a pre-signed S3 URL signs an empty Content-Type"
    assert answer["body"] == {
        "Status": "SUCCESS",
        "Reason": "ok",
        "PhysicalResourceId": f"{stack.bucket}/glue/",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": "GlueLibrary",
        "Data": {
            "ScriptLocation": f"s3://{stack.bucket}/{key_of(script)}",
            "ExtraPyFiles": ",".join(f"s3://{stack.bucket}/{key_of(wheel)}" for wheel in wheels),
        },
    }


def test_update_uploads_only_what_changed_and_keeps_the_physical_id(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given the files of a first build are published
    url, received = response_url
    invoke("glue_library", cloudformation_event(url))
    # and a new layer version in which only the package's wheel changed
    changed = layer / "wheels" / WHEELS[1]
    changed.write_bytes(changed.read_bytes() + b" v2")
    manifest = json.loads((layer / "manifest.json").read_text())
    manifest["wheels"][1]["sha256"] = hashlib.sha256(changed.read_bytes()).hexdigest()
    (layer / "manifest.json").write_text(json.dumps(manifest))
    puts = puts_counted()

    # When CloudFormation updates the resource
    invoke("glue_library", cloudformation_event(url, "Update"))

    # Then only the changed wheel is uploaded, under a new key, and the physical id stays (no replacement)
    assert puts == [f"/{key_of(changed)}"]
    answer = received[-1]["body"]
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"{stack.bucket}/glue/"
    assert answer["Data"]["ExtraPyFiles"].split(",")[-1] == f"s3://{stack.bucket}/{key_of(changed)}"


def test_delete_leaves_the_files_and_answers_success(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given published files
    url, received = response_url
    invoke("glue_library", cloudformation_event(url))
    published = stack.s3.list_objects_v2(Bucket=stack.bucket)["KeyCount"]

    # When CloudFormation deletes the resource
    invoke("glue_library", cloudformation_event(url, "Delete"))

    # Then it answers SUCCESS without data and leaves the files (a running job may still install them)
    assert received[-1]["body"]["Status"] == "SUCCESS"
    assert received[-1]["body"]["Data"] == {}
    assert stack.s3.list_objects_v2(Bucket=stack.bucket)["KeyCount"] == published == len(WHEELS) + 1


def test_function_without_the_layer_answers_failed_with_the_reason(
    stack: Stack, invoke: Invoke, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given the function deployed without GlueArtifactsLayer (nothing of it on the path)
    assert importlib.util.find_spec(glue_library.ARTIFACTS_PACKAGE) is None
    url, received = response_url

    # When CloudFormation creates the resource
    invoke("glue_library", cloudformation_event(url))

    # Then CloudFormation is told at once (instead of waiting an hour), with the reason
    answer = received[0]["body"]
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("ConfigError: airline_pipeline_glue_job is not on the path")
    assert "GlueArtifactsLayer" in answer["Reason"]
    assert answer["Data"] == {}


def test_a_file_that_differs_from_the_manifest_is_refused(
    stack: Stack, invoke: Invoke, layer: Path, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    # Given a layer whose wheel is not the one its manifest describes (a broken or tampered build)
    (layer / "wheels" / WHEELS[0]).write_bytes(b"something else")
    url, received = response_url

    # When CloudFormation creates the resource
    invoke("glue_library", cloudformation_event(url))

    # Then nothing is published and the answer names the file
    answer = received[0]["body"]
    assert answer["Status"] == "FAILED"
    assert f"wheels/{WHEELS[0]} is missing or differs from the manifest" in answer["Reason"]
    assert stack.s3.list_objects_v2(Bucket=stack.bucket)["KeyCount"] == 0


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
