"""The CLI starts light: ``--version`` and ``--help`` load no warehouse, engine or OpenSSL code (target: <= 150 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

#: Modules that cost start-up time and that printing the version does not need.
HEAVY = (
    "duckdb",
    "hashlib",
    "uuid",
    "airline_pipeline.adapters.warehouse.ports",
    "airline_pipeline.core.outcome",
    # the commands that came later: lineage events, freshness, the cost model
    "airline_pipeline.adapters.lineage",
    "airline_pipeline.core.freshness",
    "airline_pipeline.ops.freshness",
    "airline_pipeline.core.cost",
)

_PROBE = """
import contextlib, io, json, sys
from airline_pipeline.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--version"])
    except SystemExit:
        pass
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def test_version_loads_no_heavy_module() -> None:
    # Given a fresh interpreter
    # When the CLI prints its version
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY)], capture_output=True, text=True, check=True, timeout=60
    )
    # Then none of the modules that only commands need were imported
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == []
