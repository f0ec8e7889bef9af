"""``sam build`` output for the current sources, shared by the tests that inspect what it packages.

``sam build`` runs only when a source is newer than ``.aws-sam/build`` (uncached it takes ~30 s:
the Glue layer downloads ~110 MB of wheels; sam's cache makes a rebuild a few seconds).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
#: Folders every built function is checked for (template.yaml's functions).
FUNCTIONS = [
    "ValidateFunction",
    "CrawlerFunction",
    "ReportFunction",
    "NotifyFunction",
    "GlueLibraryFunction",
    "WarehouseBootstrapFunction",
    "AdmissionFunction",
    "FreshnessFunction",
]


def sources() -> Iterator[Path]:
    """Every file a build depends on."""
    for name in ("template.yaml", "pyproject.toml", "constraints.txt", "samconfig.toml"):
        yield ROOT / name
    for folder in ("functions", "src/airline_pipeline", "layers/domain", "layers/glue", "glue", "statemachine"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path


def build_is_fresh() -> bool:
    marker = BUILD / "template.yaml"
    if not marker.is_file() or not all((BUILD / name / "app.py").is_file() for name in FUNCTIONS):
        return False
    built = marker.stat().st_mtime
    return all(path.stat().st_mtime < built for path in sources())


def sam_build() -> Path:
    """``sam build`` output for the current sources (built now unless it is already fresh)."""
    BUILD.parent.mkdir(exist_ok=True)
    with (BUILD.parent / "test-packaging.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs must not build into one folder at once
        if not build_is_fresh():
            env = {
                **os.environ,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "SAM_CLI_TELEMETRY": "0",
            }
            env.pop("AWS_PROFILE", None)
            sam = Path(sys.executable).parent / "sam"
            done = subprocess.run(
                [str(sam), "build"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
            )
            assert done.returncode == 0, f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            (BUILD / "template.yaml").touch()  # the build is as new as this moment's sources
        assert build_is_fresh(), "a source changed while sam build ran: run the tests again"
    return BUILD
