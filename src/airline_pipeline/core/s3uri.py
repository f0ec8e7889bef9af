"""The one S3 URI type: ``s3://bucket/key``, split once, the key used as given (never URL-decoded)."""

from __future__ import annotations

from dataclasses import dataclass

from airline_pipeline.core.errors import UnreadableFile

SCHEME = "s3://"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        """``s3://bucket/key``; ValueError for another scheme, :class:`UnreadableFile` without a bucket or key."""
        if not uri.startswith(SCHEME):
            raise ValueError(f"not an s3:// URI: {uri}")
        bucket, _, key = uri[len(SCHEME) :].partition("/")
        if not bucket or not key:
            raise UnreadableFile(f"'{uri}' is not of the form s3://bucket/key")
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.uri
