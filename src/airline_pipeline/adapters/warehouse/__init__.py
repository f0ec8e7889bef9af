"""Open a warehouse from its URI: ``duckdb:///abs/path.duckdb`` or ``redshift-data://...``."""

from __future__ import annotations

from typing import Any

from airline_pipeline.adapters.warehouse.ports import Row, Warehouse
from airline_pipeline.core.errors import ConfigError

__all__ = ["Row", "Warehouse", "describe", "open_warehouse"]


def open_warehouse(uri: str, **options: Any) -> Warehouse:
    """The warehouse a URI names; heavy client libraries are imported only for the one needed."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme == "duckdb" or (not scheme and uri.endswith(".duckdb")):
        from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse.from_uri(uri, **options)
    if scheme == "redshift-data":
        from airline_pipeline.adapters.warehouse.redshift.sink import RedshiftWarehouse

        return RedshiftWarehouse.from_uri(uri, **options)
    raise ConfigError(
        f"unsupported warehouse URI '{uri}': use duckdb:///abs/path/warehouse.duckdb "
        "or redshift-data://<workgroup-or-cluster>/<database>?..."
    )


def describe(uri: str) -> str:
    """The URI without query parameters (which may name roles and secrets): for logs and messages."""
    return uri.split("?", 1)[0]
