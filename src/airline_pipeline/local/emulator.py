"""The local AWS emulator (MiniStack, PyPI ``ministack``): start it on loopback, talk to it, stop it.

What the emulator needs from us (measured, see the README's emulator notes):

* ``BIND_HOST=127.0.0.1`` - never listen beyond this machine;
* the project's ``.venv/bin`` first on ``PATH``: Glue Python shell jobs run as ``python3 <script>``
  with the emulator's ``python3``, and must find ``airline_pipeline`` and DuckDB;
* ``AWS_ENDPOINT_URL``, dummy credentials and a region in *its* environment: a job inherits them,
  so its boto3 calls come back to the emulator.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT = "000000000000"


def free_port() -> int:
    """A TCP port nothing listens on right now (for tests that want their own emulator)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Emulator:
    """One MiniStack on ``127.0.0.1:port``; reused when already running there."""

    port: int = 4566
    workdir: Path = field(default_factory=lambda: Path.cwd() / ".local" / "emulator")
    venv_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    #: More environment for the emulator and what it spawns (Lambda workers, Glue jobs inherit it).
    environment: dict[str, str] = field(default_factory=dict)
    process: Optional[subprocess.Popen[bytes]] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def aws_env(self) -> dict[str, str]:
        """What any AWS client (boto3, sam, a Glue job) needs to talk to this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "SAM_CLI_TELEMETRY": "0",
        }

    def client(self, service: str) -> Any:
        import boto3

        from airline_pipeline.adapters import aws

        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106
        return aws.client(service, region=REGION, endpoint_url=self.endpoint, session=session)

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_ministack/health", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout: float = 60.0) -> bool:
        """Start MiniStack unless one answers on the port; returns True when this call started it."""
        if self.is_up():
            log.info("reusing the emulator already running on %s", self.endpoint)
            return False
        executable = shutil.which("ministack", path=str(self.venv_bin)) or shutil.which("ministack")
        if not executable:
            raise RuntimeError("the 'ministack' command is missing: run the README's install command first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.aws_env(),
            "BIND_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            "PATH": f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "TMPDIR": str(self.workdir),
            "IOT_MTLS_ENABLED": "0",
            "SFTP_ENABLED": "0",
            "LOG_LEVEL": "WARNING",
            **self.environment,
        }
        logfile = (self.workdir / "ministack.log").open("ab")
        log.info("starting the local AWS emulator (MiniStack) on %s", self.endpoint)
        self.process = subprocess.Popen(
            [executable], env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"MiniStack exited with {self.process.returncode}; see {self.workdir / 'ministack.log'}"
                )
            if self.is_up():
                return True
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"MiniStack did not answer on {self.endpoint} within {timeout:.0f}s")

    def stop(self) -> None:
        """Stop the emulator this object started (and the Lambda/Glue workers it spawned)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        log.info("stopped the emulator on %s", self.endpoint)
