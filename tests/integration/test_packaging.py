"""What ``sam build`` packages is complete: each function runs from its build folder and its layers alone.

The local emulator runs Lambdas on its own venv and merges no layers, so a dependency missing from
the layer still imports there, and a layer that shadows another's packages goes unnoticed. Here, per
function, ``/opt`` is assembled as Lambda does it: the function's layers in the template's order
(SAM: Globals layers first, then the function's own), each extracted over the previous ones, later
files overwriting earlier ones. The AWS-managed AWS SDK for pandas layer is the reproduction
``make install`` builds from constraints.txt's ``#aws-sdk-pandas-layer`` pins (the awswrangler release
of the template's ``AWSSDKPandasLayer`` mapping). Each function's ``app`` is then imported - and the
report handler RUN on events/report.json against a stubbed Data API - in a fresh ``python -I -S``
whose ``sys.path`` is what Lambda gives it: the function's build folder, ``/opt/python``, the
standard library, and the runtime's own boto3 (python3.11 ships it in ``/var/runtime``). Nothing else.

The layer carries its own boto3, pinned with the botocore the X-Ray SDK pulls in: the runtime's boto3
is never paired with the layer's (newer) botocore.

``sam build`` runs only when a source is newer than ``.aws-sam/build`` (it takes a minute).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sam_build import FUNCTIONS, ROOT

#: What the python3.11 Lambda runtime provides in /var/runtime (after the layers on sys.path).
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"]
#: The AWS SDK modules the layer carries itself (a matching pair, shadowing the runtime's).
LAYER_SDK = ("boto3", "botocore", "s3transfer")
#: Lambda's 250 MB limit for a function and its layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024
#: ``make install``'s reproduction of the AWS-managed AWS SDK for pandas layer.
PANDAS_LAYER = ROOT / ".venv" / "opt" / "aws-sdk-pandas-layer"
#: The deployment the stacks are assembled for: Redshift on (UsesRedshift), in this region.
REGION = "us-east-1"
CHILD = Path(__file__).with_name("layer_stack_child.py")
EVENTS = ROOT / "events"
#: The stack's own layers, by logical id, as sam build lays them out.
OWN_LAYERS = ("DomainLayer", "GlueArtifactsLayer")


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
glue = None
if hasattr(app, "publish"):
    from airline_pipeline.steps.glue_library import load_artifacts
    artifacts = load_artifacts()
    glue = {"script": str(artifacts.script), "wheels": [str(w) for w in artifacts.wheels]}
import boto3, botocore, s3transfer  # what the function's aws_client uses on its first call
boto3.client("dynamodb", region_name="us-east-1")  # a mismatched boto3/botocore pair fails here
sdk = {m.__name__: {"version": m.__version__, "path": os.path.realpath(m.__file__)}
       for m in (boto3, botocore, s3transfer)}
print(json.dumps({"handler": callable(getattr(app, "handler", None)), "origins": origins, "found": found,
                  "glue": glue, "sys_path": sys.path, "sdk": sdk}))
"""


# --- /opt as Lambda assembles it -------------------------------------------------------------------


def pinned_layer_version() -> str:
    """The awswrangler release constraints.txt records for the managed layer (and make install reproduces)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.startswith("#aws-sdk-pandas-layer awswrangler=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("constraints.txt has no #aws-sdk-pandas-layer awswrangler pin")


def resolve(node: Any, template: dict[str, Any]) -> Any:
    """One layer entry as CloudFormation resolves it in REGION with Redshift on (UsesRedshift true)."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, value),) = node.items()
        if key == "Fn::If":
            condition, when_true, _ = value
            assert condition == "UsesRedshift", f"layer condition {condition} is not modelled here"
            return resolve(when_true, template)
        if key == "Fn::FindInMap":
            mapping, top, second = (resolve(part, template) for part in value)
            return template["Mappings"][mapping][top][second]
        if key == "Ref":
            return {"AWS::Region": REGION, "AWS::NoValue": None}.get(value, {"Ref": value})
        if key == "Fn::Sub":
            return value.replace("${AWS::Region}", REGION).replace("${AWS::Partition}", "aws")
    return node


def layer_stack(function: str, template: dict[str, Any], build: Path) -> list[Path]:
    """The folders extracted into /opt for ``function``, in Lambda's merge order."""
    globals_ = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    own = template["Resources"][function]["Properties"].get("Layers", [])
    managed = template.get("Mappings", {}).get("AWSSDKPandasLayer", {}).get(REGION, {}).get("Python311")
    stack = []
    for entry in [*globals_, *own]:  # SAM: the Globals list, then the function's own
        layer = resolve(entry, template)
        if layer is None:
            continue
        if isinstance(layer, dict) and layer.get("Ref") in OWN_LAYERS:
            stack.append(build / layer["Ref"])
        elif layer == managed:
            stack.append(PANDAS_LAYER)
        else:
            raise AssertionError(
                f"{function} uses layer {layer}: not the domain layer, nor the AWS SDK for pandas layer of the"
                f" template's AWSSDKPandasLayer mapping for {REGION} (awswrangler {pinned_layer_version()}, the"
                " release make install reproduces)"
            )
    return stack


def assemble(stack: list[Path], opt: Path) -> Path:
    """Extract each layer over the previous ones, later files replacing earlier ones (hard links: cheap)."""
    if len(stack) == 1:
        return stack[0]
    for layer in stack:
        for source in sorted(layer.rglob("*")):
            if source.name == ".installed" or source.is_dir() or "__pycache__" in source.parts:
                continue
            target = opt / source.relative_to(layer)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
    return opt


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode  # not in the Glue (3.9) test venv, which collects this module too

    decoded, problems = decode(str(ROOT / "template.yaml"))
    assert not problems, problems
    assert decoded is not None
    return dict(decoded)


@pytest.fixture(scope="module")
def opt(build: Path, template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per function, its /opt: its layers merged in the template's order."""
    assert (PANDAS_LAYER / ".installed").is_file(), "the AWS SDK for pandas layer is not reproduced: run make install"
    return {
        function: assemble(layer_stack(function, template, build), tmp_path_factory.mktemp(f"opt-{function}"))
        for function in FUNCTIONS
    }


def import_alone(function: str, build: Path, runtime: Path, opt: Path) -> dict[str, Any]:
    """Import ``app`` of one built function with only its build folder, its /opt and the runtime."""
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
            "-B",  # no __pycache__ written into the build (or the layers)
            "-c",
            IMPORT_CHECK,
            str(build / function),
            str(opt / "python"),
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
def test_function_imports_from_its_package_alone(
    function: str, build: Path, runtime: Path, opt: dict[str, Path]
) -> None:
    # Given the function's build folder, its layers merged into /opt and the runtime's boto3 - no project venv
    # When its app module is imported in a fresh interpreter
    result = import_alone(function, build, runtime, opt[function])

    # Then it imports, and every module came from those folders
    assert result["handler"] is True
    allowed = [str((build / function).resolve()), str((opt[function] / "python").resolve())]
    allowed += [str((runtime / name).resolve()) for name in RUNTIME_PROVIDED]
    strays = {name: path for name, path in result["origins"].items() if not path.startswith(tuple(allowed))}
    assert strays == {}, f"{function} imported modules from outside its package: {strays}"
    assert not any(".venv/lib" in entry for entry in result["sys_path"])
    assert "airline_pipeline" in result["origins"]


#: The functions that read Redshift, all through the package's one reader (awswrangler's Data API reader).
REDSHIFT_READERS = ("ReportFunction", "WarehouseBootstrapFunction")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_finds_what_its_redshift_reads_need_and_no_duckdb(
    function: str, build: Path, runtime: Path, opt: dict[str, Path]
) -> None:
    # Given the function's package and layers, as Lambda assembles them for a Redshift deployment
    # When its app is imported alone
    result = import_alone(function, build, runtime, opt[function])

    # Then a function that reads Redshift finds awswrangler and pandas (the managed layer); none finds DuckDB
    reads = function in REDSHIFT_READERS
    assert result["found"] == {"awswrangler": reads, "pandas": reads, "duckdb": False}


def constraint_pins() -> dict[str, str]:
    """constraints.txt's pins for the Lambda side (Python >= 3.10): name -> version."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        requirement, _, marker = line.partition(";")
        if "==" in requirement and not line.startswith("#") and (not marker or '>= "3.10"' in marker):
            name, version = requirement.split("#")[0].strip().split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def layer_versions(layer: Path) -> dict[str, str]:
    """Name -> version of each distribution installed in a layer's python/ folder."""
    found = {}
    for info in (layer / "python").glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[name.lower().replace("_", "-")] = version
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_uses_the_layers_boto3_with_its_own_botocore(
    function: str, build: Path, runtime: Path, opt: dict[str, Path]
) -> None:
    # Given the function's package, with the runtime's boto3 on the path after /opt
    # When its app and the AWS SDK are imported alone
    result = import_alone(function, build, runtime, opt[function])

    # Then boto3, botocore and s3transfer all come from the domain layer - never the runtime's boto3 with
    # the layer's botocore - in the versions constraints.txt pins
    layer = str((opt[function] / "python").resolve())
    pins = constraint_pins()
    for name in LAYER_SDK:
        assert result["sdk"][name]["path"].startswith(layer), (function, name, result["sdk"][name])
        assert result["sdk"][name]["version"] == pins[name], (function, name)
    assert result["origins"].get("botocore", layer).startswith(layer)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_domain_layer_is_merged_last(function: str, template: dict[str, Any], build: Path) -> None:
    # Given the function's layers in the order Lambda merges them (Globals first, then its own)
    stack = layer_stack(function, template, build)

    # Then the domain layer is the last: its pydantic, typing_extensions, boto3... overwrite any other copy
    assert stack[-1] == build / "DomainLayer", stack


def test_the_managed_layer_is_one_awswrangler_release_in_every_region(template: dict[str, Any]) -> None:
    # Given the template's region -> AWS SDK for pandas layer mapping (tools/aws_sdk_pandas_layer.py)
    mapping = template["Mappings"]["AWSSDKPandasLayer"]
    version = pinned_layer_version()
    text = (ROOT / "template.yaml").read_text()

    # Then it was generated from the release whose packages make install reproduces, which has the
    # Data API reads' ``parameters`` (awswrangler >= 3.12.0), and names the python3.11 x86_64 layer per region
    assert f"# awswrangler {version}: generated by tools/aws_sdk_pandas_layer.py" in text
    assert tuple(int(part) for part in version.split(".")[:2]) >= (3, 12)
    assert layer_versions(PANDAS_LAYER)["awswrangler"] == version
    assert len(mapping) >= 20
    assert REGION in mapping
    for region, entry in mapping.items():
        assert set(entry) == {"Python311"}
        partition, service, arn_region, _account, kind, name, number = entry["Python311"].split(":")[1:]
        assert (service, arn_region, kind, name) == ("lambda", region, "layer", "AWSSDKPandas-Python311"), entry
        assert partition.startswith("aws")
        assert number.isdigit()


def test_glue_library_function_finds_the_glue_jobs_files(build: Path, runtime: Path, opt: dict[str, Path]) -> None:
    # Given the glue_library function as packaged, with GlueArtifactsLayer under the domain layer
    # When it looks for the job's files on its path (as the custom resource does)
    result = import_alone("GlueLibraryFunction", build, runtime, opt["GlueLibraryFunction"])

    # Then it finds the layer's script and every wheel its manifest lists, checksums verified
    folder = (opt["GlueLibraryFunction"] / "python" / "airline_pipeline_glue_job").resolve()
    built = build / "GlueArtifactsLayer" / "python" / "airline_pipeline_glue_job"
    assert result["glue"] is not None
    assert Path(result["glue"]["script"]).resolve() == folder / "join_and_load.py"
    assert {Path(w).resolve().parent for w in result["glue"]["wheels"]} == {folder / "wheels"}
    assert len(result["glue"]["wheels"]) == len(list((built / "wheels").glob("*.whl")))


# --- the report handler, run on its assembled stack ------------------------------------------------------


def data_api_value(value: Any) -> dict[str, Any]:
    """One GetStatementResult field as Redshift sends it: dates and timestamps are text."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, datetime):
        return {"stringValue": value.isoformat(sep=" ")}
    kinds = {bool: "booleanValue", int: "longValue", float: "doubleValue"}
    kind = kinds.get(type(value), "stringValue")
    return {kind: str(value) if kind == "stringValue" else value}


def report_calls(warehouse: Any, batch_id: str, target: dict[str, str]) -> list[dict[str, Any]]:
    """The Data API calls of the report's reads, answered with what the same SQL returns on ``warehouse``."""
    from airline_pipeline.adapters.warehouse.redshift.sql import bind
    from airline_pipeline.steps.verify_load import STATEMENTS

    calls: list[dict[str, Any]] = []
    for number, sql in enumerate(STATEMENTS, start=1):
        rows = warehouse.query(sql, {"batch_id": batch_id})
        text, parameters = bind({"batch_id": batch_id}, sql)
        statement = f"read-{number}"
        columns = list(rows[0]) if rows else []
        calls += [
            {
                "operation": "ExecuteStatement",
                "params": {"Sql": text, "Parameters": [dict(p) for p in parameters], **target},
                "response": {"Id": statement},
            },
            {
                "operation": "DescribeStatement",
                "params": {"Id": statement},
                "response": {"Id": statement, "Status": "FINISHED"},
            },
            {
                "operation": "DescribeStatement",
                "params": {"Id": statement},
                "response": {"Id": statement, "Status": "FINISHED", "HasResultSet": True},
            },
            {
                "operation": "GetStatementResult",
                "params": {"Id": statement},
                "response": {
                    "Records": [[data_api_value(row[c]) for c in columns] for row in rows],
                    "ColumnMetadata": [{"name": c} for c in columns],
                    "TotalNumRows": len(rows),
                },
            },
        ]
    return calls


def test_report_handler_runs_on_its_layer_stack(
    build: Path, runtime: Path, opt: dict[str, Path], tmp_path: Path
) -> None:
    from pydantic import TypeAdapter

    from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse
    from airline_pipeline.engine.ingest import ingest
    from airline_pipeline.steps.verify_load import BatchReport, batch_report

    # Given the sample day loaded as the event's batch - in DuckDB, whose answers the stubbed Data API replays
    event = json.loads((EVENTS / "report.json").read_text())
    env_json = json.loads((EVENTS / "env.json").read_text())["ReportFunction"]
    warehouse = DuckDBWarehouse(str(tmp_path / "warehouse.duckdb"))
    warehouse.init_schema()
    samples = ROOT / "src" / "airline_pipeline" / "samples"
    warehouse.load_airports(str(samples / "airports.csv"))
    day = tmp_path / "daily-flights" / "date=2013-01-15" / "flights_2013-01-15.csv"
    day.parent.mkdir(parents=True)
    shutil.copy(samples / "flights_2013-01-15.csv", day)
    ingest(str(day), warehouse, batch_id=event["batch_id"])
    expected = TypeAdapter(BatchReport).dump_python(batch_report(warehouse, event["batch_id"]), mode="json")
    # (rejected rows, an unknown airport: every column kind of the three reads is exercised)
    assert expected["rows_rejected"] > 0
    assert expected["unknown_airports"] > 0
    target = {"Database": "dev", "WorkgroupName": "airline-pipeline-dev"}
    assert env_json["WAREHOUSE_URI"].startswith("redshift-data://airline-pipeline-dev/dev?")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"event": event, "calls": report_calls(warehouse, event["batch_id"], target)}))
    warehouse.close()

    # When the report handler runs on events/report.json with only its package, its /opt and the runtime
    env = {
        **env_json,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "airline-pipeline-dev-report",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    stack = opt["ReportFunction"]
    argv = [
        sys.executable,
        "-I",
        "-S",
        "-B",
        str(CHILD),
        str(build / "ReportFunction"),
        str(stack / "python"),
        str(runtime),
        str(spec),
    ]
    done = subprocess.run(
        argv, cwd=build / "ReportFunction", env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])

    # Then it returns the load's report, having made exactly the expected Data API calls (with parameters)
    assert "error" not in outcome, f"{outcome['error']}\nunexpected calls: {outcome['unexpected']}"
    assert outcome["result"] == expected
    assert outcome["left_over"] == []
    assert outcome["unexpected"] == []
    # And it read through the managed layer's awswrangler, with the domain layer's pydantic stack, never DuckDB
    python = str((stack / "python").resolve())
    assert outcome["origins"]["awswrangler"].startswith(python)
    domain = build / "DomainLayer"
    shadowed = [
        str(path.relative_to(domain))
        for path in domain.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and (stack / path.relative_to(domain)).read_bytes() != path.read_bytes()
    ]
    assert shadowed == [], f"another layer overwrote the domain layer's files: {shadowed[:10]}"
    assert outcome["duckdb_imported"] is False


def test_the_lambdas_layer_carries_only_what_the_lambdas_run(build: Path) -> None:
    # Given the built domain layer
    layer = build / "DomainLayer"

    # Then it holds the package (the same build as src/) and no wheel for the Glue job
    assert sorted(path.name for path in layer.iterdir()) == ["python"]
    assert not list(layer.rglob("*.whl"))
    layer_package = layer / "python" / "airline_pipeline"
    module = "steps/notify.py"
    assert (layer_package / module).read_bytes() == (ROOT / "src" / "airline_pipeline" / module).read_bytes()
    # and nothing of the Glue job's engine
    assert not (layer / "python" / "duckdb").exists()

    # and no developer tooling (demo, emulator, deployed-stack check), but every runtime package
    def folders(package: Path) -> list[str]:
        return sorted(path.name for path in package.iterdir() if path.is_dir() and path.name != "__pycache__")

    assert folders(layer_package) == [name for name in folders(ROOT / "src" / "airline_pipeline") if name != "local"]
    assert "local" in folders(ROOT / "src" / "airline_pipeline")


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
    for module in (
        "engine/ingest.py",
        "core/contract.py",
        "engine/scan.py",
        "adapters/warehouse/duckdb.py",
        "adapters/warehouse/redshift/warehouse.py",
        "adapters/warehouse/redshift/sink.py",
    ):
        assert f"airline_pipeline/{module}" in names, module
    assert "Requires-Dist:" not in metadata
    # and the script is glue/join_and_load.py as committed
    assert (folder / "join_and_load.py").read_bytes() == (ROOT / "glue" / "join_and_load.py").read_bytes()


def test_package_sizes_fit_lambdas_limit(build: Path, template: dict[str, Any]) -> None:
    def size(folder: Path) -> int:
        return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())

    layers = {function: layer_stack(function, template, build) for function in FUNCTIONS}

    for function, stack in layers.items():
        # the AWS-managed pandas layer is AWS's to keep under the limit (its unstripped reproduction is not)
        ours = [layer for layer in stack if layer != PANDAS_LAYER]
        assert size(build / function) + sum(size(layer) for layer in ours) < UNZIPPED_LIMIT, function
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
