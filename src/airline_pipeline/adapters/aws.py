"""The one way the package makes a boto3 client: the same region, endpoint and retry rules everywhere.

Credentials, region and ``AWS_ENDPOINT_URL`` (the local emulator) come from the environment unless a
caller names them. Retries use boto3's *standard* mode (throttling and transient 5xx errors, backoff
capped at 20 s) unless ``AWS_RETRY_MODE`` chooses another; ``AWS_MAX_ATTEMPTS`` still sets the count.
boto3 is imported on first use: the CLI's ``--version`` must not pay for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import boto3


def client(
    service: str,
    *,
    region: Optional[str] = None,
    endpoint_url: Optional[str] = None,
    session: Optional[boto3.Session] = None,
) -> Any:
    """A boto3 client for ``service`` (any service name: the stubs only type literal names)."""
    import boto3
    from botocore.config import Config

    retries: Any = {"mode": os.environ.get("AWS_RETRY_MODE") or "standard"}
    config = Config(retries=retries)
    options: dict[str, Any] = {"config": config}
    if region:
        options["region_name"] = region
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    make: Any = (session or boto3).client
    return make(service, **options)
