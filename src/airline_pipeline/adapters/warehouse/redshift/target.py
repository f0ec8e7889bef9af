"""Where Redshift statements go and how COPY reads S3: the ``redshift-data://`` URI, parsed and checked.

Only configuration values ever appear as SQL literals (the IAM role ARN and S3 URIs under the staging
prefix), and only after the strict patterns here accepted them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from airline_pipeline.core.errors import ConfigError

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
# Conservative on purpose: no quote, backslash or whitespace can reach a literal.
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.()=+-]+)*/?")
# Redshift's naming rules, checked here so a typo fails before any call.
_WORKGROUP = re.compile(r"[a-z0-9-]{3,64}")
_CLUSTER_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]{0,127}")

_URI_HELP = (
    "redshift-data://<workgroup-or-cluster-id>/<database>?iam_role=<role ARN>&staging=s3://bucket/prefix/"
    "[&cluster=true&db_user=<user>|&secret_arn=<ARN>][&region=<region>]"
)
_OPTIONS = ("iam_role", "staging", "cluster", "db_user", "secret_arn", "region")


@dataclass(frozen=True)
class RedshiftTarget:
    """Where statements go and how COPY reads S3: the parsed ``redshift-data://`` URI."""

    #: Workgroup name (Serverless) or cluster identifier (``cluster=true``).
    name: str
    database: str
    iam_role: str
    #: ``s3://bucket/prefix/``, always ending in ``/``.
    staging: str
    cluster: bool = False
    db_user: Optional[str] = None
    secret_arn: Optional[str] = None
    region: Optional[str] = None

    @classmethod
    def from_uri(cls, uri: str) -> RedshiftTarget:
        """Parse and check the URI; every problem raises :class:`ConfigError` saying what is wrong."""
        parts = urlsplit(uri)
        if parts.scheme != "redshift-data":
            raise ConfigError(f"not a redshift-data URI: use {_URI_HELP}")
        name, database = parts.netloc, parts.path.strip("/")
        if not name:
            raise ConfigError(f"the URI names no workgroup or cluster: use {_URI_HELP}")
        if not database or "/" in database:
            raise ConfigError(f"the URI names no database (or more than one path segment): use {_URI_HELP}")
        option = _options(parts.query)
        cluster, db_user, secret_arn = _sign_in(option)
        rule = _CLUSTER_ID if cluster else _WORKGROUP
        if not rule.fullmatch(name):
            kind = "cluster identifier" if cluster else "workgroup name (add cluster=true for a provisioned cluster)"
            raise ConfigError(f"'{name}' is not a valid Redshift {kind}")
        staging = option["staging"] if option["staging"].endswith("/") else option["staging"] + "/"
        return cls(
            name=name,
            database=database,
            iam_role=_checked_role(option["iam_role"]),
            staging=checked_s3_uri(staging),
            cluster=cluster,
            db_user=db_user,
            secret_arn=secret_arn,
            region=option.get("region") or None,
        )

    def connection_args(self) -> dict[str, str]:
        """The target and credentials of every Data API call (boto3 parameter names)."""
        args = {"Database": self.database}
        args["ClusterIdentifier" if self.cluster else "WorkgroupName"] = self.name
        if self.db_user:
            args["DbUser"] = self.db_user
        if self.secret_arn:
            args["SecretArn"] = self.secret_arn
        return args


def _options(query_string: str) -> dict[str, str]:
    """The URI's options: known ones only, each once, ``iam_role`` and ``staging`` present."""
    query = parse_qs(query_string, keep_blank_values=True)
    unknown = sorted(set(query) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown redshift-data URI option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
    repeated = sorted(key for key, values in query.items() if len(values) > 1)
    if repeated:
        raise ConfigError(f"redshift-data URI option(s) given more than once: {', '.join(repeated)}")
    option = {key: values[0].strip() for key, values in query.items()}
    missing = [key for key in ("iam_role", "staging") if not option.get(key)]
    if missing:
        raise ConfigError(f"the redshift-data URI lacks {' and '.join(missing)}: use {_URI_HELP}")
    return option


def _sign_in(option: dict[str, str]) -> tuple[bool, Optional[str], Optional[str]]:
    """``(cluster, db_user, secret_arn)``: a consistent way to sign in to a workgroup or a cluster."""
    cluster_flag = option.get("cluster", "false").lower()
    if cluster_flag not in ("true", "false"):
        raise ConfigError(f"cluster must be true or false, not '{option['cluster']}'")
    cluster = cluster_flag == "true"
    db_user, secret_arn = option.get("db_user") or None, option.get("secret_arn") or None
    if db_user and secret_arn:
        raise ConfigError("give db_user or secret_arn, not both")
    if cluster and not (db_user or secret_arn):
        raise ConfigError("cluster=true needs db_user (temporary credentials) or secret_arn (Secrets Manager)")
    if db_user and not cluster:
        raise ConfigError("db_user works with provisioned clusters only: add cluster=true, or use secret_arn")
    return cluster, db_user, secret_arn


def _checked_role(role: str) -> str:
    if role.lower() == "default" or _ROLE_ARN.fullmatch(role):
        return role
    raise ConfigError(f"iam_role '{role}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>) or 'default'")


def checked_s3_uri(uri: str) -> str:
    if _S3_URI.fullmatch(uri):
        return uri
    raise ConfigError(
        f"'{uri}' is not a usable S3 URI: s3://<bucket>/<prefix>/ with letters, digits and !_.()=+- in the key"
    )


def quote_literal(value: str) -> str:
    """A SQL string literal; only for values already checked by :func:`_checked_role` / :func:`checked_s3_uri`."""
    return "'" + value.replace("'", "''") + "'"


def role_sql(role: str) -> str:
    """The IAM role of a COPY or GRANT ASSUMEROLE: ``default`` or the checked ARN as a literal."""
    return "default" if role.lower() == "default" else quote_literal(_checked_role(role))


def staging_segment(batch_id: str) -> str:
    """``batch_id`` as one S3 key segment; an id with other characters is cleaned and made unique by a hash."""
    if _KEY_SEGMENT.fullmatch(batch_id):
        return batch_id
    cleaned = re.sub(r"[^A-Za-z0-9_.=+-]", "_", batch_id)[:100].lstrip("._=+-")
    return f"{cleaned or 'batch'}-{hashlib.sha256(batch_id.encode()).hexdigest()[:12]}"
