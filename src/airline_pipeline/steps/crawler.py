"""Step 2: refresh the Glue catalog of the data prefix (for Athena / Spectrum users).

Crawlers have no ``.sync`` integration, so the state machine loops: start, then wait and ask.
Another execution may have started the crawler already: that is fine, we wait for that crawl.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from pydantic import BaseModel


class CrawlerState(BaseModel):
    """``$.crawler`` in the state machine; the Choice state reads done / failed / timed_out."""

    state: str
    started_at: datetime
    already_running: bool = False
    done: bool = False
    failed: bool = False
    timed_out: bool = False
    last_crawl_status: Optional[str] = None
    error: Optional[str] = None
    message: Optional[str] = None


def start_crawler(glue: Any, name: str, *, now: Optional[datetime] = None) -> CrawlerState:
    """Start the crawler; ``CrawlerRunningException`` means someone else did, which is just as good."""
    started_at = now or datetime.now(timezone.utc)
    try:
        glue.start_crawler(Name=name)
    except glue.exceptions.CrawlerRunningException:
        return CrawlerState(state="RUNNING", started_at=started_at, already_running=True, message="already running")
    return CrawlerState(state="RUNNING", started_at=started_at, message="started")


def crawler_status(
    glue: Any, name: str, *, started_at: datetime, timeout_seconds: int, now: Optional[datetime] = None
) -> CrawlerState:
    """Where the crawl is: READY ends the wait; the last crawl's status says whether it worked."""
    now = now or datetime.now(timezone.utc)
    crawler = glue.get_crawler(Name=name)["Crawler"]
    state = crawler["State"]
    last = crawler.get("LastCrawl") or {}
    status = CrawlerState(state=state, started_at=started_at, last_crawl_status=last.get("Status"))
    if state == "READY":
        if last.get("Status") == "FAILED":
            return status.model_copy(
                update={
                    "done": True,
                    "failed": True,
                    "error": "CrawlerFailed",
                    "message": f"crawler {name} failed: {last.get('ErrorMessage') or 'no error message'}",
                }
            )
        return status.model_copy(update={"done": True, "message": f"crawl {last.get('Status', 'finished').lower()}"})
    waited = (now - started_at).total_seconds()
    if waited > timeout_seconds:
        return status.model_copy(
            update={
                "timed_out": True,
                "error": "CrawlerTimeout",
                "message": f"crawler {name} still {state} after {waited:.0f}s (limit {timeout_seconds}s)",
            }
        )
    return status
