"""Row-level parsing, validation and the dimension join, as DuckDB SQL.

Why line-based: DuckDB's CSV reader is fast but silently rounds ``1.5`` to ``2`` in a BIGINT column,
accepts ``0x10``/``1e3``/``1_000``, and cannot tell the line number of a row it accepted. We read
each physical line as one string instead, and split the work by cost:

* **fast path** - one regex recognises the canonical shape (``DL,10397,12478,-3,``); such a line is
  split and cast without further checks. Nearly every line of a real file takes it.
* **slow path** - every other non-blank line (spaces, signs, ``12.0``, quotes, and every broken row)
  is numbered, split (quoted fields, embedded commas and doubled quotes included) and validated
  field by field; the first broken rule becomes ``reason`` + ``detail``.

A clean file is read twice, each a streaming scan: a line count, then the load itself, which
streams the fast lines straight into the join. Only when the counts disagree (some line is not
fast) is the file read a third time, numbering lines to find and validate the slow ones. Nothing
proportional to the file is held in memory, and a clean load never waits for a ``row_number()``
over millions of lines. The SQL runs on DuckDB 1.2.2 (the newest the Glue Python shell can
install) as well as on current releases.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Optional

from airline_pipeline.contract import CARRIER_MAX_BYTES, EXPECTED_HEADER
from airline_pipeline.schema import FACT_COLUMNS

#: The longest line DuckDB will read (bytes); longer ones are rejected as ``line_too_long``.
MAX_LINE_BYTES = 1024 * 1024
#: Raw text kept for a rejected row; the rest is cut (Redshift VARCHAR and notification sizes).
MAX_RAW_CHARS = 1000

_FIELDS = len(EXPECTED_HEADER)
_FAST_ROW = (
    rf"[A-Za-z0-9]{{1,{CARRIER_MAX_BYTES}}},-?[0-9]{{1,18}},-?[0-9]{{1,18}},(-?[0-9]{{1,18}})?,(-?[0-9]{{1,18}})?"
)
# One CSV field followed by the comma we append to every line: quoted ("a,""b") or bare.
_CSV_FIELD = r'("(?:[^"]|"")*"|[^,"]*),'
_NUMBER = r"[+-]?[0-9]+(\.[0-9]*)?"
_FRACTION = r"[+-]?[0-9]+\.[0-9]*[1-9][0-9]*"
# The reader needs a delimiter; with one column and strict_mode off, this one (ASCII unit
# separator) never splits a line: the whole line is the value.
_NO_DELIMITER = "\x1f"

SLOW_ROWS = "slow_rows"
REFUSED_LINES = "refused_lines"
_READER_REJECTS = "reader_rejects"

_READER_REASONS = {
    "INVALID UNICODE": ("invalid_utf8", "the line is not valid UTF-8"),
    "INVALID ENCODING": ("invalid_utf8", "the line is not valid UTF-8"),
    "LINE SIZE OVER MAXIMUM": ("line_too_long", f"the line is longer than {MAX_LINE_BYTES} bytes"),
}


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


def _lines(path: str, *, keep_rejects: bool) -> str:
    """Every physical line after the header, as ``line``; refused lines are skipped or recorded."""
    quoted = path.replace("'", "''")
    errors = (
        f"store_rejects = true, rejects_table = '{_READER_REJECTS}', rejects_scan = '{_READER_REJECTS}_scans'"
        if keep_rejects
        else "ignore_errors = true"
    )
    return f"""read_csv('{quoted}', columns = {{'line': 'VARCHAR'}}, header = false, skip = 1,
                        delim = '{_NO_DELIMITER}', quote = '', escape = '', auto_detect = false,
                        strict_mode = false, max_line_size = {MAX_LINE_BYTES}, {errors})"""


#: Bytes read at a time when checking (and, for a mixed file, rewriting) line breaks.
_CHUNK_BYTES = 8 * 1024 * 1024


def line_break_kinds(path: str) -> set[str]:
    """The kinds of line break in the file at ``path``: a subset of ``{"LF", "CRLF", "CR"}``."""
    counts = {"LF": 0, "CRLF": 0, "CR": 0}
    after_cr = False
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            if not after_cr and b"\r" not in chunk:  # nearly every chunk of nearly every file: one memchr
                counts["LF"] += b"\n" in chunk
                continue
            crlf = chunk.count(b"\r\n")
            counts["CRLF"] += crlf
            counts["CR"] += chunk.count(b"\r") - crlf
            counts["LF"] += chunk.count(b"\n") - crlf
            if after_cr and chunk.startswith(b"\n"):  # a CRLF split between two chunks
                counts["CR"] -= 1
                counts["LF"] -= 1
                counts["CRLF"] += 1
            after_cr = chunk.endswith(b"\r")
    return {kind for kind, count in counts.items() if count}


def physical_lines(path: str) -> int:
    """Physical lines after the header of a file with one kind of line break (blank ones included)."""
    breaks, last = 0, b""
    with open(path, "rb") as handle:
        first = handle.read(_CHUNK_BYTES)
        # CRLF and LF files: count LF; a CR-only file has no LF at all.
        newline = b"\n" if b"\n" in first or b"\r" not in first else b"\r"
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            breaks += chunk.count(newline)
            last = chunk[-1:]
        breaks += first.count(newline)
        last = last or first[-1:]
    unterminated = bool(last) and last not in (b"\n", b"\r")
    return max(breaks + unterminated - 1, 0)


@contextlib.contextmanager
def uniform_line_breaks(path: str) -> Iterator[str]:
    """A path to the same lines with one kind of line break: ``path`` itself, or a temporary LF copy.

    Physical lines are universal newlines (CRLF, LF or a lone CR ends a line, as ``bytes.splitlines``).
    DuckDB's reader counts them exactly when a file uses one kind of break, but not when it mixes
    them: with an LF header a CRLF row gains a phantom blank line (shifting every later line
    number), and in a CRLF file a lone CR swallows the first character of the next line
    (``AA`` loaded as ``A``). Such a file is rewritten once with LF breaks; a uniform file
    (nearly all) is only scanned.
    """
    if len(line_break_kinds(path)) <= 1:
        yield path
        return
    workdir = tempfile.mkdtemp(prefix="airline-pipeline-lines-")
    target = os.path.join(workdir, "lf.csv")
    try:
        with open(path, "rb") as source, open(target, "wb") as copy:
            carry = b""
            for chunk in iter(lambda: source.read(_CHUNK_BYTES), b""):
                chunk = carry + chunk  # noqa: PLW2901 - a CR at a chunk's end may start a CRLF
                carry = b"\r" if chunk.endswith(b"\r") else b""
                chunk = chunk[: len(chunk) - len(carry)]  # noqa: PLW2901
                copy.write(chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
            copy.write(carry.replace(b"\r", b"\n"))
        yield target
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


#: What "whitespace" means for blank lines and trimmed values: the same bytes ``bytes.strip()``
#: removes in :func:`airline_pipeline.contract.check_head` (line breaks never reach a line).
#: DuckDB's one-argument ``trim`` removes spaces only, so a tab-only line was not blank.
_WHITESPACE = " \t\x0b\x0c"
_BLANK = f"(line IS NULL OR trim(line, '{_WHITESPACE}') = '')"
_FAST = f"regexp_full_match(line, '{_FAST_ROW}')"

#: ``write(select_sql, params) -> rows written``: how a warehouse consumes a stream of fact rows
#: (DuckDB inserts it; Redshift staging writes it to a Parquet file).
RowWriter = Callable[[str, list[Any]], int]


def load_rows(
    con: Any,
    path: str,
    write: RowWriter,
    *,
    dim_table: str,
    min_dep_delay: Optional[int],
    lineage: list[Any],
) -> LoadCounts:
    """Validate the file at ``path`` and hand its fact rows to ``write``; rejected rows end in ``slow_rows``.

    ``con`` is a DuckDB connection (the warehouse's own, or a private one for Redshift loads);
    ``lineage`` is :func:`fact_params`. The header was checked by
    :func:`airline_pipeline.contract.check_head`, and the file has one kind of line break
    (:func:`uniform_line_breaks`). ``write`` is called once, or twice when some lines needed the
    slow path.

    The fast lines are loaded first. When they are as many as the file has physical lines (a byte
    count, no parsing), every line was fast and nothing else needs reading: the common case costs
    one pass over the file. Otherwise the reader counts lines and collects the ones it refuses,
    and the slow path numbers and validates the rest.
    """
    with _load_settings(con):
        loaded_fast = write(fact_rows_sql(_fast_rows_sql(path), dim_table, min_dep_delay), lineage)
        if min_dep_delay is None and loaded_fast == physical_lines(path):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {SLOW_ROWS} AS {_validated_sql(_split_sql(_NO_LINES))}")
            return LoadCounts(rows_read=loaded_fast, rows_loaded=loaded_fast, rows_rejected=0, blank_lines=0)
        _drop(con, _READER_REJECTS, f"{_READER_REJECTS}_scans")
        lines = int(con.execute(f"SELECT count(*) FROM {_lines(path, keep_rejects=True)}").fetchall()[0][0])
        refused = con.execute(
            f"SELECT line, CAST(error_type AS VARCHAR), csv_line, error_message FROM {_READER_REJECTS} ORDER BY line"
        ).fetchall()
        _drop(con, _READER_REJECTS, f"{_READER_REJECTS}_scans")
        blank = _validate_slow_lines(con, path)
        _record_refused_lines(con, refused)
        loaded_slow = write(
            fact_rows_sql(f"(SELECT * FROM {SLOW_ROWS} WHERE reason IS NULL)", dim_table, min_dep_delay), lineage
        )
    rejected = int(con.execute(f"SELECT count(*) FROM {SLOW_ROWS} WHERE reason IS NOT NULL").fetchall()[0][0])
    return LoadCounts(
        rows_read=lines - blank + len(refused),
        rows_loaded=loaded_fast + loaded_slow,
        rows_rejected=rejected,
        blank_lines=blank,
    )


_NO_LINES = "(SELECT 0 AS ord, '' AS line WHERE false)"


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


def _validate_slow_lines(con: Any, path: str) -> int:
    """Number every line, keep the non-blank non-fast ones, validate them into ``slow_rows``.

    Returns the count of blank lines (kept out of ``slow_rows``).
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE slow_lines AS
            SELECT ord, line, blank FROM (
                SELECT row_number() OVER () AS ord, line, {_BLANK} AS blank, coalesce({_FAST}, false) AS fast
                FROM {_lines(path, keep_rejects=False)}
            ) WHERE NOT fast"""
    )
    blank = int(con.execute("SELECT count(*) FROM slow_lines WHERE blank").fetchall()[0][0])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {SLOW_ROWS} AS
            {_validated_sql(_split_sql("(SELECT ord, line FROM slow_lines WHERE NOT blank)"))}"""
    )
    con.execute("DROP TABLE slow_lines")
    return blank


def _drop(con: Any, *tables: str) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _split_sql(numbered: str) -> str:
    """``(ord, line, f VARCHAR[])``; ``f`` is NULL when the quoting is malformed.

    Quoted fields keep their quotes here; :func:`_validated_sql` removes them. A line is split
    correctly iff the matched fields, concatenated, give back the line (plus the comma we add).
    """
    with_comma = "line || ','"
    return f"""(
        SELECT ord, line,
               CASE WHEN NOT contains(line, '"') THEN string_split(line, ',')
                    WHEN array_to_string(regexp_extract_all({with_comma}, '{_CSV_FIELD}'), '') = {with_comma}
                        THEN regexp_extract_all({with_comma}, '{_CSV_FIELD}', 1)
               END AS f
        FROM {numbered}
    )"""


def _unquoted(field: str) -> str:
    return f"""trim(CASE WHEN left({field}, 1) = '"'
                         THEN replace(substr({field}, 2, length({field}) - 2), '""', '"')
                         ELSE {field} END, '{_WHITESPACE}')"""


def _number_rule(index: int, name: str, *, required: bool) -> str:
    """The first broken rule of numeric field ``index`` (1-based) of the trimmed list ``t``, or NULL."""
    field = f"t[{index}]"
    empty = f"'missing_value|{name} is empty'" if required else "NULL"
    return f"""CASE
        WHEN {field} = '' THEN {empty}
        WHEN NOT regexp_full_match({field}, '{_NUMBER}')
            THEN 'not_integer|{name} is not an integer: ''' || {field} || ''''
        WHEN regexp_full_match({field}, '{_FRACTION}')
            THEN 'not_whole_number|{name} has a fractional part: ''' || {field} || ''''
        WHEN TRY_CAST(split_part({field}, '.', 1) AS BIGINT) IS NULL
            THEN 'out_of_range|{name} does not fit in BIGINT: ''' || {field} || ''''
    END"""


def _validated_sql(split_relation: str) -> str:
    """Slow-path validation of ``(ord, line, f)``: one row out per line in.

    Out: ``(line_number, reason, detail, raw_line, carrier, origin_id, dest_id, dep_delay, arr_delay)``;
    ``reason`` is NULL for a good row. ``line_number`` counts the header as line 1; lines the reader
    refused before this one are added by :func:`_record_refused_lines`.
    """
    carrier_rule = f"""CASE
        WHEN t[1] = '' THEN 'empty_carrier|Carrier is empty'
        WHEN strlen(t[1]) > {CARRIER_MAX_BYTES}
            THEN 'carrier_too_long|Carrier is longer than {CARRIER_MAX_BYTES} bytes: ''' || t[1] || ''''
        WHEN regexp_matches(t[1], '[\\x00-\\x1f\\x7f]')
            THEN 'invalid_carrier|Carrier contains control characters (NUL, tab, ...)'
    END"""
    names = EXPECTED_HEADER
    rule = f"""CASE
        WHEN f IS NULL
            THEN 'bad_quoting|malformed quotes: a quoted field is not closed, or text follows its closing quote'
        WHEN len(f) <> {_FIELDS}
            THEN 'wrong_field_count|expected {_FIELDS} fields, found ' || CAST(len(f) AS VARCHAR)
        ELSE coalesce({carrier_rule},
                      {_number_rule(2, names[1], required=True)},
                      {_number_rule(3, names[2], required=True)},
                      {_number_rule(4, names[3], required=False)},
                      {_number_rule(5, names[4], required=False)})
    END"""
    trimmed = ", ".join(_unquoted(f"f[{i}]") for i in range(1, _FIELDS + 1))

    def number(index: int) -> str:
        return f"CASE WHEN rule IS NULL THEN TRY_CAST(NULLIF(split_part(t[{index}], '.', 1), '') AS BIGINT) END"

    return f"""
    SELECT ord + 1 AS line_number,
           split_part(rule, '|', 1) AS reason,
           CASE WHEN rule IS NOT NULL THEN substr(rule, strpos(rule, '|') + 1) END AS detail,
           left(line, {MAX_RAW_CHARS}) AS raw_line,
           CASE WHEN rule IS NULL THEN t[1] END AS carrier,
           {number(2)} AS origin_id,
           {number(3)} AS dest_id,
           {number(4)} AS dep_delay,
           {number(5)} AS arr_delay
    FROM (
        SELECT ord, line, t, {rule} AS rule
        FROM (SELECT ord, line, f, CASE WHEN len(f) = {_FIELDS} THEN [{trimmed}] END AS t FROM {split_relation})
    )"""


def _record_refused_lines(con: Any, refused: list[tuple[Any, ...]]) -> None:
    """Lines the reader refused (bad UTF-8, over-long) become rejected rows too.

    The numbering pass skips them, so a slow line's number is short by the count of refused lines
    before it: the i-th refused line r_i (1-based) precedes every line numbered above r_i - i.
    """
    if not refused:
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE {REFUSED_LINES} (threshold BIGINT)")
    con.executemany(
        f"INSERT INTO {REFUSED_LINES} VALUES (?)", [(int(line) - i,) for i, (line, *_) in enumerate(refused, start=1)]
    )
    con.execute(
        f"""UPDATE {SLOW_ROWS} SET line_number = line_number + (
                SELECT count(*) FROM {REFUSED_LINES} r WHERE r.threshold < {SLOW_ROWS}.line_number)"""
    )
    con.execute(f"DROP TABLE {REFUSED_LINES}")
    for line_number, error_type, csv_line, message in refused:
        reason, detail = _READER_REASONS.get(error_type, ("unreadable_line", message or error_type))
        con.execute(
            f"INSERT INTO {SLOW_ROWS} (line_number, reason, detail, raw_line) VALUES (?, ?, ?, ?)",
            [int(line_number), reason, detail, (csv_line or "").lstrip("\r\n")[:MAX_RAW_CHARS]],
        )


# --- the rows to load ----------------------------------------------------------------------------


def _fast_rows_sql(path: str) -> str:
    """The fast lines, straight from the file: split and cast, no further checks needed."""
    fields = "f[1] AS carrier, " + ", ".join(
        f"CAST(NULLIF(f[{i}], '') AS BIGINT) AS {name}"
        for i, name in enumerate(("origin_id", "dest_id", "dep_delay", "arr_delay"), start=2)
    )
    return f"""(
        SELECT {fields}
        FROM (SELECT string_split(line, ',') AS f FROM {_lines(path, keep_rejects=False)} WHERE {_FAST})
    )"""


def good_rows_sql(path: str) -> str:
    """Every accepted row of the loaded file (after :func:`load_rows`): fast lines plus good slow ones."""
    return f"""(
        SELECT * FROM {_fast_rows_sql(path)}
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
    con: Any, path: str, dim_table: str, min_dep_delay: Optional[int], limit: int = 20
) -> list[int]:
    """The smallest ``limit`` airport ids of loaded flights that the dimension does not know.

    Another scan of the file: call it only when the load counted flights with unknown airports.
    """
    rows = con.execute(
        f"""SELECT DISTINCT id FROM (
                SELECT s.origin_id AS id FROM {good_rows_sql(path)} s {_filter(min_dep_delay)}
                UNION ALL
                SELECT s.dest_id FROM {good_rows_sql(path)} s {_filter(min_dep_delay)}
            ) WHERE id NOT IN (SELECT airport_id FROM {dim_table} WHERE airport_id IS NOT NULL)
            ORDER BY id LIMIT {int(limit)}"""
    ).fetchall()
    return [int(row[0]) for row in rows]


def rejected_rows_sql() -> str:
    """The file's rejected rows: ``(line_number, raw_line, reason, detail)``, by line."""
    return f"""SELECT line_number, raw_line, reason, detail FROM {SLOW_ROWS}
               WHERE reason IS NOT NULL ORDER BY line_number"""
