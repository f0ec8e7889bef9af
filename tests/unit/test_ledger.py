"""The ledger's claims belong to executions: ``claim`` and ``finish`` on one DynamoDB table (moto).

The owner is the Step Functions execution's name. An execution may claim its own in-flight item
again (a retried validate step), nobody else may until the claim expires, and only the owner of an
in-flight claim may close it - so a stale execution, whose claim expired and was taken over, cannot
overwrite the newer execution's state.
"""

from __future__ import annotations

from typing import Optional

import pytest
from lambda_support import Stack

from airline_pipeline.adapters.ledger import FAILED, IN_FLIGHT, LOADED, REJECTED, Ledger, file_id

ITEM = file_id("airline-pipeline-dev-123456789012-us-east-1", "daily-flights/date=2013-01-15/f.csv", "636af591")
FIRST = "e2cef652-1092-4116-beeb-0af7c5c5bad9"
SECOND = "3d9e2f61-0c4b-4a55-9f7e-6b1d2c8a4e10"
T0 = 1_795_470_000
CLAIM_MINUTES = 180


@pytest.fixture
def ledger(stack: Stack) -> Ledger:
    return Ledger(stack.ledger_table, dynamodb=stack.dynamodb, claim_minutes=CLAIM_MINUTES)


def item_of(stack: Stack) -> Optional[dict[str, str]]:
    found = stack.ledger_item(ITEM)
    return None if found is None else {name: str(value) for name, value in found.items()}


def test_owner_may_claim_its_in_flight_item_again(stack: Stack, ledger: Ledger) -> None:
    # Given an item claimed by an execution
    assert ledger.claim(ITEM, FIRST, now=T0).claimed

    # When the same execution claims it again (its validate step was retried a minute later)
    again = ledger.claim(ITEM, FIRST, now=T0 + 60)

    # Then it is its claim still, renewed from the retry
    assert (again.claimed, again.status, again.owner) == (True, IN_FLIGHT, FIRST)
    item = item_of(stack)
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, FIRST)
    assert int(item["claim_expires_at"]) == T0 + 60 + CLAIM_MINUTES * 60


def test_another_execution_finds_the_live_claim(stack: Stack, ledger: Ledger) -> None:
    # Given an item claimed by an execution
    assert ledger.claim(ITEM, FIRST, now=T0).claimed

    # When another execution (a redelivered event, a second upload) claims it before the claim expires
    other = ledger.claim(ITEM, SECOND, now=T0 + CLAIM_MINUTES * 60 - 1)

    # Then it is refused, told whose claim it is, and the item is unchanged
    assert (other.claimed, other.status, other.owner, other.updated_at) == (False, IN_FLIGHT, FIRST, T0)
    item = item_of(stack)
    assert item is not None
    assert (item["owner"], item["updated_at"]) == (FIRST, str(T0))


@pytest.mark.parametrize("status", [LOADED, REJECTED])
def test_a_closed_item_is_not_reopened_by_a_new_execution(stack: Stack, ledger: Ledger, status: str) -> None:
    # Given an item its execution closed as LOADED (or REJECTED)
    assert ledger.claim(ITEM, FIRST, now=T0).claimed
    assert ledger.finish(ITEM, status, owner=FIRST, now=T0 + 10)

    # When another execution claims it, Then it is refused
    claim = ledger.claim(ITEM, SECOND, now=T0 + 20)
    assert (claim.claimed, claim.status, claim.owner) == (False, status, FIRST)


def test_owner_closes_its_claim(stack: Stack, ledger: Ledger) -> None:
    # Given an execution's claim
    assert ledger.claim(ITEM, FIRST, now=T0).claimed

    # When that execution records its outcome
    finished = ledger.finish(ITEM, LOADED, owner=FIRST, detail=f"execution {FIRST}", now=T0 + 300)

    # Then the item says so
    assert finished is True
    item = item_of(stack)
    assert item is not None
    assert (item["status"], item["owner"], item["detail"], item["updated_at"]) == (
        LOADED,
        FIRST,
        f"execution {FIRST}",
        str(T0 + 300),
    )


def test_finish_by_another_execution_returns_false_and_leaves_the_item(stack: Stack, ledger: Ledger) -> None:
    # Given an execution's claim
    assert ledger.claim(ITEM, FIRST, now=T0).claimed
    before = item_of(stack)

    # When another execution tries to close it (a skipped duplicate, a confused retry)
    finished = ledger.finish(ITEM, FAILED, owner=SECOND, detail=f"execution {SECOND}", now=T0 + 300)

    # Then nothing changes
    assert finished is False
    assert item_of(stack) == before


def test_stale_execution_cannot_overwrite_the_claim_that_replaced_it(stack: Stack, ledger: Ledger) -> None:
    # Given a claim that expired (its execution ran longer than claim_minutes) and was taken over
    assert ledger.claim(ITEM, FIRST, now=T0).claimed
    assert ledger.claim(ITEM, SECOND, now=T0 + CLAIM_MINUTES * 60 + 1).claimed

    # When the first execution finally fails and records it
    finished = ledger.finish(ITEM, FAILED, owner=FIRST, now=T0 + CLAIM_MINUTES * 60 + 5)

    # Then the newer execution's claim stands
    assert finished is False
    item = item_of(stack)
    assert item is not None
    assert (item["status"], item["owner"]) == (IN_FLIGHT, SECOND)


def test_finish_does_not_reopen_or_rewrite_a_closed_item(stack: Stack, ledger: Ledger) -> None:
    # Given an item its execution closed as LOADED
    assert ledger.claim(ITEM, FIRST, now=T0).claimed
    assert ledger.finish(ITEM, LOADED, owner=FIRST, now=T0 + 10)
    before = item_of(stack)

    # When the same execution records an outcome again (a retried notify step)
    finished = ledger.finish(ITEM, FAILED, owner=FIRST, now=T0 + 20)

    # Then the first outcome stands
    assert finished is False
    assert item_of(stack) == before


def test_finish_of_an_item_nobody_claimed_creates_nothing(stack: Stack, ledger: Ledger) -> None:
    # Given no item (the validate step failed before it could claim the file)
    # When an execution records an outcome for it, Then nothing is written
    assert ledger.finish(ITEM, FAILED, owner=FIRST, now=T0) is False
    assert item_of(stack) is None
