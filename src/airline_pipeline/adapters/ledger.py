"""The load ledger: one DynamoDB item per bucket/key/etag, so duplicate events end as "skipped".

S3 and EventBridge deliver at least once, and ten uploads of the same bytes are ten events. The
first event to claim a file (a conditional write) runs the pipeline; the others find the claim and
stop. Correctness never depends on the ledger - every load replaces the file's rows in one
transaction - it only saves work and duplicate notifications.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from airline_pipeline.core.status import FAILED, IN_FLIGHT, LOADED, REJECTED

__all__ = ["FAILED", "IN_FLIGHT", "LOADED", "REJECTED", "Claim", "Ledger", "file_id"]

_RETENTION_SECONDS = 90 * 24 * 3600

#: The state machine's ``TimeoutSeconds`` (statemachine/pipeline.asl.json; a unit test holds the two
#: equal): no execution - the owner of a claim - runs longer.
EXECUTION_TIMEOUT_SECONDS = 6 * 60 * 60
#: How long an in-flight claim blocks other events: derived here, once, from the execution timeout. A
#: claim is written after its execution started, so it outlives the execution; 5 minutes more absorb
#: clock differences between Step Functions and Lambda. A shorter claim would let a duplicate event
#: load the file while the first execution is still loading it.
CLAIM_MINUTES = EXECUTION_TIMEOUT_SECONDS // 60 + 5


@dataclass(frozen=True)
class Claim:
    """Whether this event owns the file, and if not, who does and in what state."""

    claimed: bool
    status: str
    owner: str
    updated_at: int


def file_id(bucket: str, key: str, etag: str) -> str:
    return f"s3://{bucket}/{key}#{etag}"


class Ledger:
    """Conditional writes on one table; ``dynamodb`` is a boto3 DynamoDB *client* (injectable)."""

    def __init__(self, table: str, *, dynamodb: Any = None, claim_minutes: int = CLAIM_MINUTES) -> None:
        if dynamodb is None:
            from airline_pipeline.adapters import aws

            dynamodb = aws.client("dynamodb")
        self.table = table
        self.client = dynamodb
        self.claim_seconds = claim_minutes * 60

    def claim(self, item_id: str, owner: str, *, now: Optional[int] = None, force: bool = False) -> Claim:
        """Claim ``item_id`` for ``owner`` (the execution) unless it is loaded, rejected, or someone else's.

        A FAILED file may be claimed again (a retry), and so may a claim older than ``claim_minutes``
        (its execution died without closing it). The owner's own in-flight claim is its own: a retried
        validate step must not find itself a duplicate. A redelivered event starts another execution,
        hence another owner, and is skipped. ``force`` (a replay: ``airline-pipeline reprocess``) claims
        regardless.
        """
        now = int(time.time()) if now is None else now
        condition = {
            "ConditionExpression": (
                "attribute_not_exists(file_id) OR #s = :failed"
                " OR (#s = :in_flight AND (claim_expires_at < :now OR #o = :owner))"
            ),
            "ExpressionAttributeNames": {"#s": "status", "#o": "owner"},
            "ExpressionAttributeValues": {
                ":failed": {"S": FAILED},
                ":in_flight": {"S": IN_FLIGHT},
                ":now": {"N": str(now)},
                ":owner": {"S": owner},
            },
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "file_id": {"S": item_id},
                    "status": {"S": IN_FLIGHT},
                    "owner": {"S": owner},
                    "updated_at": {"N": str(now)},
                    "claim_expires_at": {"N": str(now + self.claim_seconds)},
                    "expires_at": {"N": str(now + _RETENTION_SECONDS)},
                },
                **({} if force else condition),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            item = self.client.get_item(TableName=self.table, Key={"file_id": {"S": item_id}}, ConsistentRead=True)
            found = item.get("Item", {})
            return Claim(
                claimed=False,
                status=found.get("status", {}).get("S", "UNKNOWN"),
                owner=found.get("owner", {}).get("S", ""),
                updated_at=int(found.get("updated_at", {}).get("N", "0")),
            )
        return Claim(claimed=True, status=IN_FLIGHT, owner=owner, updated_at=now)

    def finish(self, item_id: str, status: str, *, owner: str, detail: str = "", now: Optional[int] = None) -> bool:
        """Record the outcome of ``owner``'s claim; False when the item is not (or no longer) its claim.

        A LOADED or REJECTED file is never re-run by a duplicate event. The condition keeps a stale
        execution (whose claim expired and was taken over) from overwriting the newer one's state.
        """
        now = int(time.time()) if now is None else now
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"file_id": {"S": item_id}},
                UpdateExpression="SET #s = :status, updated_at = :now, detail = :detail, expires_at = :expires",
                ConditionExpression="#s = :in_flight AND #o = :owner",
                ExpressionAttributeNames={"#s": "status", "#o": "owner"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":now": {"N": str(now)},
                    ":detail": {"S": detail[:1000]},
                    ":expires": {"N": str(now + _RETENTION_SECONDS)},
                    ":in_flight": {"S": IN_FLIGHT},
                    ":owner": {"S": owner},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
