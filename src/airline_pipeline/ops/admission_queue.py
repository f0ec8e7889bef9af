"""``reprocess --via-state-machine`` through the admission queue: a long range waits like any burst.

Each file's replay event goes to the stack's admission queue (``<state machine name>-admission``, as
template.yaml names it), and the starter Lambda admits it when a load slot is free - the same path
a landed file takes, so a year of reprocessing never fails for lack of Glue capacity. The execution
name the starter will use is known here (:func:`airline_pipeline.core.admission.execution_name`), so
``--wait`` can follow executions before they exist.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional

from airline_pipeline.adapters.ledger import file_id
from airline_pipeline.adapters.sources import decode_event_key
from airline_pipeline.core.admission import execution_name

log = logging.getLogger(__name__)

#: SendMessageBatch takes at most 10 messages.
BATCH = 10


def admission_queue_url(sqs: Any, state_machine_arn: str) -> Optional[str]:
    """The stack's admission queue, or None for a stack deployed without one (it predates issue 13)."""
    _, _, _, _, account, _, name = state_machine_arn.split(":", 6)
    queue = f"{name}-admission"
    try:
        return str(sqs.get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=account)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        log.warning("no admission queue %s: starting executions directly (redeploy the stack to queue them)", queue)
        return None


def enqueue_events(
    sqs: Any, queue_url: str, state_machine_arn: str, events: list[dict[str, Any]], *, advance: Callable[[int], Any]
) -> list[tuple[str, Optional[str]]]:
    """Send each event as one message; per event ``(execution ARN the starter will use, error or None)``.

    ``advance(n)`` is called after each batch (the progress bar).
    """
    executions = state_machine_arn.replace(":stateMachine:", ":execution:", 1)
    outcomes: list[tuple[str, Optional[str]]] = []
    for start in range(0, len(events), BATCH):
        chunk = events[start : start + BATCH]
        entries = [{"Id": str(n), "MessageBody": json.dumps(event)} for n, event in enumerate(chunk)]
        try:
            failed = {f["Id"]: f.get("Message", f.get("Code", "")) for f in _send(sqs, queue_url, entries)}
        except Exception as exc:  # botocore ClientError or transport: every message of the batch failed
            failed = {entry["Id"]: str(exc) for entry in entries}
        for n, event in enumerate(chunk):
            detail = event["detail"]
            key = decode_event_key(detail["object"]["key"])
            name = execution_name(event["id"], key, file_id(detail["bucket"]["name"], key, detail["object"]["etag"]))
            outcomes.append((f"{executions}:{name}", failed.get(str(n))))
        advance(len(chunk))
    return outcomes


def _send(sqs: Any, queue_url: str, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
    return list(sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", []))
