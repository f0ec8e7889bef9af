"""The scheduled freshness check (template parameter ``ExpectedBy``): say when a day's file is late.

At each run of the schedule, the days from ``today - lag - lookback + 1`` to ``today - lag`` are read
from the warehouse through the reader port (:mod:`airline_pipeline.core.freshness`: the audit table,
the same answer as ``airline-pipeline freshness``; on Redshift awswrangler's reader, no DuckDB). A day
with no loaded file gets ONE ``MISSING`` notification, however many checks find it missing; once it
loads, ONE ``RECOVERED`` notification follows.

"Loaded" is read from the warehouse, not the ledger: the ledger records that an execution ended, the
warehouse that the rows are there - and the ledger has no date to query by (its key is
bucket/key/etag, and it forgets after 90 days).

What was sent is kept in the ledger table under keys of its own, ``freshness#<date>`` (file claims
are ``s3://...``, so the two never meet): a conditional write decides, so two overlapping checks
still send one message. The write comes first and is undone when publishing fails, so the next check
tries again rather than never.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from pydantic import BaseModel, Field

from airline_pipeline.adapters.warehouse import Reader
from airline_pipeline.core import status
from airline_pipeline.core.freshness import DayFreshness, freshness
from airline_pipeline.steps import notify
from airline_pipeline.steps.notify import Notification
from airline_pipeline.steps.settings import FreshnessSettings

KEY_PREFIX = "freshness#"
#: Alert items outlive the lookback window (a day that left it is never checked again), then expire.
_RETENTION_DAYS = 400


class CheckResult(BaseModel):
    checked_from: date
    checked_to: date
    not_loaded: list[date] = Field(default_factory=list)
    missing_sent: list[date] = Field(default_factory=list)
    recovered_sent: list[date] = Field(default_factory=list)


class AlertLog:
    """Which days were reported MISSING: items ``freshness#<date>`` in the ledger table."""

    def __init__(self, table: str, *, dynamodb: Any) -> None:
        self.table = table
        self.client = dynamodb

    def _key(self, day: date) -> dict[str, Any]:
        return {"file_id": {"S": f"{KEY_PREFIX}{day.isoformat()}"}}

    def open(self, day: date, now: datetime) -> bool:
        """Record ``day`` as reported MISSING; False when it already was (reported, or recovered)."""
        expires = int((now + timedelta(days=_RETENTION_DAYS)).replace(tzinfo=timezone.utc).timestamp())
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self._key(day),
                    "status": {"S": status.MISSING},
                    "missing_at": {"S": now.isoformat(timespec="seconds")},
                    "expires_at": {"N": str(expires)},
                },
                ConditionExpression="attribute_not_exists(file_id)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def undo_open(self, day: date) -> None:
        """Publishing MISSING failed: forget it, so the next check reports the day again."""
        self.client.delete_item(
            TableName=self.table,
            Key=self._key(day),
            ConditionExpression="#s = :missing",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":missing": {"S": status.MISSING}},
        )

    def close(self, day: date, now: datetime) -> Optional[str]:
        """Mark a reported day RECOVERED; returns when it was reported MISSING, or None if it was not."""
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=self._key(day),
                UpdateExpression="SET #s = :recovered, recovered_at = :now",
                ConditionExpression="#s = :missing",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":recovered": {"S": status.RECOVERED},
                    ":missing": {"S": status.MISSING},
                    ":now": {"S": now.isoformat(timespec="seconds")},
                },
                ReturnValues="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return str(response.get("Attributes", {}).get("missing_at", {}).get("S", "an earlier check"))

    def undo_close(self, day: date) -> None:
        """Publishing RECOVERED failed: back to MISSING, so the next check sends it again."""
        self.client.update_item(
            TableName=self.table,
            Key=self._key(day),
            UpdateExpression="SET #s = :missing REMOVE recovered_at",
            ConditionExpression="#s = :recovered",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":missing": {"S": status.MISSING}, ":recovered": {"S": status.RECOVERED}},
        )


def window(now: datetime, *, lookback_days: int, lag_days: int) -> tuple[date, date]:
    """The days a check at ``now`` expects loaded: ``lookback_days`` of them, ending ``lag_days`` ago."""
    last = now.date() - timedelta(days=lag_days)
    return last - timedelta(days=lookback_days - 1), last


def missing_message(day: DayFreshness, *, now: datetime, settings: FreshnessSettings) -> Notification:
    when = f"{now:%Y-%m-%d %H:%M} UTC"
    if day.files:
        arrived = (
            f"{day.files} file(s) arrived for this date, none of them loaded: each failure was notified "
            "on its own (subject FAILED); `airline-pipeline history` lists the attempts."
        )
    else:
        arrived = "No file for this date has arrived."
    body = [
        f"No flights file for {day.day} has loaded by {when} (schedule {settings.expected_by}).",
        "",
        arrived,
        f"Expected under: {settings.data_prefix}date={day.day}/<name>.csv",
        "",
        "This is the only MISSING message for this date; a RECOVERED message follows when it loads.",
        f"Check: airline-pipeline freshness --from {day.day} --to {day.day}",
    ]
    return Notification(
        subject=f"[airline-pipeline] MISSING {day.day}: no file loaded by {when}",
        body="\n".join(body),
        summary={
            "outcome": "missing",
            "flight_date": day.day.isoformat(),
            "checked_at": now.isoformat(),
            "files": day.files,
        },
    )


def recovered_message(day: DayFreshness, *, now: datetime, missing_at: str) -> Notification:
    body = [
        f"Flights for {day.day} are loaded now: {day.files_loaded} file(s), {day.rows_loaded} rows.",
        f"The date was reported MISSING at {missing_at}; no further message follows for it.",
    ]
    return Notification(
        subject=f"[airline-pipeline] RECOVERED {day.day}: {day.rows_loaded} rows loaded",
        body="\n".join(body),
        summary={
            "outcome": "recovered",
            "flight_date": day.day.isoformat(),
            "checked_at": now.isoformat(),
            "missing_at": missing_at,
            "files": day.files_loaded,
            "rows_loaded": day.rows_loaded,
        },
    )


def publish(sns: Any, topic_arn: str, message: Notification) -> None:
    """The same shape as the load notifications: subject, body, ``outcome`` and ``summary`` attributes."""
    notify.publish(sns, topic_arn, message, outcome=message.summary["outcome"])


def check(reader: Reader, alerts: AlertLog, *, sns: Any, settings: FreshnessSettings, now: datetime) -> CheckResult:
    """One scheduled check at ``now`` (naive UTC): MISSING for newly late days, RECOVERED for loaded ones."""
    first, last = window(now, lookback_days=settings.freshness_lookback_days, lag_days=settings.expected_lag_days)
    result = CheckResult(checked_from=first, checked_to=last)
    for day in freshness(reader, date_from=first, date_to=last):
        if not day.loaded:
            result.not_loaded.append(day.day)
            if alerts.open(day.day, now):
                try:
                    publish(sns, settings.topic_arn, missing_message(day, now=now, settings=settings))
                except Exception:
                    alerts.undo_open(day.day)
                    raise
                result.missing_sent.append(day.day)
            continue
        missing_at = alerts.close(day.day, now)
        if missing_at is not None:
            try:
                publish(sns, settings.topic_arn, recovered_message(day, now=now, missing_at=missing_at))
            except Exception:
                alerts.undo_close(day.day)
                raise
            result.recovered_sent.append(day.day)
    return result
