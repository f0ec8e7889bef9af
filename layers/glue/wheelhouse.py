"""Build what the Glue Python shell job runs: its script and one wheel per distribution it imports.

Run by ``layers/glue/Makefile`` (``sam build``, template.yaml ``GlueArtifactsLayer``). The output is
a folder the ``GlueLibrary`` custom resource publishes to S3 at deploy time (``--extra-py-files``):

* ``manifest.json``      the wheels in install order (every dependency before its dependents);
* ``join_and_load.py``   the job's script;
* ``wheels/*.whl``       the airline_pipeline wheel built from this checkout, and every
                         distribution it needs on the job's platform, at constraints.txt's pins.

Why it looks like this (AWS Glue, "Configuring job properties for Python shell jobs"):

* ``--additional-python-modules`` takes PyPI specs only in Python shell jobs; ``.whl`` files in S3
  go in ``--extra-py-files``. Glue installs each of those files with its own
  ``pip install --target=<dir> <file>``. ``--target`` makes pip ignore what is already installed,
  so a wheel that declares dependencies would send pip to PyPI for all of them at every job start
  (minutes; a PyPI outage fails the load; an unpinned native package resolves to an sdist that
  the job's glibc 2.26 image cannot compile). The wheels published here therefore declare no
  dependencies (``Requires-Dist`` is removed from their metadata, RECORD updated): installed one by
  one, in any order, they never reach for an index, and the set is complete by construction.
* The closure is resolved for the job, not for the interpreter running this script: requirement
  markers are evaluated for CPython 3.9 on Linux x86_64, every distribution must be pinned exactly
  in constraints.txt's ``python_version < "3.10"`` section, and pip only accepts wheels whose tags
  the job's glibc 2.26 can load (manylinux 2.17 .. 2.26, x86_64, cp39/abi3/none).

Runs on any Python >= 3.9 with pip; nothing here imports the project.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:  # a bare interpreter (sam build before `make install`): pip vendors the same library
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename  # type: ignore[assignment]

#: The job's runtime (template.yaml: JoinAndLoadJob, PythonVersion "3.9").
PYTHON_VERSION = "3.9"
#: The Python shell image's C library: a wheel may need at most this glibc.
GLIBC = (2, 26)
#: pip's ``--platform`` values for that image: every manylinux level it can load.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(17, GLIBC[1] + 1)] + ["manylinux2014_x86_64"]
#: The package's extras the job imports: the engine (DuckDB, boto3) and Redshift reads (awswrangler).
JOB_EXTRAS = ("engine", "redshift")
#: Requirement markers evaluated as the job's interpreter would.
MARKER_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.9.18",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.9.18",
    "python_version": PYTHON_VERSION,
    "sys_platform": "linux",
}
MANIFEST = "manifest.json"
SCRIPT = "join_and_load.py"
WHEELS = "wheels"
PINNED_FOR_GLUE = 'python_version < "3.10"'


class WheelhouseError(RuntimeError):
    """The job's dependencies cannot be built as asked (message names the distribution and why)."""


def glue_pins(constraints: str) -> dict[str, str]:
    """constraints.txt's exact pins for the job's Python (the ``python_version < "3.10"`` lines)."""
    pins: dict[str, str] = {}
    for line in constraints.splitlines():
        requirement, _, marker = line.partition(";")
        if marker.split("#")[0].strip() == PINNED_FOR_GLUE:
            name, _, version = requirement.strip().partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


@dataclass
class Node:
    """One distribution of the closure: its pin, the extras asked of it, what it requires."""

    name: str
    version: str
    extras: set[str] = field(default_factory=set)
    wheel: Optional[Path] = None
    requires: list[str] = field(default_factory=list)


def requirements_of(wheel: Path, extras: set[str]) -> list[Requirement]:
    """The wheel's ``Requires-Dist`` that apply on the job's platform with these extras."""
    metadata = read_metadata(wheel)
    found = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = Requirement(line.split(":", 1)[1].strip())
        marker = requirement.marker
        contexts = [{**MARKER_ENVIRONMENT, "extra": extra} for extra in ("", *sorted(extras))]
        if marker is None or any(marker.evaluate(context) for context in contexts):
            found.append(requirement)
    return found


def read_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(_dist_info(archive) + "METADATA").decode("utf-8")


def _dist_info(archive: zipfile.ZipFile) -> str:
    folders = {name.split("/", 1)[0] + "/" for name in archive.namelist() if ".dist-info/" in name}
    if len(folders) != 1:
        raise WheelhouseError(f"{archive.filename}: expected one .dist-info folder, found {sorted(folders)}")
    return folders.pop()


def resolve(
    root: Path, extras: tuple[str, ...], pins: dict[str, str], download: Callable[[list[str]], dict[str, Path]]
) -> list[Node]:
    """Every distribution ``root[extras]`` needs on the job's platform, dependencies first.

    No resolver is needed: every version is already chosen (constraints.txt), so this walks the
    requirements, checks each pin satisfies them, and fails on anything unpinned.
    """
    name, _, _ = parse_wheel_filename(root.name)[:3]
    nodes: dict[str, Node] = {name: Node(name, str(parse_wheel_filename(root.name)[1]), set(extras), root)}
    edges: dict[str, set[str]] = {name: set()}
    pending = [name]
    while pending:
        missing = sorted(n for n in pending if nodes[n].wheel is None)
        if missing:
            fetched = download([f"{nodes[n].name}=={nodes[n].version}" for n in missing])
            for n in missing:
                nodes[n].wheel = fetched[n]
        current, pending = pending, []
        for parent in current:
            node = nodes[parent]
            assert node.wheel is not None
            for requirement in requirements_of(node.wheel, node.extras):
                child = canonicalize_name(requirement.name)
                version = pins.get(child)
                if version is None:
                    raise WheelhouseError(
                        f"{child} (required by {parent}: {requirement}) has no exact pin for "
                        f"{PINNED_FOR_GLUE} in constraints.txt: run `make lock`"
                    )
                if not requirement.specifier.contains(version, prereleases=True):
                    raise WheelhouseError(
                        f"{child}=={version} (constraints.txt) does not satisfy {parent}: {requirement}"
                    )
                node.requires.append(str(requirement))
                edges[parent].add(child)
                known = nodes.get(child)
                if known is None:
                    nodes[child] = Node(child, version, set(requirement.extras))
                    edges[child] = set()
                    pending.append(child)
                elif not set(requirement.extras) <= known.extras:
                    known.extras |= set(requirement.extras)
                    pending.append(child)
    return [nodes[n] for n in _dependencies_first(name, edges)]


def _dependencies_first(root: str, edges: dict[str, set[str]]) -> list[str]:
    """Post-order walk: a distribution comes after everything it requires (cycles broken once)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for child in sorted(edges[name]):
            visit(child)
        order.append(name)

    visit(root)
    return order


def without_requirements(source: Path, target: Path) -> None:
    """Copy a wheel, dropping ``Requires-Dist`` from its METADATA and updating RECORD to match."""
    with zipfile.ZipFile(source) as original:
        info_dir = _dist_info(original)
        metadata = original.read(info_dir + "METADATA").decode("utf-8")
        lines = metadata.split("\n")
        kept = [line for line in lines if not line.startswith("Requires-Dist:")]
        if kept == lines:  # nothing to drop: the very file pip downloaded
            shutil.copyfile(source, target)
            return
        new_metadata = "\n".join(kept).encode("utf-8")
        record = original.read(info_dir + "RECORD").decode("utf-8")
        rows = list(csv.reader(io.StringIO(record)))
        digest = base64.urlsafe_b64encode(hashlib.sha256(new_metadata).digest()).rstrip(b"=").decode()
        for row in rows:
            if row and row[0] == info_dir + "METADATA":
                row[1:] = [f"sha256={digest}", str(len(new_metadata))]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        with zipfile.ZipFile(target, "w") as copy:
            for item in original.infolist():
                if item.filename == info_dir + "METADATA":
                    copy.writestr(item, new_metadata, compress_type=zipfile.ZIP_DEFLATED)
                elif item.filename == info_dir + "RECORD":
                    copy.writestr(item, buffer.getvalue().encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
                else:
                    copy.writestr(item, original.read(item.filename), compress_type=item.compress_type)


def pip_download(python: str, dest: Path) -> Callable[[list[str]], dict[str, Path]]:
    """Exact pins, wheels only, for the job's interpreter and glibc; returns name -> wheel."""

    def download(specs: list[str]) -> dict[str, Path]:
        platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
        command = [python, "-m", "pip", "download", "--disable-pip-version-check", "--quiet", "--no-deps"]
        command += ["--only-binary=:all:", *platforms, "--implementation", "cp", "--abi", "cp39"]
        command += ["--python-version", PYTHON_VERSION, "--dest", str(dest), *specs]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            noise = ("is ignored: it is neither a file nor a directory", "Ignored the following versions")
            errors = "\n".join(line for line in done.stderr.splitlines() if not any(n in line for n in noise))
            raise WheelhouseError(f"no wheel for the Glue job's platform (cp39, glibc <= 2.26, x86_64):\n{errors}")
        found = {canonicalize_name(parse_wheel_filename(path.name)[0]): path for path in dest.glob("*.whl")}
        return {canonicalize_name(spec.split("==")[0]): found[canonicalize_name(spec.split("==")[0])] for spec in specs}

    return download


def _own_wheel(project: Path, scratch: Path, python: str) -> Path:
    """The package's wheel, built from a copy: setuptools writes build/ and *.egg-info next to the
    sources, and the DomainLayer build (run in parallel by sam) builds the same checkout."""
    source = scratch / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(project / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(project / name, source / name)
    command = [python, "-m", "pip", "wheel", "--disable-pip-version-check", "--quiet", "--no-deps"]
    subprocess.run([*command, "--wheel-dir", str(scratch / "own"), str(source)], check=True)
    (wheel,) = (scratch / "own").glob("*.whl")
    return wheel


def build(project: Path, out: Path, python: str = sys.executable) -> dict[str, object]:
    """Write ``out/`` (manifest, script, wheels) for the checkout at ``project``; returns the manifest."""
    pins = glue_pins((project / "constraints.txt").read_text())
    if out.exists():
        shutil.rmtree(out)
    (out / WHEELS).mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="glue-wheelhouse-") as scratch:
        downloads = Path(scratch) / "downloads"
        root = _own_wheel(project, Path(scratch), python)
        nodes = resolve(root, JOB_EXTRAS, pins, pip_download(python, downloads))
        wheels = []
        for node in nodes:
            assert node.wheel is not None
            target = out / WHEELS / node.wheel.name
            without_requirements(node.wheel, target)
            wheels.append(
                {
                    "file": f"{WHEELS}/{target.name}",
                    "name": node.name,
                    "version": node.version,
                    "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                    "requires": sorted(node.requires),
                }
            )
    shutil.copyfile(project / "glue" / SCRIPT, out / SCRIPT)
    manifest: dict[str, object] = {
        "python_version": PYTHON_VERSION,
        "max_glibc": ".".join(map(str, GLIBC)),
        "extras": list(JOB_EXTRAS),
        "script": SCRIPT,
        "wheels": wheels,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--project", type=Path, required=True, help="the checkout (pyproject.toml, constraints.txt)")
    parser.add_argument("--out", type=Path, required=True, help="folder to (re)create")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.project.resolve(), args.out.resolve())
    except WheelhouseError as exc:
        sys.stderr.write(f"glue wheelhouse: {exc}\n")
        return 1
    wheels = manifest["wheels"]
    assert isinstance(wheels, list)
    size = sum((args.out / w["file"]).stat().st_size for w in wheels)
    sys.stderr.write(f"glue wheelhouse: {len(wheels)} wheels, {size / 2**20:.1f} MiB in {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
