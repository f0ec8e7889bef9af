"""What ``sam build`` packages is complete: each function imports from its build folder and the layer alone.

The local emulator runs Lambdas on its own venv, so a dependency missing from the layer still imports
there. Here each function's ``app`` module is imported in a fresh ``python -I -S`` whose ``sys.path``
is what Lambda gives it: the standard library, the function's build folder, the layer's ``python/``
folder, and the runtime's own boto3 (python3.11 ships it in ``/var/runtime``). Nothing else.

The layer carries its own boto3, pinned with the botocore the X-Ray SDK pulls in: the runtime's boto3
is never paired with the layer's (newer) botocore.

``sam build`` runs only when a source is newer than ``.aws-sam/build`` (it takes a minute).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "DomainLayer"
FUNCTIONS = ["ValidateFunction", "CrawlerFunction", "ReportFunction", "NotifyFunction", "GlueLibraryFunction"]
#: What the python3.11 Lambda runtime provides in /var/runtime (after the layers on sys.path).
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"]
#: The AWS SDK modules the layer carries itself (a matching pair, shadowing the runtime's).
LAYER_SDK = ("boto3", "botocore", "s3transfer")
#: Lambda's 250 MB limit for a function and its layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024


def sources() -> Iterator[Path]:
    """Every file a build depends on."""
    for name in ("template.yaml", "pyproject.toml", "constraints.txt", "samconfig.toml"):
        yield ROOT / name
    for folder in ("functions", "src/airline_pipeline", "layers/domain", "statemachine"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path


def build_is_fresh() -> bool:
    marker = BUILD / "template.yaml"
    if not marker.is_file() or not all((BUILD / name / "app.py").is_file() for name in FUNCTIONS):
        return False
    built = marker.stat().st_mtime
    return all(path.stat().st_mtime < built for path in sources())


@pytest.fixture(scope="module")
def build() -> Path:
    """Given ``sam build`` output for the current sources (built now unless it is already fresh)."""
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


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the Lambda runtime's /var/runtime: boto3 and its dependencies, nothing else."""
    import boto3

    site = Path(boto3.__file__).resolve().parent.parent
    folder = tmp_path_factory.mktemp("var-runtime")
    for name in RUNTIME_PROVIDED:
        (folder / name).symlink_to(site / name)
    return folder


IMPORT_CHECK = r"""
import importlib.util, json, os, sys
function_dir, layer_dir, runtime_dir = sys.argv[1:4]
stdlib = [p for p in sys.path if p.startswith(sys.base_prefix)]
sys.path[:] = [function_dir, layer_dir, *stdlib, runtime_dir]
import app
origins = {}
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and not any(os.path.realpath(path).startswith(os.path.realpath(p)) for p in stdlib):
        origins[name.split(".")[0]] = os.path.realpath(path)
found = {name: importlib.util.find_spec(name) is not None for name in ("awswrangler", "pandas", "duckdb")}
wheel = None
if hasattr(app, "publish_wheel"):
    from airline_pipeline.glue_library import layer_wheel
    wheel = str(layer_wheel())
import boto3, botocore, s3transfer  # what the function's aws_client uses on its first call
boto3.client("dynamodb", region_name="us-east-1")  # a mismatched boto3/botocore pair fails here
sdk = {m.__name__: {"version": m.__version__, "path": os.path.realpath(m.__file__)}
       for m in (boto3, botocore, s3transfer)}
print(json.dumps({"handler": callable(getattr(app, "handler", None)), "origins": origins, "found": found,
                  "wheel": wheel, "sys_path": sys.path, "sdk": sdk}))
"""


def import_alone(function: str, build: Path, runtime: Path) -> dict[str, Any]:
    """Import ``app`` of one built function with only its build folder, the layer and the runtime."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"airline-pipeline-dev-{function.removesuffix('Function').lower()}",
        "POWERTOOLS_SERVICE_NAME": "airline-pipeline",
        "POWERTOOLS_METRICS_NAMESPACE": "AirlinePipeline",
        "POWERTOOLS_TRACE_DISABLED": "false",  # as deployed to AWS: the tracer and its X-Ray SDK load
    }
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            IMPORT_CHECK,
            str(build / function),
            str(build / "DomainLayer" / "python"),
            str(runtime),
        ],
        cwd=build / function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{function} does not import from its package alone:\n{done.stderr[-4000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_imports_from_its_package_alone(function: str, build: Path, runtime: Path) -> None:
    # Given the function's build folder, the layer and the runtime's boto3 - and no project venv
    # When its app module is imported in a fresh interpreter
    result = import_alone(function, build, runtime)

    # Then it imports, and every module came from those folders
    assert result["handler"] is True
    allowed = [str((build / function).resolve()), str((build / "DomainLayer" / "python").resolve())]
    allowed += [str((runtime / name).resolve()) for name in RUNTIME_PROVIDED]
    strays = {name: path for name, path in result["origins"].items() if not path.startswith(tuple(allowed))}
    assert strays == {}, f"{function} imported modules from outside its package: {strays}"
    assert not any(".venv" in entry for entry in result["sys_path"])
    assert "airline_pipeline" in result["origins"]


def constraint_pins() -> dict[str, str]:
    """constraints.txt's pins for the Lambda side (Python >= 3.10): name -> version."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        requirement, _, marker = line.partition(";")
        if "==" in requirement and (not marker or '>= "3.10"' in marker):
            name, version = requirement.split("#")[0].strip().split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_uses_the_layers_boto3_with_its_own_botocore(function: str, build: Path, runtime: Path) -> None:
    # Given the function's package, with the runtime's boto3 on the path after the layer
    # When its app and the AWS SDK are imported alone
    result = import_alone(function, build, runtime)

    # Then boto3, botocore and s3transfer all come from the layer - never the runtime's boto3 with the
    # layer's botocore - in the versions constraints.txt pins
    layer = str((build / "DomainLayer" / "python").resolve())
    pins = constraint_pins()
    for name in LAYER_SDK:
        assert result["sdk"][name]["path"].startswith(layer), (function, name, result["sdk"][name])
        assert result["sdk"][name]["version"] == pins[name], (function, name)
    assert result["origins"].get("botocore", layer).startswith(layer)


def test_report_imports_without_awswrangler(build: Path, runtime: Path) -> None:
    # Given the report function's package: awswrangler comes from the AWS SDK for pandas layer in AWS
    # When it is imported alone
    result = import_alone("ReportFunction", build, runtime)

    # Then it imports with neither awswrangler nor pandas (nor DuckDB) anywhere on its path
    assert result["found"] == {"awswrangler": False, "pandas": False, "duckdb": False}
    assert not {"awswrangler", "pandas", "duckdb"} & set(result["origins"])


def test_glue_library_function_finds_the_layers_wheel(build: Path, runtime: Path) -> None:
    # Given the glue_library function as packaged
    # When it looks for the wheel next to the layer's package (as the custom resource does)
    result = import_alone("GlueLibraryFunction", build, runtime)

    # Then it finds the one in the layer's dist/
    assert result["wheel"] is not None
    assert Path(result["wheel"]).parent.resolve() == (build / "DomainLayer" / "dist").resolve()


def test_layer_dist_holds_the_packages_wheel(build: Path) -> None:
    # Given the built layer
    wheels = sorted((build / "DomainLayer" / "dist").glob("airline_pipeline-*.whl"))

    # Then dist/ holds exactly one wheel of this version, with the code the Glue job runs
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert [wheel.name for wheel in wheels] == [f"airline_pipeline-{version}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"airline_pipeline-{version}.dist-info/METADATA").decode()
    for module in ("ingest.py", "contract.py", "transform.py", "warehouse/duckdb.py", "steps/validate.py"):
        assert f"airline_pipeline/{module}" in names, module
    assert "Requires-Dist: pydantic>=2" in metadata
    assert 'Requires-Dist: duckdb; extra == "engine"' in metadata
    # and the layer's package is that same build
    layer_package = build / "DomainLayer" / "python" / "airline_pipeline"
    assert (layer_package / "ingest.py").read_bytes() == (ROOT / "src" / "airline_pipeline" / "ingest.py").read_bytes()


def test_package_sizes_fit_lambdas_limit(build: Path) -> None:
    def size(folder: Path) -> int:
        return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())

    layer = size(build / "DomainLayer")
    for function in FUNCTIONS:
        assert size(build / function) + layer < UNZIPPED_LIMIT, function
    # the functions themselves are just their handler: everything shared is in the layer
    for function in FUNCTIONS:
        assert sorted(path.name for path in (build / function).iterdir() if path.name != "__pycache__") == ["app.py"]
