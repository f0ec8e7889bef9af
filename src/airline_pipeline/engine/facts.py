"""The fact rows of a file: the fast and slow paths, and the join with the airports dimension.

* **fast path** - a plain file (:mod:`airline_pipeline.engine.plain`: nearly every real one) is read
  by DuckDB's typed CSV reader; any other file line by line, where one regex recognises the
  canonical shape (``DL,10397,12478,-3,``, also with BTS's zero fractions: ``-3.00``) and such a
  line is split and cast without further checks. Either way the rows stream straight into the join.
* **slow path** - only when the fast rows are fewer than the file's lines: every other non-blank
  line (spaces, ``+`` signs, ``1.50``, quotes, and every broken row) is checked by
  :mod:`airline_pipeline.engine.rules`, and the good ones are joined too.

A clean load never waits for a ``row_number()`` over millions of lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Optional

from airline_pipeline.core.contract import CARRIER_MAX_BYTES
from airline_pipeline.core.errors import UnaccountedLines
from airline_pipeline.core.schema import FACT_COLUMNS
from airline_pipeline.engine import plain
from airline_pipeline.engine.rules import FLIGHT_RULES, check_lines, lines_sql
from airline_pipeline.engine.scan import MAX_LINE_BYTES, PreparedFile

#: A canonical whole number: up to 18 digits (always within BIGINT), optionally with a zero fraction, as
#: BTS downloads write delays (``-5.00``, ``12.00``): CAST gives the exact integer on DuckDB 1.2.2 and
#: current releases alike (``12.`` and ``12.000`` are 12), so such lines need none of the slow path's checks.
_WHOLE = r"-?[0-9]{1,18}(?:\.0*)?"
_FAST_ROW = rf"[A-Za-z0-9]{{1,{CARRIER_MAX_BYTES}}},{_WHOLE},{_WHOLE},(?:{_WHOLE})?,(?:{_WHOLE})?"
SLOW_ROWS = "slow_rows"


@dataclass(frozen=True)
class LoadCounts:
    """What loading a file did; ``rows_read`` excludes blank lines."""

    rows_read: int
    rows_loaded: int
    rows_rejected: int
    blank_lines: int

    @property
    def rows_filtered(self) -> int:
        return self.rows_read - self.rows_rejected - self.rows_loaded


_FAST = f"regexp_full_match(line, '{_FAST_ROW}')"

#: ``write(select_sql, params) -> rows written``: how a warehouse consumes a stream of fact rows
#: (DuckDB inserts it; Redshift staging writes it to a Parquet file).
RowWriter = Callable[[str, list[Any]], int]


def load_rows(
    con: Any,
    file: PreparedFile,
    write: RowWriter,
    *,
    dim_table: str,
    min_dep_delay: Optional[int],
    lineage: list[Any],
) -> LoadCounts:
    """Validate ``file`` and hand its fact rows to ``write``; rejected rows end in ``slow_rows``.

    ``con`` is a DuckDB connection (the warehouse's own, or a private one for Redshift loads);
    ``lineage`` is :func:`fact_params`. The header was checked by
    :func:`airline_pipeline.core.contract.check_head`; ``file`` comes from :func:`prepare`. ``write``
    is called once, or twice when some lines needed the slow path.

    The fast lines are loaded first. When they are as many as the file has physical lines (counted
    by the pre-scan), every line was fast and nothing else needs reading: the common case costs
    one pass over the file. Otherwise the reader counts lines and collects the ones it refuses,
    and the slow path numbers and validates the rest. Every physical line must be loaded,
    rejected, blank or filtered: a reader that saw another number of lines fails the load
    (:class:`UnaccountedLines`) instead of losing rows silently.
    """
    with _load_settings(con):
        loaded_fast = write(fact_rows_sql(_fast_rows_sql(file), dim_table, min_dep_delay), lineage)
        if min_dep_delay is None and loaded_fast == file.lines:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {SLOW_ROWS} ({', '.join(SLOW_COLUMNS)})")
            return LoadCounts(rows_read=loaded_fast, rows_loaded=loaded_fast, rows_rejected=0, blank_lines=0)
        skip = plain.TYPED_LINE if file.plain else _FAST
        rows_read, blank = check_lines(con, file, FLIGHT_RULES, into=SLOW_ROWS, skip=skip)
        loaded_slow = write(
            fact_rows_sql(f"(SELECT * FROM {SLOW_ROWS} WHERE reason IS NULL)", dim_table, min_dep_delay), lineage
        )
    rejected = int(con.execute(f"SELECT count(*) FROM {SLOW_ROWS} WHERE reason IS NOT NULL").fetchall()[0][0])
    _check_accounted(rows_read, loaded_fast + loaded_slow, rejected, min_dep_delay)
    return LoadCounts(
        rows_read=rows_read,
        rows_loaded=loaded_fast + loaded_slow,
        rows_rejected=rejected,
        blank_lines=blank,
    )


#: The columns :func:`~airline_pipeline.engine.rules.check_lines` gives ``slow_rows`` for FLIGHT_RULES: a clean
#: file's (empty) table is declared, not planned from the rules' SQL (15 ms of a small file's load).
SLOW_COLUMNS = (
    "line_number BIGINT",
    "reason VARCHAR",
    "detail VARCHAR",
    "raw_line VARCHAR",
    "carrier VARCHAR",
    "origin_id BIGINT",
    "dest_id BIGINT",
    "dep_delay BIGINT",
    "arr_delay BIGINT",
)


def _check_accounted(rows_read: int, loaded: int, rejected: int, min_dep_delay: Optional[int]) -> None:
    """Without a filter every row read is loaded or rejected, once: the fast and the slow path
    took complementary lines. A line taken by both, or by neither, fails the load here."""
    if min_dep_delay is None and loaded + rejected != rows_read:
        raise UnaccountedLines(
            f"{rows_read:,} rows read, but {loaded:,} loaded and {rejected:,} rejected: nothing loaded rather "
            "than rows lost or doubled"
        )


@contextlib.contextmanager
def _load_settings(con: Any) -> Iterator[None]:
    """DuckDB settings for the load, put back afterwards.

    * Keep the join order as written (the file on the probe side, the small dimension hashed): a
      line-by-line read gives the optimizer no row estimate (it guesses a few dozen), and it
      would hash the *file* and probe it with the dimension - 3x slower and memory-hungry.
    * No FSST string compression while writing: the analysis costs ~7% of a load (measured at
      3.4M rows) and the text columns compress as well with dictionaries.
    """
    con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    con.execute("SET disabled_compression_methods = 'fsst'")
    reset = ("RESET disabled_optimizers", "RESET disabled_compression_methods")
    try:
        yield
    except BaseException:
        # After a failed statement the transaction is aborted and RESET fails too ("please
        # ROLLBACK"); raised here, that error would replace the cause (disk full, Ctrl-C, a bad file).
        for statement in reset:
            with contextlib.suppress(Exception):
                con.execute(statement)
        raise
    for statement in reset:
        con.execute(statement)


# --- the rows to load ----------------------------------------------------------------------------


def _fast_rows_sql(file: PreparedFile) -> str:
    """The fast lines, straight from the file: a plain file's typed rows, or the regex's lines, split and cast."""
    if file.plain:
        return plain.typed_rows_sql(file.path, MAX_LINE_BYTES)
    fields = "f[1] AS carrier, " + ", ".join(
        f"CAST(NULLIF(f[{i}], '') AS BIGINT) AS {name}"
        for i, name in enumerate(("origin_id", "dest_id", "dep_delay", "arr_delay"), start=2)
    )
    return f"""(
        SELECT {fields}
        FROM (SELECT string_split(line, ',') AS f FROM {lines_sql(file, keep_rejects=False)} WHERE {_FAST})
    )"""


def good_rows_sql(file: PreparedFile) -> str:
    """Every accepted row of the loaded file (after :func:`load_rows`): fast lines plus good slow ones."""
    return f"""(
        SELECT * FROM {_fast_rows_sql(file)}
        UNION ALL
        SELECT carrier, origin_id, dest_id, dep_delay, arr_delay FROM {SLOW_ROWS} WHERE reason IS NULL
    )"""


def unique_dimension_sql(dim_table: str) -> str:
    """One row per airport_id, chosen deterministically, so a duplicated id can never duplicate flights."""
    return f"""(
        SELECT airport_id, city, state, name FROM (
            SELECT airport_id, city, state, name,
                   row_number() OVER (PARTITION BY airport_id ORDER BY name, city, state) AS pick
            FROM {dim_table} WHERE airport_id IS NOT NULL
        ) WHERE pick = 1
    )"""


def _filter(min_dep_delay: Optional[int]) -> str:
    return "" if min_dep_delay is None else f"WHERE s.dep_delay >= {int(min_dep_delay)}"


def fact_rows_sql(rows: str, dim_table: str, min_dep_delay: Optional[int]) -> str:
    """Fact rows for the accepted ``rows``, in the table's exact column order (Parquet COPY is positional).

    Bind :func:`fact_params`. Both joins are LEFT joins: an unknown airport id loads with NULL names.
    """
    dim = unique_dimension_sql(dim_table)
    select = {
        "carrier": "s.carrier",
        "dep_airport": "dep.name",
        "arr_airport": "arr.name",
        "dep_city": "dep.city",
        "arr_city": "arr.city",
        "dep_state": "dep.state",
        "arr_state": "arr.state",
        "dep_delay": "s.dep_delay",
        "arr_delay": "s.arr_delay",
        "flight_date": "CAST(? AS DATE)",
        "source_file": "CAST(? AS VARCHAR)",
        "batch_id": "CAST(? AS VARCHAR)",
        "loaded_at": "CAST(? AS TIMESTAMP)",
    }
    columns = ",\n           ".join(f"{select[name]} AS {name}" for name, _ in FACT_COLUMNS)
    return f"""
    SELECT {columns}
    FROM {rows} s
    LEFT JOIN {dim} dep ON s.origin_id = dep.airport_id
    LEFT JOIN {dim} arr ON s.dest_id = arr.airport_id
    {_filter(min_dep_delay)}"""


def fact_params(flight_date: Optional[date], source_file: str, batch_id: str, loaded_at: datetime) -> list[Any]:
    """Bind values for :func:`fact_rows_sql`, in order."""
    return [flight_date, source_file, batch_id, loaded_at]


def unknown_airport_ids(
    con: Any, file: PreparedFile, dim_table: str, min_dep_delay: Optional[int], limit: int = 20
) -> list[int]:
    """The smallest ``limit`` airport ids of loaded flights that the dimension does not know.

    One more scan of the file (the fact rows keep airport names, not ids): call it only when the
    load counted flights with unknown airports. One scan, not one per airport column.
    """
    rows = con.execute(
        f"""SELECT DISTINCT id FROM (
                SELECT unnest([s.origin_id, s.dest_id]) AS id FROM {good_rows_sql(file)} s {_filter(min_dep_delay)}
            ) WHERE id NOT IN (SELECT airport_id FROM {dim_table} WHERE airport_id IS NOT NULL)
            ORDER BY id LIMIT {int(limit)}"""
    ).fetchall()
    return [int(row[0]) for row in rows]


def rejected_rows_sql() -> str:
    """The file's rejected rows: ``(line_number, raw_line, reason, detail)``, by line."""
    return f"""SELECT line_number, raw_line, reason, detail FROM {SLOW_ROWS}
               WHERE reason IS NOT NULL ORDER BY line_number"""
