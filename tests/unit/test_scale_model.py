"""The scale model (bench/scale.py) and the page that shows it (docs/scale.md)."""

from __future__ import annotations

import math

import pytest
from lambda_support import ROOT

from airline_pipeline.core import cost
from bench import scale


@pytest.mark.parametrize("slots", [3, 20])
def test_docs_scale_shows_the_table_the_model_prints(slots: int) -> None:
    # Given the model at the template's defaults (N = 3) and at N = 20
    printed = scale.table(slots=slots, rpu=4, poll_seconds=20)
    # Then docs/scale.md shows exactly that table: the page cannot drift from core/cost.py's prices
    assert printed in (ROOT / "docs" / "scale.md").read_text(), "run `python -m bench.scale` and update the page"


def test_a_daily_file_runs_at_the_small_capacity_and_crawls_only_for_a_new_stack() -> None:
    # Given the model's rows
    rows = {s.name: scale.model(s, slots=3, rpu=4, poll_seconds=20) for s in scale.SCENARIOS}
    # Then each daily file is billed at 1/16 DPU for its run (not 1 DPU), as ValidateFile chooses for it
    billed = max(math.ceil(scale.DAILY_FILE.job_seconds_small), cost.PYTHON_SHELL_MIN_SECONDS)
    assert cost.job_capacity(scale.DAILY_FILE.size_bytes) == cost.SMALL_DPU
    for row in rows.values():
        assert row.dpu_seconds == pytest.approx(row.scenario.files * cost.SMALL_DPU * billed)
    # and only the backfill into a new stack pays a crawl (its 10-minute minimum at 1 DPU)
    crawled = {name for name, row in rows.items() if row.crawler_usd}
    assert crawled == {s.name for s in scale.SCENARIOS if s.name.startswith("10-year")}
    assert rows[next(iter(crawled))].crawler_usd == pytest.approx(600 / 3600 * cost.GLUE_DPU_HOUR_USD)


def test_files_within_the_slots_never_wait() -> None:
    # Given as many files as slots, landing at once
    drained = scale.simulate([0.0] * 3, slots=3, execution=100, base=30, cap=900, horizon=86_400)
    # Then each is received once and all end after one execution
    assert (drained.receives, drained.most_receives, drained.last_end, drained.backlog) == (3, 1, 100, 0)


def test_a_burst_drains_no_faster_than_its_slots_allow_and_every_file_is_admitted() -> None:
    # Given 30 files at once and 3 slots of 100 s, with the starter's backoff
    drained = scale.simulate([0.0] * 30, slots=3, execution=100, base=30, cap=900, horizon=86_400)
    # Then every file was admitted, the waiting ones received again, and the drain takes at least 10 rounds
    assert drained.backlog == 0
    assert drained.receives > 30
    assert drained.last_end >= 10 * 100
    # and the backoff's idle slot time is bounded by one cap per round
    assert drained.last_end <= 10 * (100 + 900)


def test_arrivals_beyond_the_capacity_leave_a_backlog() -> None:
    # Given 100 files landing at once and one slot of 100 s, watched for 1,000 s
    drained = scale.simulate([0.0] * 100, slots=1, execution=100, base=1, cap=3, horizon=1_000)
    # Then at most 11 could start (one every 100 s): the rest still wait
    assert drained.backlog >= 100 - 11
