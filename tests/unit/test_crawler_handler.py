"""CrawlerFunction: start the Glue crawler (already running is fine), then report its state to the wait loop.

Starting runs on moto's Glue; the crawl outcomes moto cannot produce (a FAILED last crawl, a crawl
that never ends) come from a botocore Stubber with Glue's real response shapes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from lambda_support import Stack, emitted_metrics, env_json, load_event, load_function

# The crawler function counts every call: an empty flush (Powertools warns) is a regression.
pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish")

Invoke = Callable[..., Any]
CRAWLER = env_json()["CrawlerFunction"]["CRAWLER_NAME"]
TIMEOUT = int(env_json()["CrawlerFunction"]["CRAWLER_TIMEOUT_SECONDS"])


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def glue_stub(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Any:
    """The crawler function's Glue client, replaced by a stubbed one the test scripts."""
    glue = boto3.client("glue", region_name="us-east-1")
    monkeypatch.setattr(load_function("crawler"), "aws_client", lambda service: glue)
    with Stubber(glue) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def crawler_response(state: str, last_crawl: dict[str, Any] | None = None) -> dict[str, Any]:
    """``GetCrawler`` as Glue answers it for the stack's crawler."""
    crawler: dict[str, Any] = {
        "Name": CRAWLER,
        "Role": "arn:aws:iam::123456789012:role/airline-pipeline-dev-CrawlerRole-1Q2W3E4R5T6Y",
        "Targets": {"S3Targets": [{"Path": "s3://airline-pipeline-dev-123456789012-us-east-1/daily-flights/"}]},
        "DatabaseName": "airline_pipeline_dev",
        "State": state,
        "CrawlElapsedTime": 48_000 if state == "RUNNING" else 0,
        "CreationTime": datetime(2026, 11, 20, 9, 14, 2, tzinfo=timezone.utc),
        "LastUpdated": datetime(2026, 11, 20, 9, 14, 2, tzinfo=timezone.utc),
        "Version": 1,
    }
    if last_crawl is not None:
        crawler["LastCrawl"] = {
            "LogGroup": "/aws-glue/crawlers",
            "LogStream": CRAWLER,
            "MessagePrefix": "6f1d3c2a-9b8e-4e7f-a1d2-3c4b5a697887",
            "StartTime": datetime(2026, 11, 23, 21, 32, 4, tzinfo=timezone.utc),
            **last_crawl,
        }
    return {"Crawler": crawler}


def test_start_starts_the_crawler(stack: Stack, invoke: Invoke) -> None:
    # Given the crawler is idle
    assert stack.glue.get_crawler(Name=CRAWLER)["Crawler"]["State"] == "READY"
    before = datetime.now(timezone.utc)

    # When the StartCrawler state invokes the function
    result = invoke("crawler", load_event("crawler_start"))

    # Then the crawler runs, and the state carries when this execution started waiting for it
    assert stack.glue.get_crawler(Name=CRAWLER)["Crawler"]["State"] == "RUNNING"
    assert result["state"] == "RUNNING"
    assert result["already_running"] is False
    assert result["message"] == "started"
    assert (result["done"], result["failed"], result["timed_out"]) == (False, False, False)
    assert datetime.fromisoformat(result["started_at"]) >= before


def test_crawler_already_running_is_not_an_error(stack: Stack, invoke: Invoke) -> None:
    # Given another execution started the crawler a moment ago
    stack.glue.start_crawler(Name=CRAWLER)

    # When this execution starts it too (Glue answers CrawlerRunningException)
    result = invoke("crawler", load_event("crawler_start"))

    # Then it simply waits for that crawl
    assert result["state"] == "RUNNING"
    assert result["already_running"] is True
    assert result["message"] == "already running"
    assert result["failed"] is False


def test_missing_crawler_raises_for_the_state_machine_catch(stack: Stack, invoke: Invoke) -> None:
    # Given the crawler is gone (deleted, or CRAWLER_NAME is wrong)
    stack.glue.delete_crawler(Name=CRAWLER)

    # When the function starts it, Then it fails (Retry, then Catch -> NotifyFailure) naming the crawler
    with pytest.raises(ClientError, match=CRAWLER) as raised:
        invoke("crawler", load_event("crawler_start"))
    assert raised.value.response["Error"]["Code"] == "EntityNotFoundException"


@pytest.mark.parametrize("name", ["crawler_start", "crawler_status"])
def test_every_call_is_counted(stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str], name: str) -> None:
    # Given the crawler (idle, or started by this execution)
    if name == "crawler_status":
        stack.glue.start_crawler(Name=CRAWLER)
    capsys.readouterr()

    # When the function starts it or checks on it
    invoke("crawler", load_event(name))

    # Then it publishes its metric (CloudWatch EMF on stdout): never an empty flush
    assert emitted_metrics(capsys.readouterr().out) == {"CrawlerChecks": 1.0}


def test_finished_crawl_ends_the_wait(glue_stub: Stubber, invoke: Invoke) -> None:
    # Given the crawl finished
    glue_stub.add_response("get_crawler", crawler_response("READY", {"Status": "SUCCEEDED"}), {"Name": CRAWLER})
    event = load_event("crawler_status")

    # When GetCrawlerState asks
    result = invoke("crawler", event)

    # Then the Choice state moves on to the load
    assert result["done"] is True
    assert result["failed"] is False
    assert result["timed_out"] is False
    assert result["last_crawl_status"] == "SUCCEEDED"
    assert result["message"] == "crawl succeeded"
    assert result["started_at"] == event["started_at"]


def test_failed_crawl_is_reported_with_its_message(glue_stub: Stubber, invoke: Invoke) -> None:
    # Given the last crawl FAILED
    reason = (
        "Insufficient Lake Formation permission(s) on airline_pipeline_dev "
        "(Database name: airline_pipeline_dev) (Service: AWSGlue; Status Code: 400; Error Code: AccessDeniedException)"
    )
    last = {"Status": "FAILED", "ErrorMessage": reason}
    glue_stub.add_response("get_crawler", crawler_response("READY", last), {"Name": CRAWLER})

    # When GetCrawlerState asks
    result = invoke("crawler", load_event("crawler_status"))

    # Then it is a result the Choice routes to CrawlerFailed, carrying Glue's reason
    assert result["failed"] is True
    assert result["error"] == "CrawlerFailed"
    assert result["last_crawl_status"] == "FAILED"
    assert CRAWLER in result["message"]
    assert reason in result["message"]


def test_failed_crawl_without_a_message_still_says_so(glue_stub: Stubber, invoke: Invoke) -> None:
    # Given a FAILED crawl whose ErrorMessage is absent
    glue_stub.add_response("get_crawler", crawler_response("READY", {"Status": "FAILED"}), {"Name": CRAWLER})

    # When GetCrawlerState asks
    result = invoke("crawler", load_event("crawler_status"))

    # Then the failure is still reported, with a placeholder instead of "None"
    assert result["failed"] is True
    assert result["message"].endswith("failed: no error message")


def test_running_crawl_keeps_the_loop_waiting(glue_stub: Stubber, invoke: Invoke) -> None:
    # Given a crawl that started a minute ago and is still running
    glue_stub.add_response("get_crawler", crawler_response("RUNNING"), {"Name": CRAWLER})
    event = {**load_event("crawler_status"), "started_at": iso(datetime.now(timezone.utc) - timedelta(minutes=1))}

    # When GetCrawlerState asks
    result = invoke("crawler", event)

    # Then nothing is decided yet: the Choice's Default goes back to WaitForCrawler
    assert result["state"] == "RUNNING"
    assert (result["done"], result["failed"], result["timed_out"]) == (False, False, False)
    assert result["error"] is None


@pytest.mark.parametrize("state", ["RUNNING", "STOPPING"])
def test_crawl_past_the_timeout_gives_up(glue_stub: Stubber, invoke: Invoke, state: str) -> None:
    # Given a crawl still going CRAWLER_TIMEOUT_SECONDS after this execution started waiting for it
    glue_stub.add_response("get_crawler", crawler_response(state), {"Name": CRAWLER})
    started = datetime.now(timezone.utc) - timedelta(seconds=TIMEOUT + 60)
    event = {**load_event("crawler_status"), "started_at": iso(started)}

    # When GetCrawlerState asks
    result = invoke("crawler", event)

    # Then the wait ends as a timeout the Choice routes to CrawlerFailed
    assert result["timed_out"] is True
    assert result["done"] is False
    assert result["error"] == "CrawlerTimeout"
    assert f"still {state}" in result["message"]
    assert f"(limit {TIMEOUT}s)" in result["message"]
