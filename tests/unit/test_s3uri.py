"""One S3 URI type: every ``s3://`` URI in the package is split by :class:`S3Uri` and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airline_pipeline.core.errors import UnreadableFile
from airline_pipeline.core.s3uri import S3Uri

#: Engine / core code: runs in the Glue job, so it is tested under Python 3.9 too (make glue39).
pytestmark = pytest.mark.glue39

SRC = Path(__file__).resolve().parents[2] / "src" / "airline_pipeline"


def test_a_uri_splits_into_bucket_and_the_key_as_given() -> None:
    # Given a key with characters an S3 notification would encode
    location = S3Uri.parse("s3://data/daily-flights/date=2013-01-15/a b+c%3D.csv")

    # Then the key is kept literally, and the URI round-trips
    assert (location.bucket, location.key) == ("data", "daily-flights/date=2013-01-15/a b+c%3D.csv")
    assert location.uri == str(location) == "s3://data/daily-flights/date=2013-01-15/a b+c%3D.csv"


@pytest.mark.parametrize(("uri", "error"), [("/tmp/x.csv", ValueError), ("s3://bucket", UnreadableFile)])
def test_a_uri_without_scheme_bucket_or_key_is_refused(uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        S3Uri.parse(uri)


def test_no_module_splits_an_s3_uri_by_hand() -> None:
    by_hand = re.compile(r"""len\(["']s3://["']\)|removeprefix\(["']s3://["']\)|split\(["']s3://["']""")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "s3uri.py" and by_hand.search(path.read_text())
    ]
    assert offenders == []
