"""Publish what the Glue job runs - its script and its wheels - from the layer ``sam build`` made.

``sam build`` builds ``GlueArtifactsLayer`` (layers/glue/): the job's script, the airline_pipeline
wheel from this checkout and every dependency as a wheel for the job's Python 3.9 / glibc 2.26,
listed in install order in ``manifest.json``. At deploy time the ``GlueLibrary`` custom resource
uploads those files to the data bucket and answers the two values the job is defined with:
``ScriptLocation`` and ``ExtraPyFiles`` (comma-separated, dependencies first). Nothing is fetched
from PyPI when the job starts, and the job always runs the build the Lambdas run.

Keys are content-addressed (``<prefix><sha256[:16]>/<file name>``): a changed file gets a new key,
an unchanged one is not uploaded again, and the file name stays what Glue needs (a valid wheel name,
a script ending in ``.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from airline_pipeline.core.errors import ConfigError

#: The layer's folder (``python/<this>/`` on the Lambda's path): a namespace package, no code.
ARTIFACTS_PACKAGE = "airline_pipeline_glue_job"


@dataclass(frozen=True)
class GlueArtifacts:
    """The files of one build: the script and the wheels in the order Glue should install them."""

    script: Path
    wheels: tuple[Path, ...]

    @property
    def files(self) -> tuple[Path, ...]:
        return (*self.wheels, self.script)


def artifacts_dir() -> Path:
    """Where the layer's files are: found on ``sys.path`` like a package (``/opt/python/...`` in AWS)."""
    spec = importlib.util.find_spec(ARTIFACTS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(f"{ARTIFACTS_PACKAGE} is not on the path: is GlueArtifactsLayer (sam build) attached?")
    return Path(locations[0])


def load_artifacts(directory: Optional[Path] = None) -> GlueArtifacts:
    """The manifest's files, each checked to exist and to match its recorded SHA-256."""
    directory = directory or artifacts_dir()
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"no manifest.json in {directory}: was the layer built by sam build?")
    manifest = json.loads(manifest_path.read_text())
    wheels = []
    for entry in manifest["wheels"]:
        path = directory / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise ConfigError(f"{entry['file']} is missing or differs from the manifest in {directory}")
        wheels.append(path)
    script = directory / manifest["script"]
    if not script.is_file() or script.suffix != ".py":
        raise ConfigError(f"the job's script {manifest['script']} is missing from {directory}")
    return GlueArtifacts(script=script, wheels=tuple(wheels))


def publish(s3: Any, bucket: str, prefix: str, artifacts: Optional[GlueArtifacts] = None) -> dict[str, str]:
    """Upload the files (each once per content) and return ``ScriptLocation`` and ``ExtraPyFiles``."""
    artifacts = artifacts or load_artifacts()
    uris = {}
    for path in artifacts.files:
        key = f"{prefix.rstrip('/')}/{_sha256(path)[:16]}/{path.name}"
        if not _exists(s3, bucket, key):
            content_type = "text/x-python" if path.suffix == ".py" else "application/zip"
            with path.open("rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        uris[path] = f"s3://{bucket}/{key}"
    return {
        "ScriptLocation": uris[artifacts.script],
        "ExtraPyFiles": ",".join(uris[wheel] for wheel in artifacts.wheels),
    }


def _exists(s3: Any, bucket: str, key: str) -> bool:
    """HeadObject needs only s3:GetObject: a missing key then answers 403 rather than 404 - both mean upload."""
    import botocore.exceptions

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError:
        return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
