"""Test-only: make the emulator's Glue enforce a job's MaxConcurrentRuns, as AWS Glue does.

MiniStack accepts ``ExecutionProperty.MaxConcurrentRuns`` and ignores it: every ``StartJobRun``
starts. In AWS the run beyond the limit fails with ``ConcurrentRunsExceededException``. Loaded by
sitecustomize.py in the emulator's own process when ``AIRLINE_PIPELINE_GLUE_MAX_CONCURRENT_RUNS``
is set: once ``ministack.services.glue`` is imported, :func:`wrap` wraps its ``_start_job_run`` to refuse a
run while that many runs of the job are STARTING/RUNNING/STOPPING. The burst test then passes only
if the pipeline waits for a slot. Every accepted and refused start is one JSON line in
``AIRLINE_PIPELINE_GLUE_LIMIT_LOG`` (the test reads the peak and the refusals).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

_ACTIVE = ("STARTING", "RUNNING", "STOPPING")
_lock = threading.Lock()


def _limit() -> int:
    return int(os.environ["AIRLINE_PIPELINE_GLUE_MAX_CONCURRENT_RUNS"])


def _log(line: dict[str, Any]) -> None:
    path = os.environ.get("AIRLINE_PIPELINE_GLUE_LIMIT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")


def wrap(glue: Any) -> None:
    """Wrap ``ministack.services.glue._start_job_run`` with the limit (sitecustomize calls it on import)."""
    start = glue._start_job_run
    from ministack.core.responses import error_response_json

    def limited_start_job_run(data: dict[str, Any]) -> Any:
        job = data.get("JobName")
        with _lock:  # count and start atomically: two requests must not both see the last free slot
            runs = glue._job_runs.get(job) or []
            active = sum(1 for run in runs if run.get("JobRunState") in _ACTIVE)
            if active >= _limit():
                _log({"t": time.time(), "job": job, "active": active, "refused": True})
                return error_response_json(
                    "ConcurrentRunsExceededException",
                    f"Concurrent runs exceeded for {job}: {active} of {_limit()} running",
                    400,
                )
            response = start(data)
            _log({"t": time.time(), "job": job, "active": active + 1, "refused": False})
            return response

    glue._start_job_run = limited_start_job_run
    glue._resolve_script = _private_script_copy(glue._resolve_script)


def _private_script_copy(resolve: Any) -> Any:
    """Give each run its own copy of the job's script.

    MiniStack writes an S3 script to one shared temp path per key on every run (``open(path, "wb")``),
    so a run starting while another rewrites the file can read it empty: python exits 0 and the run
    SUCCEEDS without running (seen in the 200-file burst: the report step then fails the execution).
    Each run gets the script's bytes in a directory of its own, under the same file name.
    """
    import shutil
    import tempfile

    def resolve_privately(location: str) -> Any:
        with _lock:  # no rewrite of the shared copy while this run copies it
            shared = resolve(location)
            if not shared or not location.startswith("s3://"):
                return shared
            private = os.path.join(tempfile.mkdtemp(prefix="glue-run-"), os.path.basename(shared))
            shutil.copyfile(shared, private)
        return private

    return resolve_privately
