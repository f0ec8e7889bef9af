"""The package's folders are layers (docs/architecture.md): a module imports only its own layer or lower ones."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "airline_pipeline"
#: Lower number = lower layer. steps/ and ops/ are siblings: neither imports the other.
LAYERS = {"core": 0, "engine": 1, "adapters": 2, "steps": 3, "ops": 3, "local": 4, "cli": 5}
#: The one orchestrator below adapters/: ingest opens the source and hands the prepared file to a warehouse.
ALLOWED = {("engine/ingest.py", "adapters")}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("airline_pipeline."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("airline_pipeline.")}
    return found


def test_no_module_imports_a_higher_layer() -> None:
    # Given every module of the package, with the layer its folder names
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        layer = relative.split("/", 1)[0].removesuffix(".py")
        if layer not in LAYERS:
            continue
        # Then nothing it imports sits higher (or beside it, for steps/ and ops/)
        for target in imports(path) & set(LAYERS):
            higher = LAYERS[target] > LAYERS[layer] or (LAYERS[target] == LAYERS[layer] and target != layer)
            if higher and (relative, target) not in ALLOWED:
                upward.append(f"{relative} -> {target}")
    assert upward == []


def test_core_and_engine_import_no_pydantic_and_no_aws_sdk() -> None:
    # Given the modules the Glue job's load path runs (Python 3.9, no pydantic in its wheels)
    for folder in ("core", "engine"):
        for path in (PACKAGE / folder).glob("*.py"):
            tree = ast.parse(path.read_text())
            names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            # Then none of them imports pydantic or boto3 (the adapters do the AWS calls)
            assert not names & {"pydantic", "boto3", "botocore", "awswrangler"}, path
