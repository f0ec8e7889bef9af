"""The Glue job's wheels (``sam build``'s GlueArtifactsLayer) are what the job needs, and install there.

Checked on the built files, independently of how layers/glue/wheelhouse.py chose them:

* every wheel can be installed by the Glue Python shell: CPython 3.9 on x86_64 with glibc 2.26 (one of
  its tags says so), at exactly constraints.txt's pin for Python < 3.10 - a newer native release with
  only manylinux_2_28 wheels (pyarrow 21) would otherwise send Glue's pip to an sdist it cannot compile;
* the set is closed: every requirement a wheel declared is met by a wheel of the set;
* it needs no index, and it is all the job needs: a fresh Python 3.9 whose ``sys.path`` is only the
  standard library plus a folder where the wheels were installed as Glue installs ``--extra-py-files``
  (``pip install --target``, one file at a time, in the published order - here with no index at all)
  runs the job's script on the sample day into a DuckDB warehouse, and imports the Redshift warehouse
  with awswrangler's Data API reader. Nothing else is on the path, so nothing else can be imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from sam_build import ROOT

from airline_pipeline.core.defaults import SAMPLE_FLIGHTS, SAMPLES

GLUE39 = ROOT / ".venv" / "opt" / "glue39" / "bin" / "python"
#: The Python shell image's glibc: a wheel may need no newer one.
MAX_GLIBC = (2, 26)
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@pytest.fixture(scope="module")
def artifacts(build: Path) -> Path:
    return build / "GlueArtifactsLayer" / "python" / "airline_pipeline_glue_job"


@pytest.fixture(scope="module")
def manifest(artifacts: Path) -> dict[str, Any]:
    return dict(json.loads((artifacts / "manifest.json").read_text()))


def glue_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        requirement, _, marker = line.partition(";")
        if marker.strip() == 'python_version < "3.10"':
            name, _, version = requirement.strip().partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def glibc_needed(platform: str) -> tuple[int, int]:
    """The glibc a manylinux x86_64 platform tag needs; anything else cannot run on the job."""
    legacy = LEGACY_MANYLINUX.get(platform.removesuffix("_x86_64"))
    if legacy and platform.endswith("_x86_64"):
        return legacy
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
    if not match:
        raise ValueError(f"{platform} is not a manylinux x86_64 platform")
    return int(match.group(1)), int(match.group(2))


def runs_on_glue(wheel_name: str) -> bool:
    """One of the wheel's tags is CPython 3.9 (or pure Python 3) on x86_64 with glibc <= 2.26."""
    for tag in parse_wheel_filename(wheel_name)[3]:
        if tag.interpreter not in ("cp39", "py3", "py39") or tag.abi not in ("cp39", "abi3", "none"):
            continue
        if tag.platform == "any":
            return True
        try:
            if glibc_needed(tag.platform) <= MAX_GLIBC:
                return True
        except ValueError:
            continue
    return False


def test_the_checker_knows_a_wheel_glue_cannot_load() -> None:
    # The rule itself, on the names pip had to choose between (pyarrow 21 has no wheel for glibc 2.26)
    assert not runs_on_glue("pyarrow-21.0.0-cp39-cp39-manylinux_2_28_x86_64.whl")
    assert not runs_on_glue("duckdb-1.3.0-cp39-cp39-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")
    assert not runs_on_glue("numpy-2.0.2-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert not runs_on_glue("numpy-2.0.2-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    assert runs_on_glue("pyarrow-20.0.0-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert runs_on_glue("pandas-2.3.3-cp39-cp39-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl")
    assert runs_on_glue("tenacity-9.1.2-py3-none-any.whl")


def test_every_wheel_installs_on_the_glue_python_shell_at_its_exact_pin(
    artifacts: Path, manifest: dict[str, Any]
) -> None:
    # Given the wheels the job will be given (--extra-py-files), and constraints.txt's pins for 3.9
    pins = glue_pins()
    wheels = [artifacts / entry["file"] for entry in manifest["wheels"]]
    assert sorted(w.name for w in wheels) == sorted(p.name for p in (artifacts / "wheels").glob("*.whl"))

    # Then each one runs on the job's platform, and is exactly the pinned release (the package is ours)
    refused = [w.name for w in wheels if not runs_on_glue(w.name)]
    assert refused == [], f"wheels the Glue Python shell (cp39, glibc 2.26, x86_64) cannot load: {refused}"
    for wheel in wheels:
        name, version, *_ = parse_wheel_filename(wheel.name)
        if name == "airline-pipeline":
            continue
        assert pins.get(name) == str(version), f"{wheel.name} is not constraints.txt's pin ({pins.get(name)})"
        # and the file is the one the manifest describes (what the custom resource will publish)
        entry = next(e for e in manifest["wheels"] if e["file"] == f"wheels/{wheel.name}")
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"]


def test_the_wheels_meet_every_requirement_they_declared(manifest: dict[str, Any]) -> None:
    # Given what each wheel required on the job's platform (recorded before it was published without it)
    versions = {canonicalize_name(e["name"]): e["version"] for e in manifest["wheels"]}
    position = {canonicalize_name(e["name"]): i for i, e in enumerate(manifest["wheels"])}

    for index, entry in enumerate(manifest["wheels"]):
        for text in entry["requires"]:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            # Then a wheel of the set satisfies it, and comes earlier in the published order
            assert name in versions, f"{entry['name']} requires {text}: not published"
            assert requirement.specifier.contains(versions[name], prereleases=True), (entry["name"], text)
            assert position[name] < index, f"{name} is published after {entry['name']}, which requires it"
    # and the load path brings no pydantic: only the Lambdas and the CLI use it
    assert "pydantic" not in versions


JOB_RUN = r"""
import json, os, runpy, sys
target, script, flights, airports, warehouse = sys.argv[1:6]
stdlib = [p for p in sys.path if p.startswith(sys.base_prefix)]
sys.path[:] = [*stdlib, target]
from airline_pipeline.adapters.warehouse import open_warehouse
with open_warehouse(warehouse) as w:
    w.init_schema()
    w.load_airports(airports)
# the job as Glue starts it: the script as __main__, arguments as `--name value`
sys.argv = [script, "--source_uri", flights, "--warehouse", warehouse, "--batch_id", "glue-like-run"]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as done:
    assert done.code in (0, None), done.code
# the Redshift side of the job: the warehouse and awswrangler's Data API reader import and configure
from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse
from awswrangler.data_api import redshift as data_api
RedshiftWarehouse.from_uri(
    "redshift-data://analytics/dev?iam_role=arn:aws:iam::123456789012:role/copy&staging=s3://stage-bucket/staging/"
).data
with open_warehouse(warehouse) as w:
    rows = w.query("SELECT count(*) AS n FROM airlines.daily_flights_fact WHERE batch_id = 'glue-like-run'")
origins = sorted({
    os.path.realpath(getattr(m, "__file__", None) or "")
    .split(os.path.realpath(target) + os.sep, 1)[-1].split(os.sep)[0]
    for m in list(sys.modules.values())
    if (getattr(m, "__file__", None) or "").startswith(target)
})
print(json.dumps({"rows": rows[0]["n"], "from_target": origins, "sys_path": sys.path,
                  "callable": callable(data_api.read_sql_query)}))
"""


@pytest.fixture(scope="module")
def installed_like_glue(artifacts: Path, manifest: dict[str, Any]) -> Path:
    """The wheels installed as Glue installs ``--extra-py-files``: one ``pip install --target`` per file,
    in the published order - with no index at all, so a wheel that still needed one fails here.

    Cached per manifest (every wheel's checksum): ~25 s the first time, nothing after."""
    key = hashlib.sha256((artifacts / "manifest.json").read_bytes()).hexdigest()[:16]
    target = ROOT / ".aws-sam" / f"glue-installed-{key}"
    if (target / ".complete").is_file():
        return target
    for stale in target.parent.glob("glue-installed-*"):  # ~400 MB each: keep only this build's
        shutil.rmtree(stale, ignore_errors=True)
    pip = [str(GLUE39), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-compile"]
    for entry in manifest["wheels"]:
        done = subprocess.run(
            [*pip, "--no-index", "--target", str(target), str(artifacts / entry["file"])],
            capture_output=True,
            text=True,
            check=False,
        )
        noise = "is ignored: it is neither a file nor a directory"
        errors = "\n".join(line for line in done.stderr.splitlines() if noise not in line)
        assert done.returncode == 0, f"{entry['file']} does not install alone without an index:\n{errors}"
    (target / ".complete").touch()
    return target


def test_the_job_runs_on_python39_with_only_the_published_wheels(
    installed_like_glue: Path, artifacts: Path, tmp_path: Path
) -> None:
    # Given a fresh Python 3.9 that sees only the standard library and the installed wheels
    day = tmp_path / "daily-flights" / "date=2013-01-15" / "flights.csv"
    day.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLE_FLIGHTS, day)
    warehouse = f"duckdb://{tmp_path / 'warehouse.duckdb'}"

    # When the published script runs as the job, and the Redshift warehouse is set up
    script = artifacts / "join_and_load.py"
    arguments = [str(installed_like_glue), str(script), str(day), str(SAMPLES / "airports.csv"), warehouse]
    done = subprocess.run(
        [str(GLUE39), "-I", "-S", "-c", JOB_RUN, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1"},
        check=False,
    )

    # Then it loads the day, and everything it imported came from the published wheels or the stdlib
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == 895
    assert result["sys_path"][-1] == str(installed_like_glue)
    assert not any(".venv" in entry or "site-packages" in entry for entry in result["sys_path"])
    assert {"airline_pipeline", "duckdb", "awswrangler", "pyarrow", "pandas", "boto3"} <= set(result["from_target"])
    assert os.path.isdir(installed_like_glue / "airline_pipeline")
