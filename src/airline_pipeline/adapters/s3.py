"""The S3 "Object Created" EventBridge event: the state machine's input.

Built here so that ``reprocess --via-state-machine`` starts executions with exactly what
EventBridge would send, and tests can make events for any key.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import quote_plus


def encode_key(key: str) -> str:
    """S3 notifications URL-encode object keys ('=' -> '%3D', ' ' -> '+'), keeping '/'."""
    return quote_plus(key, safe="/")


def object_created_event(
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str,
    region: str = "us-east-1",
    account: str = "000000000000",
    reason: str = "PutObject",
    replay_name: Optional[str] = None,
) -> dict[str, Any]:
    """An ``aws.s3`` / ``Object Created`` event as EventBridge delivers it (key URL-encoded).

    ``replay_name`` marks a deliberate re-run, as EventBridge's own archive replays do: the
    pipeline loads the file again even if the ledger says it is already loaded.
    """
    now = datetime.now(timezone.utc)
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": encode_key(key),
                "size": size,
                "etag": etag,
                "sequencer": f"{int(now.timestamp() * 1e6):018X}",
            },
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "reason": reason,
        },
    }
    if replay_name:
        event["replay-name"] = replay_name
    return event
