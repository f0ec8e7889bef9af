"""The cost model: list prices times what a run used, with each service's billing minimum."""

from __future__ import annotations

import pytest

from airline_pipeline.core import cost


def test_a_short_crawl_is_billed_its_ten_minute_minimum() -> None:
    # Given a crawl of 90 s at 1 DPU
    run = cost.FileRun(job_dpu=0.0625, job_seconds=30, crawler_seconds=90)
    # When it is priced
    line = cost.estimate(run).line("crawler")
    # Then 600 s are billed: 1 DPU x 1/6 h x $0.44
    assert line.usd == pytest.approx(0.44 / 6)
    assert "600 s" in line.detail


def test_a_python_shell_run_is_billed_at_least_a_minute_at_its_capacity() -> None:
    # Given runs shorter and longer than a minute
    short = cost.estimate(cost.FileRun(job_dpu=0.0625, job_seconds=12.2)).line("job")
    long = cost.estimate(cost.FileRun(job_dpu=1.0, job_seconds=90.4)).line("job")
    # Then the short one pays 60 s of 1/16 DPU, the long one its seconds rounded up
    assert short.usd == pytest.approx(0.0625 * 60 / 3600 * 0.44)
    assert long.usd == pytest.approx(1.0 * 91 / 3600 * 0.44)


def test_a_skipped_crawler_costs_nothing_and_says_so() -> None:
    priced = cost.estimate(cost.FileRun(job_dpu=0.0625, job_seconds=61))
    assert priced.line("crawler").usd == 0
    assert "crawler skipped" in priced.summary()
    assert priced.summary().startswith("Estimated AWS cost: $")
    assert "job 0.0625 DPU x 61 s" in priced.summary()


def test_lambda_step_functions_and_redshift_use_their_unit_prices() -> None:
    run = cost.FileRun(
        job_dpu=0.0625,
        job_seconds=60,
        lambda_invocations=4,
        lambda_seconds=2.0,
        lambda_memory_mb=1024,
        state_transitions=40,
        redshift_seconds=10,
        redshift_base_rpu=4,
    )
    priced = cost.estimate(run)
    assert priced.line("lambda").usd == pytest.approx(4 * 0.0000002 + 2.0 * 0.0000166667)
    assert priced.line("step_functions").usd == pytest.approx(40 * 0.000025)
    # marginal: the load's own 10 s; waking an idle workgroup: the 60 s minimum
    assert priced.line("redshift").usd == pytest.approx(4 * 0.375 * 10 / 3600)
    assert priced.redshift_wakeup_usd == pytest.approx(4 * 0.375 * 60 / 3600)
    assert priced.total_with_wakeup - priced.total == pytest.approx(4 * 0.375 * 50 / 3600)


def test_no_redshift_means_no_wakeup_either() -> None:
    priced = cost.estimate(cost.FileRun(job_dpu=1.0, job_seconds=60))
    assert priced.redshift_wakeup_usd == 0
    assert "Redshift" not in priced.summary()


@pytest.mark.parametrize(
    ("size", "dpu"),
    [(1, 0.0625), (cost.SMALL_FILE_MAX_BYTES, 0.0625), (cost.SMALL_FILE_MAX_BYTES + 1, 1.0), (10 * 2**30, 1.0)],
)
def test_the_job_capacity_follows_the_file_size(size: int, dpu: float) -> None:
    assert cost.job_capacity(size) == dpu


def test_success_transitions_count_every_state_entered() -> None:
    # Validate, Route, StartCrawler, 2 x (Wait, Get, Choice), StartLoadJob, 3 x (Wait, Get, Choice),
    # Report, Notify, Loaded
    assert (
        cost.success_transitions(crawled=True, crawler_polls=2, job_polls=3, catalog_check=False)
        == 2 + 1 + 6 + 1 + 9 + 3
    )
    # the new path adds the catalog check and its Choice, and skips the crawler's states
    assert (
        cost.success_transitions(crawled=False, crawler_polls=0, job_polls=3, catalog_check=True) == 2 + 2 + 1 + 9 + 3
    )
    assert cost.polls(61, 20) == 4
    assert cost.polls(0, 20) == 1


def test_the_bench_meets_the_per_file_target_for_the_new_design() -> None:
    # Given the benchmark's workloads
    from bench.cost import WORKLOADS, new, today

    for work in WORKLOADS:
        old = cost.estimate(today(work, rpu=4, poll_seconds=20))
        now = cost.estimate(new(work, rpu=4, poll_seconds=20))
        # Then today's is about $0.08, dominated by the crawler, and the new pipeline cost is <= $0.005
        assert 0.07 < old.total - old.line("redshift").usd < 0.09
        assert old.line("crawler").usd > 0.5 * old.total
        assert now.total - now.line("redshift").usd <= 0.005
