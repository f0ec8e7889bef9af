"""The sink port: where the load engine (:func:`airline_pipeline.engine.load.load_file`) puts one file's rows.

The engine computes the rows on a DuckDB connection and hands each table's rows to the sink as a
SELECT (and its bind values) in that table's column order: first the fact rows (possibly in several
parts), then the rejected rows, then the audit row. :meth:`Sink.apply` makes all of them visible at
once, replacing the earlier rows of the batch's replace scope (its file, or its date:
``Batch.policy.replace_scope``). A file refused by the quality thresholds (:meth:`Sink.refuse`)
keeps only its rejected rows and audit row, and replaces nothing.

* DuckDB (:class:`~airline_pipeline.adapters.warehouse.duckdb.DuckDBSink`) writes straight into the
  tables inside one transaction; ``apply`` commits it.
* Redshift (:class:`~airline_pipeline.adapters.warehouse.redshift.sink.ParquetSink`) writes Parquet
  files; ``apply`` uploads them and runs delete + COPY + audit as one Data API batch (one transaction).

A sink that stages first and applies in one short transaction is the same interface: write into
staging tables, and let ``apply`` do the delete + insert + audit.
"""

from __future__ import annotations

import abc
from typing import Any


class Sink(abc.ABC):
    """One file load's destination; used once, by one load."""

    @abc.abstractmethod
    def write_facts(self, select_sql: str, params: list[Any]) -> int:
        """Write the fact rows ``select_sql`` yields (``schema.FACT_COLUMNS`` order); returns how many."""

    @abc.abstractmethod
    def refuse(self) -> None:
        """The file is refused (over a quality threshold): drop the fact rows written, replace nothing.

        Called after the fact rows and before the rejected rows; the rejected and audit rows are
        still written, and ``apply`` adds them without touching any earlier row.
        """

    @abc.abstractmethod
    def write_rejected(self, select_sql: str, params: list[Any]) -> None:
        """Write the rejected rows (``schema.REJECTED_COLUMNS`` order)."""

    @abc.abstractmethod
    def unknown_airports(self) -> int:
        """How many of the fact rows written have an airport unknown to the dimension (a NULL name)."""

    @abc.abstractmethod
    def write_audit(self, row: list[Any]) -> None:
        """Write the load's audit row (``schema.AUDIT_COLUMNS`` order), its final outcome."""

    @abc.abstractmethod
    def apply(self) -> None:
        """Make everything written visible in one step, replacing the scope's earlier rows (unless refused)."""
