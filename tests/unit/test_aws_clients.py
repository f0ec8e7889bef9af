"""One AWS client factory: the same region, endpoint and retry rules for every part of the package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airline_pipeline.adapters import aws

SRC = Path(__file__).resolve().parents[2] / "src" / "airline_pipeline"


def test_a_client_retries_in_standard_mode_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an environment that chooses no retry mode
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)

    # When a client is made with a region and an endpoint
    client = aws.client("s3", region="eu-west-1", endpoint_url="http://127.0.0.1:4999")

    # Then it uses them, and boto3's standard retries rather than the legacy default
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:4999"
    assert client.meta.config.retries["mode"] == "standard"


def test_the_environment_still_chooses_the_retry_mode_and_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an operator who set the retry mode and attempts for the whole process
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")

    # When a client is made
    retries = aws.client("dynamodb", region="us-east-1").meta.config.retries

    # Then both are honoured
    assert retries["mode"] == "adaptive"
    assert retries["total_max_attempts"] == 7


def test_no_module_makes_its_own_boto3_client() -> None:
    # Given every module of the package but the factory
    makers = re.compile(r"boto3\.client\(|boto3\.resource\(|[Ss]ession\(?[^)\n]*\)?\.client\(|make\(service")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path != SRC / "adapters" / "aws.py" and makers.search(path.read_text())
    ]

    # Then none makes a client by itself
    assert offenders == []
