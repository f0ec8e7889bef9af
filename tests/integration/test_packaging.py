"""What ``sam build`` packages is complete: each function imports from its build folder and its layers alone.

The local emulator runs Lambdas on its own venv, so a dependency missing from the layer still imports
there. Here each function's ``app`` module is imported in a fresh ``python -I -S`` whose ``sys.path``
is what Lambda gives it: the standard library, the function's build folder, its layers' ``python/``
folders, and the runtime's own boto3 (python3.11 ships it in ``/var/runtime``). Nothing else.

The layer carries its own boto3, pinned with the botocore the X-Ray SDK pulls in: the runtime's boto3
is never paired with the layer's (newer) botocore.

The ``build`` fixture (conftest.py) runs ``sam build`` only when a source is newer than its output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sam_build import FUNCTIONS, ROOT

#: Layers beyond the domain layer (template.yaml): the Glue job's files go to the publisher only.
EXTRA_LAYERS = {"GlueLibraryFunction": ["GlueArtifactsLayer"]}
#: What the python3.11 Lambda runtime provides in /var/runtime (after the layers on sys.path).
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"]
#: The AWS SDK modules the layer carries itself (a matching pair, shadowing the runtime's).
LAYER_SDK = ("boto3", "botocore", "s3transfer")
#: Lambda's 250 MB limit for a function and its layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024


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
function_dir, runtime_dir, *layer_dirs = sys.argv[1:]
stdlib = [p for p in sys.path if p.startswith(sys.base_prefix)]
sys.path[:] = [function_dir, *layer_dirs, *stdlib, runtime_dir]
import app
origins = {}
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and not any(os.path.realpath(path).startswith(os.path.realpath(p)) for p in stdlib):
        origins[name.split(".")[0]] = os.path.realpath(path)
found = {name: importlib.util.find_spec(name) is not None for name in ("awswrangler", "pandas", "duckdb")}
glue = None
if hasattr(app, "publish"):
    from airline_pipeline.glue_library import load_artifacts
    artifacts = load_artifacts()
    glue = {"script": str(artifacts.script), "wheels": [str(w) for w in artifacts.wheels]}
import boto3, botocore, s3transfer  # what the function's aws_client uses on its first call
boto3.client("dynamodb", region_name="us-east-1")  # a mismatched boto3/botocore pair fails here
sdk = {m.__name__: {"version": m.__version__, "path": os.path.realpath(m.__file__)}
       for m in (boto3, botocore, s3transfer)}
print(json.dumps({"handler": callable(getattr(app, "handler", None)), "origins": origins, "found": found,
                  "glue": glue, "sys_path": sys.path, "sdk": sdk}))
"""


def layer_dirs(function: str, build: Path) -> list[Path]:
    """The ``python/`` folders of a function's layers, in the template's order (Globals first)."""
    return [build / layer / "python" for layer in ["DomainLayer", *EXTRA_LAYERS.get(function, [])]]


def import_alone(function: str, build: Path, runtime: Path) -> dict[str, Any]:
    """Import ``app`` of one built function with only its build folder, its layers and the runtime."""
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
            str(runtime),
            *map(str, layer_dirs(function, build)),
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
    allowed = [str((build / function).resolve()), *(str(d.resolve()) for d in layer_dirs(function, build))]
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


def test_glue_library_function_finds_the_glue_jobs_files(build: Path, runtime: Path) -> None:
    # Given the glue_library function as packaged, with GlueArtifactsLayer
    # When it looks for the job's files on its path (as the custom resource does)
    result = import_alone("GlueLibraryFunction", build, runtime)

    # Then it finds the layer's script and every wheel its manifest lists, checksums verified
    folder = (build / "GlueArtifactsLayer" / "python" / "airline_pipeline_glue_job").resolve()
    assert result["glue"] is not None
    assert Path(result["glue"]["script"]).resolve() == folder / "join_and_load.py"
    assert {Path(w).resolve().parent for w in result["glue"]["wheels"]} == {folder / "wheels"}
    assert len(result["glue"]["wheels"]) == len(list((folder / "wheels").glob("*.whl")))


def test_the_lambdas_layer_carries_only_what_the_lambdas_run(build: Path) -> None:
    # Given the built domain layer
    layer = build / "DomainLayer"

    # Then it holds the package (the same build as src/) and no wheel for the Glue job
    assert sorted(path.name for path in layer.iterdir()) == ["python"]
    assert not list(layer.rglob("*.whl"))
    layer_package = layer / "python" / "airline_pipeline"
    assert (layer_package / "ingest.py").read_bytes() == (ROOT / "src" / "airline_pipeline" / "ingest.py").read_bytes()
    # and nothing of the Glue job's engine
    assert not (layer / "python" / "duckdb").exists()


def test_the_glue_layer_holds_the_packages_wheel_with_the_code_the_job_runs(build: Path) -> None:
    # Given the built Glue artifacts
    folder = build / "GlueArtifactsLayer" / "python" / "airline_pipeline_glue_job"
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    (wheel,) = (folder / "wheels").glob("airline_pipeline-*.whl")

    # Then the package's wheel is this version, with the job's modules and no declared dependencies
    assert wheel.name == f"airline_pipeline-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"airline_pipeline-{version}.dist-info/METADATA").decode()
    for module in ("ingest.py", "contract.py", "transform.py", "warehouse/duckdb.py", "warehouse/redshift.py"):
        assert f"airline_pipeline/{module}" in names, module
    assert "Requires-Dist:" not in metadata
    # and the script is glue/join_and_load.py as committed
    assert (folder / "join_and_load.py").read_bytes() == (ROOT / "glue" / "join_and_load.py").read_bytes()


def test_package_sizes_fit_lambdas_limit(build: Path) -> None:
    def size(folder: Path) -> int:
        return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())

    for function in FUNCTIONS:
        layers = sum(size(folder.parent) for folder in layer_dirs(function, build))
        assert size(build / function) + layers < UNZIPPED_LIMIT, function
    # the functions themselves are just their handler: everything shared is in the layer
    for function in FUNCTIONS:
        assert sorted(path.name for path in (build / function).iterdir() if path.name != "__pycache__") == ["app.py"]


@pytest.mark.parametrize(("layer", "target"), [("domain", "build-DomainLayer"), ("glue", "build-GlueArtifactsLayer")])
def test_a_fresh_clone_builds_the_layers_without_the_project_venv(tmp_path: Path, layer: str, target: str) -> None:
    # Given a checkout where `make install` has not run yet (no .venv next to the Makefile's root)
    makefile = tmp_path / "layers" / layer / "Makefile"
    makefile.parent.mkdir(parents=True)
    makefile.write_text((ROOT / "layers" / layer / "Makefile").read_text())
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}

    # When sam runs the layer's build target (dry run: the commands make would execute)
    done = subprocess.run(
        ["make", "--dry-run", "-f", str(makefile), target, f"ARTIFACTS_DIR={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )

    # Then every Python it calls is one that exists: a plain python3 with pip will do
    pythons = {word for word in done.stdout.split() if re.search(r"/python[0-9.]*$", word)}
    assert pythons, done.stdout
    assert all(Path(python).exists() for python in pythons), pythons
    assert ".venv" not in done.stdout
