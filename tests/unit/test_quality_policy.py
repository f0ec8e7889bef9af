"""core.quality: when a file is over a threshold, and when it is late - the edges."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from airline_pipeline.core.quality import LoadPolicy


def test_a_share_exactly_at_the_limit_is_within_it() -> None:
    # Given a 5% limit, When 5 of 100 rows are rejected, Then the file is within it; 6 of 100 is over
    policy = LoadPolicy(max_rejected_share=0.05)
    assert policy.breach(rows_read=100, rows_rejected=5) is None
    assert policy.breach(rows_read=100, rows_rejected=6) == "6% of rows rejected (6 of 100), over the 5% limit"


def test_the_message_names_the_share_and_the_limit_as_the_notification_shows_them() -> None:
    # Given the README's example: 1,234 of 9,872 rows rejected against a 5% limit
    message = LoadPolicy(max_rejected_share=0.05).breach(rows_read=9872, rows_rejected=1234)
    # Then the share is rounded, the counts are whole, with thousands separators
    assert message == "12.5% of rows rejected (1,234 of 9,872), over the 5% limit"


def test_no_rows_has_no_share_and_only_a_minimum_can_refuse_it() -> None:
    # Given a file with no rows
    assert LoadPolicy(max_rejected_share=0.0).breach(rows_read=0, rows_rejected=0) is None
    assert LoadPolicy(min_rows=1).breach(rows_read=0, rows_rejected=0) == ("0 valid rows, fewer than the minimum of 1")


def test_a_zero_limit_refuses_any_rejected_row() -> None:
    policy = LoadPolicy(max_rejected_share=0.0)
    assert policy.breach(rows_read=1_000_000, rows_rejected=0) is None
    assert policy.breach(rows_read=1_000_000, rows_rejected=1) is not None


def test_min_rows_counts_valid_rows_and_is_met_at_equality() -> None:
    # Given a minimum of 10 valid rows
    policy = LoadPolicy(min_rows=10)
    # When 12 are read and 2 rejected (10 valid) Then it is met; 3 rejected (9 valid) is under it
    assert policy.breach(rows_read=12, rows_rejected=2) is None
    assert policy.breach(rows_read=12, rows_rejected=3) == "9 valid rows, fewer than the minimum of 10"


def test_both_thresholds_over_are_both_named() -> None:
    policy = LoadPolicy(max_rejected_share=0.1, min_rows=5)
    assert policy.breach(rows_read=4, rows_rejected=2) == (
        "50% of rows rejected (2 of 4), over the 10% limit; 2 valid rows, fewer than the minimum of 5"
    )


def test_the_defaults_refuse_nothing() -> None:
    assert LoadPolicy().breach(rows_read=10, rows_rejected=10) is None


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"max_rejected_share": 5.0}, "fraction"),
        ({"max_rejected_share": -0.1}, "fraction"),
        ({"max_rejected_share": float("nan")}, "fraction"),
        ({"min_rows": -1}, "min_rows"),
        ({"on_threshold": "fial"}, "on_threshold"),
        ({"replace_scope": "day"}, "replace_scope"),
        ({"late_after_days": -1}, "late_after_days"),
    ],
)
def test_a_policy_that_is_not_one_is_refused_named(changes: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        LoadPolicy(**changes)  # type: ignore[arg-type]


def test_late_means_more_than_the_allowed_days_before_the_load() -> None:
    # Given 3 allowed days and a load on 2013-01-18
    policy, arrived = LoadPolicy(late_after_days=3), datetime(2013, 1, 18, 23, 59)
    # Then a file for the 15th (3 days) is on time, one for the 14th (4 days) is late
    assert policy.is_late(date(2013, 1, 15), arrived) is False
    assert policy.is_late(date(2013, 1, 14), arrived) is True
    # and a file with no date, or with lateness off, is never late
    assert policy.is_late(None, arrived) is False
    assert LoadPolicy(late_after_days=None).is_late(date(2000, 1, 1), arrived) is False
