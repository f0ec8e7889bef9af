"""Ship the domain package to the Glue job without a second copy of it.

``sam build`` builds the package's wheel into the Lambda layer (layers/domain/Makefile puts it in
the layer's ``dist/``). A CloudFormation custom resource uploads that very wheel to S3 at deploy
time, and the job installs it with ``--additional-python-modules``: the Glue job and the Lambdas
always run the same build of ``airline_pipeline``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import airline_pipeline
from airline_pipeline.errors import ConfigError


def layer_wheel(package_dir: Optional[Path] = None) -> Path:
    """The wheel next to the installed package: ``<layer>/python/airline_pipeline`` -> ``<layer>/dist/*.whl``."""
    package_dir = package_dir or Path(airline_pipeline.__file__).resolve().parent
    wheels = sorted((package_dir.parent.parent / "dist").glob("airline_pipeline-*.whl"))
    if not wheels:
        raise ConfigError(
            f"no airline_pipeline wheel under {package_dir.parent.parent / 'dist'}: was the layer built by sam build?"
        )
    return wheels[-1]


def publish_wheel(s3: Any, bucket: str, prefix: str, wheel: Optional[Path] = None) -> str:
    """Upload the wheel under a content-addressed folder (the file name must stay a valid wheel name)."""
    wheel = wheel or layer_wheel()
    data = wheel.read_bytes()
    key = f"{prefix.rstrip('/')}/{hashlib.sha256(data).hexdigest()[:16]}/{wheel.name}"
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/zip")
    return f"s3://{bucket}/{key}"
