"""Open a warehouse from its URI: ``duckdb:///abs/path.duckdb`` or ``redshift-data://...``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airline_pipeline.core.errors import ConfigError

if TYPE_CHECKING:
    from airline_pipeline.adapters.warehouse.ports import Reader, Row, Warehouse

__all__ = ["Reader", "Row", "Warehouse", "describe", "open_reader", "open_warehouse"]


def __getattr__(name: str) -> Any:
    """The ports, imported on first use: the CLI starts (``--version``, ``--help``) without them."""
    if name in ("Reader", "Row", "Warehouse"):
        from airline_pipeline.adapters.warehouse import ports

        return getattr(ports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_warehouse(uri: str, **options: Any) -> Warehouse:
    """The warehouse a URI names; heavy client libraries are imported only for the one needed."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme == "duckdb" or (not scheme and uri.endswith(".duckdb")):
        from airline_pipeline.adapters.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse.from_uri(uri, **options)
    if scheme == "redshift-data":
        from airline_pipeline.adapters.warehouse.redshift.warehouse import RedshiftWarehouse

        return RedshiftWarehouse.from_uri(uri, **options)
    raise ConfigError(
        f"unsupported warehouse URI '{uri}': use duckdb:///abs/path/warehouse.duckdb "
        "or redshift-data://<workgroup-or-cluster>/<database>?..."
    )


def open_reader(uri: str, **options: Any) -> Reader:
    """A reader of the warehouse a URI names: on Redshift awswrangler's Data API reader, no load engine."""
    if uri.startswith("redshift-data://"):
        from airline_pipeline.adapters.warehouse.redshift.reader import RedshiftReader

        return RedshiftReader.from_uri(uri, **options)
    return open_warehouse(uri, **options)


def describe(uri: str) -> str:
    """The URI without query parameters (which may name roles and secrets): for logs and messages."""
    return uri.split("?", 1)[0]
