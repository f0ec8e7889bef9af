"""Where a flights file comes from: a local path or an ``s3://`` URI.

S3 access goes through boto3, which honours ``AWS_ENDPOINT_URL`` (the local emulator) by itself.
Objects are downloaded to a temporary file before parsing: DuckDB then reads local bytes, the
same code path serves the CLI, the Glue job and the tests, and no DuckDB extension is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import unquote_plus

from airline_pipeline.adapters import aws
from airline_pipeline.core.contract import flight_date_or_none
from airline_pipeline.core.errors import FileChanged, InvalidKey, UnreadableFile
from airline_pipeline.core.s3uri import S3Uri

#: ``(bytes_done, bytes_total)``: called while downloading.
ProgressCallback = Callable[[int, int], None]


def parse_s3_uri(uri: str) -> S3Uri:
    """``s3://bucket/key`` -> :class:`~airline_pipeline.core.s3uri.S3Uri` (the key as given, not URL-decoded)."""
    return S3Uri.parse(uri)


def decode_event_key(key: str) -> str:
    """S3 event notifications URL-encode keys (space -> '+', '=' -> '%3D'); undo that."""
    return unquote_plus(key)


@dataclass(frozen=True)
class SourceFile:
    """One input file: its canonical name (``source_file`` in the warehouse), size and version tag."""

    uri: str
    #: The part the layout rules apply to: the S3 key, or the local path.
    key: str
    size: int
    etag: str
    s3: Optional[S3Uri] = None
    #: Local files: what identifies this version of the file (device, inode, size, mtime, ctime).
    fingerprint: Optional[tuple[int, ...]] = None

    def check_unchanged(self) -> None:
        """Raise :class:`FileChanged` when the local file is no longer the version that was opened.

        Called after the last read of a load and before it commits: a file that grew (appended
        rows), shrank or was replaced while it was read is refused instead of loaded half-old,
        half-new. S3 objects are downloaded to a private file first and cannot change under the load.
        """
        if self.fingerprint is None:
            return
        try:
            now = _fingerprint(os.stat(self.uri))
        except OSError as exc:
            raise FileChanged(f"{self.uri} went away while it was being loaded ({exc}); nothing loaded") from None
        if now != self.fingerprint:
            raise FileChanged(
                f"{self.uri} changed while it was being loaded (size {self.fingerprint[2]:,} -> {now[2]:,} bytes"
                f"{', replaced by another file' if now[:2] != self.fingerprint[:2] else ''}); nothing loaded: "
                "load it again once it is complete"
            )

    def read_head(self, length: int, *, s3_client: Any = None) -> bytes:
        """The first ``length`` bytes (an S3 range GET for objects: never the whole file)."""
        if self.s3 is None:
            with open(self.uri, "rb") as handle:
                return handle.read(length)
        if self.size == 0:
            return b""
        client = s3_client or aws.client("s3")
        try:
            response = client.get_object(Bucket=self.s3.bucket, Key=self.s3.key, Range=f"bytes=0-{length - 1}")
        except Exception as exc:  # botocore raises ClientError and transport errors alike
            raise UnreadableFile(f"cannot read {self.uri}: {exc}") from exc
        return bytes(response["Body"].read())

    @contextlib.contextmanager
    def local_copy(self, *, progress: Optional[ProgressCallback] = None, s3_client: Any = None) -> Iterator[str]:
        """A local path to the bytes: the file itself, or a temporary download removed afterwards."""
        if self.s3 is None:
            yield self.uri
            return
        client = s3_client or aws.client("s3")
        workdir = tempfile.mkdtemp(prefix="airline-pipeline-")
        target = os.path.join(workdir, "input.csv")
        seen = 0

        def advance(chunk: int) -> None:
            nonlocal seen
            seen += chunk
            if progress:
                progress(seen, self.size)

        try:
            client.download_file(self.s3.bucket, self.s3.key, target, Callback=advance)
        except Exception as exc:
            _remove_tree(workdir)
            raise UnreadableFile(f"cannot download {self.uri}: {exc}") from exc
        try:
            yield target
        finally:
            _remove_tree(workdir)


def _remove_tree(path: str) -> None:
    for child in Path(path).glob("*"):
        child.unlink(missing_ok=True)
    os.rmdir(path)


def open_source(location: str, *, s3_client: Any = None) -> SourceFile:
    """Resolve a local path or ``s3://`` URI to a :class:`SourceFile` (size and etag included)."""
    if location.startswith("s3://"):
        s3 = parse_s3_uri(location)
        client = s3_client or aws.client("s3")
        try:
            head = client.head_object(Bucket=s3.bucket, Key=s3.key)
        except Exception as exc:
            raise UnreadableFile(f"cannot read {location}: {exc}") from exc
        return SourceFile(
            uri=s3.uri, key=s3.key, size=int(head["ContentLength"]), etag=str(head.get("ETag", "")).strip('"'), s3=s3
        )
    path = Path(location).expanduser()
    try:
        canonical = str(path.resolve(strict=True))
        stat = os.stat(canonical)
    except (FileNotFoundError, NotADirectoryError):
        raise UnreadableFile(f"no such file: {location}") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read {location}: {exc}") from exc
    if not path.is_file():
        raise UnreadableFile(f"not a file: {location}")
    if not os.access(canonical, os.R_OK):
        raise UnreadableFile(f"permission denied: {location}")
    _check_same_date(os.path.abspath(path), canonical)
    # A local file has no ETag: size + mtime identify its version well enough for the audit trail.
    tag = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    return SourceFile(uri=canonical, key=canonical, size=stat.st_size, etag=tag, fingerprint=_fingerprint(stat))


def _fingerprint(stat: os.stat_result) -> tuple[int, ...]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _check_same_date(given: str, canonical: str) -> None:
    """A local file is its canonical path (``P``, ``//P`` and a symlinked folder are one file), and
    the canonical path's folder names its date; refuse a path whose own folder names another day.

    Why canonical: the file's identity (``source_file``) must not depend on how it was reached,
    or one file loads as several copies. Why refuse: reached through a symlinked
    ``date=2013-01-15`` folder, a file whose real folder is ``date=2013-01-16`` is ambiguous.
    """
    said, real = flight_date_or_none(given), flight_date_or_none(canonical)
    if said is not None and said != real:
        raise InvalidKey(
            f"'{given}' is the file '{canonical}', whose folder names "
            f"{'the date ' + real.isoformat() if real else 'no date'}, not {said.isoformat()}: "
            "ambiguous, nothing loaded (a local file is identified by its real path)"
        )
