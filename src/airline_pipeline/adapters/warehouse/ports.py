"""The one small interface both warehouses implement."""

from __future__ import annotations

import abc
import re
from typing import TYPE_CHECKING, Any, Optional

from airline_pipeline.core.outcome import AirportsLoad, Batch, LoadSummary

if TYPE_CHECKING:  # a reader needs no load engine
    from airline_pipeline.engine.scan import PreparedFile

Row = dict[str, Any]

#: ``:name`` placeholders of read queries (not ``::`` casts).
PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Reader(abc.ABC):
    """The reader port: read-only SQL on the warehouse (the report step, the delay report, the history).

    DuckDB's reader is its :class:`Warehouse`; Redshift's is
    :class:`~airline_pipeline.adapters.warehouse.redshift.reader.RedshiftReader` (awswrangler, no DuckDB).
    """

    @abc.abstractmethod
    def query(self, sql: str, params: Optional[dict[str, Any]] = None) -> list[Row]:
        """Run a read-only query; ``:name`` placeholders are bound from ``params``."""

    def close(self) -> None:  # noqa: B027 - optional hook: not every reader holds a resource
        """Release connections."""

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Warehouse(Reader):
    """A place the fact rows land: DuckDB locally, Redshift (Data API) in AWS.

    Every method is safe to call again: schema creation is ``IF NOT EXISTS``, airports are
    upserted, and loading a file replaces that file's rows in one transaction.
    """

    #: sqlglot dialect name of the SQL this warehouse runs.
    dialect: str = ""

    @abc.abstractmethod
    def init_schema(self) -> None:
        """Create the schema and the five tables when missing."""

    def init_schema_for_loads(self) -> None:
        """What a command calls before it loads files: :meth:`init_schema`, unless the warehouse's loads
        create the schema in their own connection anyway (DuckDB: one open of the file per load, not two)."""
        self.init_schema()

    @abc.abstractmethod
    def load_airports(self, path: str) -> AirportsLoad:
        """Upsert the good ``airport_id,city,state,name`` rows of a local CSV; keep the bad ones apart.

        Raises :class:`~airline_pipeline.core.errors.InvalidFile` for a wrong header (nothing loaded).
        """

    @abc.abstractmethod
    def load_file(self, file: PreparedFile, batch: Batch) -> LoadSummary:
        """Validate, join and load one local CSV (from :func:`~airline_pipeline.scan.prepare`) as
        ``batch``; replaces earlier rows of the same file.

        Raises :class:`~airline_pipeline.core.errors.NoDataRows` for a file without data rows and
        :class:`~airline_pipeline.core.errors.WarehouseError` when the load fails (nothing is kept).
        """

    @abc.abstractmethod
    def record_failure(self, batch: Batch, error: str) -> None:
        """Write a FAILED audit row; never raises (the original error matters more)."""

    def __enter__(self) -> Warehouse:
        return self
