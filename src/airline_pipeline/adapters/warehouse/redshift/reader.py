"""The one way the package reads Redshift: ``awswrangler.data_api.redshift`` (the AWS SDK for pandas).

Used by every reader: the report step (verify a load), the delay report, the history, the warehouse
bootstrap and the load's dimension copy. It imports neither DuckDB nor the load engine, so a Lambda
that only reads carries neither; awswrangler comes from the AWS-managed AWS SDK for pandas layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from airline_pipeline.adapters.warehouse.ports import Reader, Row
from airline_pipeline.adapters.warehouse.redshift.sql import bind
from airline_pipeline.adapters.warehouse.redshift.target import RedshiftTarget
from airline_pipeline.core.errors import WarehouseError

if TYPE_CHECKING:
    import boto3
    import pandas as pd


class RedshiftReader(Reader):
    """Reads of one target (workgroup or cluster, database, credentials) on one boto3 session."""

    def __init__(self, target: RedshiftTarget, session: Optional[boto3.Session] = None) -> None:
        import boto3

        self.target = target
        self.session = session or boto3.Session(region_name=target.region)

    @classmethod
    def from_uri(cls, uri: str, *, boto3_session: Optional[boto3.Session] = None) -> RedshiftReader:
        return cls(RedshiftTarget.from_uri(uri), boto3_session)

    def frame(self, sql: str, params: Optional[dict[str, Any]] = None) -> pd.DataFrame:
        """The result as a DataFrame; ``:name`` placeholders are bound as Data API parameters."""
        from awswrangler.data_api import redshift as data_api

        text, parameters = bind(params or {}, sql)
        target = self.target
        where = {"cluster_id": target.name} if target.cluster else {"workgroup_name": target.name}
        try:
            con = data_api.connect(
                database=target.database,
                secret_arn=target.secret_arn or "",
                db_user=target.db_user or "",
                boto3_session=self.session,
                **where,
            )
            try:
                return data_api.read_sql_query(text, con, parameters=[dict(p) for p in parameters] or None)
            finally:
                con.close()
        except Exception as exc:
            raise WarehouseError(f"Redshift query failed: {exc}") from exc

    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        """The result as plain Python values, None for NULL."""
        frame: Any = self.frame(sql, params)
        # awswrangler builds the frame from Python lists, so an integer column with a NULL arrives as
        # floats: convert_dtypes() makes it integers again.
        typed = frame.convert_dtypes().astype(object)
        records: list[Row] = typed.where(typed.notna(), None).to_dict("records")
        return records
