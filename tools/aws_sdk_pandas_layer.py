"""Pin the AWS-managed AWS SDK for pandas layer (python3.11, x86_64) from one aws-sdk-pandas release.

Why: the managed layer ``AWSSDKPandas-Python311:<N>`` has a different version number N in every
region for the same awswrangler release (its docs/source/layers.rst has one table per release), so a
hard-coded ``:N`` is a different awswrangler in each region. This script reads, at one release tag of
a local clone of https://github.com/aws/aws-sdk-pandas:

- ``docs/source/layers.rst``  -> template.yaml ``Mappings: AWSSDKPandasLayer`` (region -> layer ARN);
- ``building/lambda/build-lambda-layer.sh`` (pyarrow version, extras) and ``uv.lock`` (the release's
  resolved dependency versions) -> the ``#aws-sdk-pandas-layer`` lines of constraints.txt: what the
  layer ships, which ``make install`` reproduces in ``.venv/opt/aws-sdk-pandas-layer`` for the
  layer-stack test (tests/integration/test_layer_stack.py).

Both blocks are rewritten between their BEGIN/END markers; nothing else in either file changes.

    git clone https://github.com/aws/aws-sdk-pandas /tmp/aws-sdk-pandas
    .venv/bin/python tools/aws_sdk_pandas_layer.py --repo /tmp/aws-sdk-pandas --tag 3.17.0
    make install   # rebuilds the reproduced layer when constraints.txt changed
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomllib
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.11"
ARCH = "x86_64"
LAYER_NAME = "AWSSDKPandas-Python311"
#: The Lambda python3.11 x86_64 environment whose markers decide which locked versions apply.
ENVIRONMENT = {
    "python_full_version": "3.11.9",
    "python_version": "3.11",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
#: What build-lambda-layer.sh deletes from the layer after installing (the runtime provides them).
REMOVED_FROM_LAYER = re.compile(r"^(boto.*|urllib3|s3transfer)$")

TEMPLATE_BEGIN = "  # BEGIN aws-sdk-pandas-layer"
TEMPLATE_END = "  # END aws-sdk-pandas-layer"
CONSTRAINTS_BEGIN = "# BEGIN aws-sdk-pandas-layer"
CONSTRAINTS_END = "# END aws-sdk-pandas-layer"
PIN_PREFIX = "#aws-sdk-pandas-layer "

_ROW = re.compile(r"^\|\s*([a-z0-9-]+)\s*\|\s*([0-9.]+)\s*\|\s*(\w+)\s*\|\s*(arn:\S+)\s*\|$")


def git_show(repo: Path, tag: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{tag}:{path}"], capture_output=True, text=True, check=True
    ).stdout


def layer_arns(layers_rst: str, version: str) -> dict[str, str]:
    """Region -> ARN of the python3.11 x86_64 layer, from the release's own table (checked row by row)."""
    if not re.search(rf"^Version {re.escape(version)}$", layers_rst, re.MULTILINE):
        raise SystemExit(f"layers.rst at this tag does not describe version {version}")
    arns: dict[str, str] = {}
    for line in layers_rst.splitlines():
        match = _ROW.match(line.strip())
        if not match or match.group(2) != PYTHON or match.group(3) != ARCH:
            continue
        region, arn = match.group(1), match.group(4)
        # The publishing account is 336392948345 except in some opt-in regions (e.g. ap-east-1).
        expected = rf"arn:aws(-cn|-us-gov)?:lambda:{re.escape(region)}:[0-9]{{12}}:layer:{LAYER_NAME}:[0-9]+"
        if not re.fullmatch(expected, arn):
            raise SystemExit(f"unexpected layer ARN for {region}: {arn}")
        arns[region] = arn
    if not arns:
        raise SystemExit("no python3.11 x86_64 rows found in layers.rst")
    return dict(sorted(arns.items()))


def build_inputs(build_script: str) -> tuple[str, list[str]]:
    """The pyarrow version and the extras the layer build installs."""
    arrow = re.search(r"^export ARROW_VERSION=(\S+)$", build_script, re.MULTILINE)
    extras = re.search(r'pip3 install \.[^\n]*"\.\[([a-z,]+)\]"', build_script)
    if not arrow or not extras:
        raise SystemExit("build-lambda-layer.sh: ARROW_VERSION or the pip3 install extras not found")
    return arrow.group(1), extras.group(1).split(",")


def _applies(marker: str | None) -> bool:
    return marker is None or Marker(marker).evaluate(dict(ENVIRONMENT, extra=""))


def locked_closure(lock: dict[str, Any], root: str, extras: Iterable[str]) -> dict[str, str]:
    """Name -> version of ``root[extras]`` and everything it pulls in, for the Lambda environment."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        packages.setdefault(canonicalize_name(package["name"]), []).append(package)

    def entry(name: str, version: str | None) -> dict[str, Any]:
        candidates = packages[name]
        if version is not None:
            candidates = [c for c in candidates if c["version"] == version]
        if len(candidates) != 1:
            raise SystemExit(f"uv.lock: cannot pick one entry for {name} {version or ''}")
        return candidates[0]

    found: dict[str, str] = {}
    todo: list[tuple[str, str | None, tuple[str, ...]]] = [(canonicalize_name(root), None, tuple(extras))]
    while todo:
        name, version, wanted = todo.pop()
        package = entry(name, version)
        seen = found.get(name)
        found[name] = package["version"]
        requirements = [] if seen else list(package.get("dependencies", []))
        for extra in wanted:
            requirements += package.get("optional-dependencies", {}).get(extra, [])
        for requirement in requirements:
            if _applies(requirement.get("marker")):
                todo.append(
                    (
                        canonicalize_name(requirement["name"]),
                        requirement.get("version"),
                        tuple(requirement.get("extra", [])),
                    )
                )
    return found


def replace_block(text: str, begin: str, end: str, body: list[str]) -> str:
    """``text`` with the lines between the ``begin`` and ``end`` marker lines replaced by ``body``."""
    before, rest = text.split(begin, 1)
    begin_tail, rest = rest.split("\n", 1)
    _, after = rest.split(end, 1)
    return before + begin + begin_tail + "\n" + "\n".join(body) + "\n" + end + after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True, help="a git clone of aws/aws-sdk-pandas")
    parser.add_argument("--tag", required=True, help="the release tag, e.g. 3.17.0 (= the awswrangler version)")
    args = parser.parse_args()

    arns = layer_arns(git_show(args.repo, args.tag, "docs/source/layers.rst"), args.tag)
    arrow, extras = build_inputs(git_show(args.repo, args.tag, "building/lambda/build-lambda-layer.sh"))
    closure = locked_closure(tomllib.loads(git_show(args.repo, args.tag, "uv.lock")), "awswrangler", extras)
    closure["awswrangler"], closure["pyarrow"] = args.tag, arrow
    pins = {name: version for name, version in closure.items() if not REMOVED_FROM_LAYER.match(name)}

    source = f"aws/aws-sdk-pandas {args.tag}"
    template = ROOT / "template.yaml"
    mapping = [
        f"  # awswrangler {args.tag}: generated by tools/aws_sdk_pandas_layer.py from {source} docs/source/layers.rst.",
        "  AWSSDKPandasLayer:",
    ]
    for region, arn in arns.items():
        mapping += [f"    {region}:", f"      Python311: {arn}"]
    template.write_text(replace_block(template.read_text(), TEMPLATE_BEGIN, TEMPLATE_END, mapping))

    constraints = ROOT / "constraints.txt"
    lines = [
        f"# The AWS-managed AWS SDK for pandas layer of template.yaml (awswrangler {args.tag}) as that release",
        f"# ships it: pyarrow from its build-lambda-layer.sh, the rest from its uv.lock ({source}), with the",
        f"# extras {','.join(extras)}; boto3/botocore/s3transfer/urllib3 are removed",
        "# from the layer. Installed in no venv: `make install` reproduces the layer in",
        "# .venv/opt/aws-sdk-pandas-layer.",
    ]
    lines += [f"{PIN_PREFIX}{name}=={version}" for name, version in sorted(pins.items())]
    constraints.write_text(replace_block(constraints.read_text(), CONSTRAINTS_BEGIN, CONSTRAINTS_END, lines))
    print(f"awswrangler {args.tag}: {len(arns)} regions, {len(pins)} packages in the layer")


if __name__ == "__main__":
    main()
