"""Row-level parsing, validation and the dimension join, as DuckDB SQL.

Why line-based: DuckDB's CSV reader is fast but silently rounds ``1.5`` to ``2`` in a BIGINT column,
accepts ``0x10``/``1e3``/``1_000``, and cannot tell the line number of a row it accepted. We read
each physical line as one string instead, and split the work by cost:

* **fast path** - one regex recognises the canonical shape (``DL,10397,12478,-3,``); such a line is
  split and cast without further checks. Nearly every line of a real file takes it.
* **slow path** - every other non-blank line (spaces, signs, ``12.0``, quotes, and every broken row)
  is numbered, split (quoted fields, embedded commas and doubled quotes included) and validated
  field by field; the first broken rule becomes ``reason`` + ``detail``.

A clean file is read twice, each a streaming scan: a byte pre-scan in Python (:func:`scan_file`:
line count, line breaks, a delimiter the file lacks, over-long lines, a NUL tail), then the load
itself, which streams the fast lines straight into the join. Only when the counts disagree (some
line is not fast) is the file read again, counting the reader's lines against the pre-scan's and
numbering them to find and validate the slow ones. The same line checks serve the airports file
(:func:`check_lines` with other :class:`LineRules`). Nothing
proportional to the file is held in memory, and a clean load never waits for a ``row_number()``
over millions of lines. The SQL runs on DuckDB 1.2.2 (the newest the Glue Python shell can
install) as well as on current releases.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Optional

from airline_pipeline.contract import CARRIER_MAX_BYTES, EXPECTED_HEADER
from airline_pipeline.errors import BinaryContent, ConfigError, TruncatedFile, UnaccountedLines
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


def _lines(file: PreparedFile, *, keep_rejects: bool) -> str:
    """Every physical line after the header, as ``line``; refused lines are skipped or recorded."""
    quoted = file.path.replace("'", "''")
    errors = (
        f"store_rejects = true, rejects_table = '{_READER_REJECTS}', rejects_scan = '{_READER_REJECTS}_scans'"
        if keep_rejects
        else "ignore_errors = true"
    )
    return f"""read_csv('{quoted}', columns = {{'line': 'VARCHAR'}}, header = false, skip = 1,
                        delim = '{file.delimiter}', quote = '', escape = '', auto_detect = false,
                        strict_mode = false, max_line_size = {MAX_LINE_BYTES}, {errors})"""


#: Bytes read at a time by the pre-scan and the rewrite.
_CHUNK_BYTES = 8 * 1024 * 1024
#: Half the longest line: a line longer than MAX_LINE_BYTES holds a whole window without a line break.
_WINDOW = MAX_LINE_BYTES // 2
#: An over-long line is cut to this many bytes in the copy DuckDB reads: still over the limit (so
#: rejected as ``line_too_long``), but never past DuckDB's 32 MiB buffer, where a line vanished uncounted.
_LONG_LINE_KEPT = MAX_LINE_BYTES + 16
#: Delimiters for the one-column reader, in order of preference: control bytes that are neither
#: whitespace nor line breaks. The first one the file does not contain is used, so no byte of a
#: line can split it; a file holding all of them gets a two-byte delimiter.
_DELIMITERS = tuple(chr(b) for b in (0x1F, 0x1E, 0x1D, 0x1C, *range(0x01, 0x09), *range(0x0E, 0x1C), 0x7F))
_DELIMITER_PAIRS = tuple(a + b for a in _DELIMITERS[:8] for b in _DELIMITERS[:8])
#: The characters of a path DuckDB cannot misread (no glob pattern, no URL scheme, no ``~``).
_LITERAL_PATH = re.compile(r"/[A-Za-z0-9_./-]*")


@dataclass(frozen=True)
class FileScan:
    """What one byte pass over a file tells, before DuckDB reads a byte of it."""

    #: Kinds of line break: a subset of ``{"LF", "CRLF", "CR"}``.
    kinds: frozenset[str]
    #: Physical lines after the header (universal newlines: CRLF, LF or a lone CR ends a line), blank ones included.
    lines: int
    #: A delimiter the file does not contain (the reader must never split a line).
    delimiter: str
    #: ``(start, end)`` byte offsets of the lines longer than ``MAX_LINE_BYTES`` (line breaks excluded).
    long_lines: tuple[tuple[int, int], ...]
    #: NUL bytes at the very end of the file.
    trailing_nul: int


def _break_in(chunk: bytes, start: int, end: int, has_cr: bool) -> bool:
    return chunk.find(b"\n", start, end) >= 0 or (has_cr and chunk.find(b"\r", start, end) >= 0)


def _first_break(chunk: bytes, start: int, end: int, has_cr: bool) -> int:
    found = [i for i in (chunk.find(b"\n", start, end), chunk.find(b"\r", start, end) if has_cr else -1) if i >= 0]
    return min(found) if found else -1


def _last_break(chunk: bytes, start: int, end: int, has_cr: bool) -> int:
    return max(chunk.rfind(b"\n", start, end), chunk.rfind(b"\r", start, end) if has_cr else -1)


def scan_file(path: str) -> FileScan:
    """One streaming pass: line breaks and lines, the reader's delimiter, over-long lines, a NUL tail.

    Folded into one pass because every load needs it: a clean file costs one ``count`` and a few
    ``find`` calls per 8 MiB chunk. Over-long lines are found exactly: a line crossing chunk
    boundaries by its running length, a line inside a chunk by a half-limit window without a break.
    """
    lf = crlf = cr = 0
    after_cr = has_unit_separator = False
    since_break = offset = trailing_nul = 0
    last = b""
    long_lines: list[tuple[int, int]] = []
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            size = len(chunk)
            has_cr = b"\r" in chunk
            newlines = chunk.count(b"\n")
            pairs = chunk.count(b"\r\n") if has_cr else 0
            lf += newlines - pairs
            crlf += pairs
            cr += chunk.count(b"\r") - pairs if has_cr else 0
            if after_cr and chunk.startswith(b"\n"):  # a CRLF split between two chunks
                cr, lf, crlf = cr - 1, lf - 1, crlf + 1
            after_cr = chunk.endswith(b"\r")
            has_unit_separator = has_unit_separator or _DELIMITERS[0].encode() in chunk
            first = _first_break(chunk, 0, size, has_cr)
            if first < 0:
                since_break += size
            else:
                if since_break + first > MAX_LINE_BYTES:
                    long_lines.append((offset - since_break, offset + first))
                final = _last_break(chunk, 0, size, has_cr)
                long_lines += _long_lines_inside(chunk, offset, first, final, has_cr)
                since_break = size - final - 1
            if chunk.endswith(b"\0"):
                kept = len(chunk.rstrip(b"\0"))
                trailing_nul = trailing_nul + size if kept == 0 else size - kept
            else:
                trailing_nul = 0
            offset += size
            last = chunk[-1:]
    if since_break > MAX_LINE_BYTES:
        long_lines.append((offset - since_break, offset))
    unterminated = bool(last) and last not in (b"\n", b"\r")
    kinds = frozenset(kind for kind, count in (("LF", lf), ("CRLF", crlf), ("CR", cr)) if count)
    return FileScan(
        kinds=kinds,
        lines=max(lf + crlf + cr + unterminated - 1, 0),
        delimiter=_absent_delimiter(path) if has_unit_separator else _DELIMITERS[0],
        long_lines=tuple(sorted(long_lines)),
        trailing_nul=trailing_nul,
    )


def _long_lines_inside(chunk: bytes, offset: int, first: int, final: int, has_cr: bool) -> list[tuple[int, int]]:
    """Lines over the limit between the chunk's first and last break: each holds a window without a break."""
    found: list[tuple[int, int]] = []
    for window in range(0, len(chunk) - _WINDOW + 1, _WINDOW):
        if first < window and window + _WINDOW <= final and not _break_in(chunk, window, window + _WINDOW, has_cr):
            start = _last_break(chunk, 0, window, has_cr) + 1
            end = _first_break(chunk, window + _WINDOW, len(chunk), has_cr)
            line = (offset + start, offset + end)
            if end - start > MAX_LINE_BYTES and line not in found:
                found.append(line)
    return found


def _absent_delimiter(path: str) -> str:
    """The first delimiter candidate the file does not contain (another pass: only for files with 0x1f)."""
    left = list(_DELIMITERS + _DELIMITER_PAIRS)
    tail = b""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            window = tail + chunk  # a two-byte delimiter may straddle chunks
            left = [candidate for candidate in left if candidate.encode() not in window]
            if not left:
                break
            tail = chunk[-1:]
    if not left:
        raise BinaryContent(
            f"'{path}' contains every control byte the reader could use to read whole lines: it is not CSV text"
        )
    return left[0]


def line_break_kinds(path: str) -> set[str]:
    """The kinds of line break in the file at ``path``: a subset of ``{"LF", "CRLF", "CR"}``."""
    return set(scan_file(path).kinds)


def _nothing_changed() -> None:
    """The default :attr:`PreparedFile.check_unchanged`: a private copy (an S3 download) cannot change."""


@dataclass(frozen=True)
class PreparedFile:
    """A file ready for DuckDB: a path it reads literally, its physical line count and its delimiter."""

    path: str
    lines: int
    delimiter: str = _DELIMITERS[0]
    #: Raises :class:`~airline_pipeline.errors.FileChanged` when the source changed since it was opened.
    check_unchanged: Callable[[], None] = _nothing_changed


@contextlib.contextmanager
def literal_path(path: str) -> Iterator[str]:
    """A path to the file at ``path`` that DuckDB cannot read as anything else.

    DuckDB expands glob patterns (``*``, ``?``, ``[...]``, ``{...}``) in file names: a file named
    ``a*.csv`` would load its neighbours' rows. The file is handed over as a symlink with a fixed
    name in a private temporary folder, pointing at its canonical path.
    """
    with _private_dir() as workdir:
        link = os.path.join(workdir, "input.csv")
        os.symlink(os.path.realpath(path), link)
        yield link


@contextlib.contextmanager
def _private_dir() -> Iterator[str]:
    workdir = tempfile.mkdtemp(prefix="airline-pipeline-")
    try:
        if not _LITERAL_PATH.fullmatch(workdir):
            raise ConfigError(
                f"the temporary folder {workdir!r} has characters DuckDB reads as a pattern; "
                "point TMPDIR at a plain path (letters, digits, '_', '.', '-', '/')"
            )
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def prepare(
    path: str, *, name: Optional[str] = None, check_unchanged: Callable[[], None] = _nothing_changed
) -> Iterator[PreparedFile]:
    """Scan the file at ``path`` once and hand DuckDB something it reads exactly, line by line.

    * A file ending in NUL bytes is refused (:class:`TruncatedFile`): an interrupted copy.
    * Physical lines are universal newlines (CRLF, LF or a lone CR ends a line, as
      ``bytes.splitlines``). DuckDB counts them exactly only when a file uses one kind of break:
      with an LF header a CRLF row gains a phantom blank line, and in a CRLF file a lone CR
      swallows the next line's first character. A mixed file is copied once with LF breaks.
    * A line longer than DuckDB's 32 MiB buffer vanished without a count: the copy cuts every line
      over ``MAX_LINE_BYTES`` to just over the limit, so the reader rejects it as ``line_too_long``.
    * A uniform file without over-long lines (nearly all) is not copied: DuckDB reads it through
      :func:`literal_path`.

    ``name`` is what messages call the file (its URI; ``path`` may be a download).
    """
    scan = scan_file(path)
    if scan.trailing_nul:
        raise TruncatedFile(
            f"'{name or path}' ends in {scan.trailing_nul:,} NUL bytes: an interrupted or preallocated copy, "
            "not a whole file; nothing loaded - copy the file again"
        )
    normalize = len(scan.kinds) > 1
    if not normalize and not scan.long_lines:
        with literal_path(path) as link:
            yield PreparedFile(link, scan.lines, scan.delimiter, check_unchanged)
        return
    with _private_dir() as workdir:
        target = os.path.join(workdir, "lines.csv")
        cuts = [(start + _LONG_LINE_KEPT, end) for start, end in scan.long_lines]
        _rewrite(path, target, cuts=cuts, normalize=normalize)
        yield PreparedFile(target, scan.lines, scan.delimiter, check_unchanged)


def _rewrite(path: str, target: str, *, cuts: list[tuple[int, int]], normalize: bool) -> None:
    """Copy ``path`` to ``target`` without the byte ranges ``cuts``, with LF breaks if ``normalize``."""
    with open(path, "rb") as source, open(target, "wb") as copy:
        carry, offset = b"", 0
        for chunk in iter(lambda: source.read(_CHUNK_BYTES), b""):
            start, offset = offset, offset + len(chunk)
            kept = _without(chunk, start, cuts) if cuts else chunk
            if normalize:
                kept = carry + kept  # a CR at a chunk's end may start a CRLF
                carry = b"\r" if kept.endswith(b"\r") else b""
                kept = kept[: len(kept) - len(carry)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            copy.write(kept)
        copy.write(carry.replace(b"\r", b"\n"))


def _without(chunk: bytes, start: int, cuts: list[tuple[int, int]]) -> bytes:
    """``chunk`` (at file offset ``start``) less the parts inside the ``cuts`` byte ranges."""
    end = start + len(chunk)
    pieces, position = [], start
    for cut_start, cut_end in cuts:
        if cut_end <= position or cut_start >= end:
            continue
        pieces.append(chunk[position - start : max(cut_start, position) - start])
        position = min(cut_end, end)
    pieces.append(chunk[position - start :])
    return b"".join(pieces)


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
    :func:`airline_pipeline.contract.check_head`; ``file`` comes from :func:`prepare`. ``write``
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
            empty = _validated_sql(_split_sql(_NO_LINES), FLIGHT_RULES)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {SLOW_ROWS} AS {empty}")
            return LoadCounts(rows_read=loaded_fast, rows_loaded=loaded_fast, rows_rejected=0, blank_lines=0)
        rows_read, blank = check_lines(con, file, FLIGHT_RULES, into=SLOW_ROWS, skip=_FAST)
        loaded_slow = write(
            fact_rows_sql(f"(SELECT * FROM {SLOW_ROWS} WHERE reason IS NULL)", dim_table, min_dep_delay), lineage
        )
    rejected = int(con.execute(f"SELECT count(*) FROM {SLOW_ROWS} WHERE reason IS NOT NULL").fetchall()[0][0])
    return LoadCounts(
        rows_read=rows_read,
        rows_loaded=loaded_fast + loaded_slow,
        rows_rejected=rejected,
        blank_lines=blank,
    )


def _one_per_line(refused: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One reader reject per line: an over-long line with bad UTF-8 is reported twice, and is one row.

    The length wins (as the rules are ordered: a line over the limit is ``line_too_long`` whatever it holds).
    """
    by_line: dict[int, tuple[Any, ...]] = {}
    for row in refused:
        line = int(row[0])
        if line not in by_line or row[1] == "LINE SIZE OVER MAXIMUM":
            by_line[line] = row
    return [by_line[line] for line in sorted(by_line)]


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


def check_lines(
    con: Any, file: PreparedFile, rules: LineRules, *, into: str, skip: Optional[str] = None
) -> tuple[int, int]:
    """Check every line of ``file`` by ``rules`` into the temp table ``into``; returns (rows read, blank lines).

    Two reads: the reader counts the lines and reports the ones it refuses (bad UTF-8, over-long),
    then numbers every line and validates the non-blank ones that ``skip`` (a SQL condition on
    ``line``) does not match. ``into`` gets one row per checked or refused line:
    ``(line_number, reason, detail, raw_line, <the rules' values>)``, ``reason`` NULL for a good row.
    Every physical line must be read, refused, blank or skipped: a reader that saw another number
    of lines than the pre-scan counted fails (:class:`UnaccountedLines`) instead of losing rows.
    """
    _drop(con, _READER_REJECTS, f"{_READER_REJECTS}_scans")
    lines = int(con.execute(f"SELECT count(*) FROM {_lines(file, keep_rejects=True)}").fetchall()[0][0])
    refused = _one_per_line(
        con.execute(
            f"""SELECT line, CAST(error_type AS VARCHAR), csv_line, error_message
                FROM {_READER_REJECTS} ORDER BY line"""
        ).fetchall()
    )
    _drop(con, _READER_REJECTS, f"{_READER_REJECTS}_scans")
    if lines + len(refused) != file.lines:
        file.check_unchanged()  # a file that changed under the reader is the likelier cause: say so
        raise UnaccountedLines(
            f"the reader saw {lines + len(refused):,} lines after the header, the file has {file.lines:,}: "
            "nothing loaded rather than rows lost"
        )
    skipped = f"coalesce({skip}, false)" if skip else "false"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE numbered_lines AS
            SELECT ord, line, blank FROM (
                SELECT row_number() OVER () AS ord, line, {_BLANK} AS blank, {skipped} AS skipped
                FROM {_lines(file, keep_rejects=False)}
            ) WHERE NOT skipped"""
    )
    blank = int(con.execute("SELECT count(*) FROM numbered_lines WHERE blank").fetchall()[0][0])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
            {_validated_sql(_split_sql("(SELECT ord, line FROM numbered_lines WHERE NOT blank)"), rules)}"""
    )
    con.execute("DROP TABLE numbered_lines")
    _record_refused_lines(con, refused, into)
    return lines - blank + len(refused), blank


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


def number_rule(field: str, name: str, *, required: bool) -> str:
    """The first broken rule of the trimmed numeric field ``field`` (SQL), as ``'reason|detail'``, or NULL.

    The one definition of an integer in this pipeline: the flights' airport ids and delays and the
    airports' ids. ``12.0`` is 12; ``1.5``, ``0x10``, ``1e3``, ``1_000`` and values beyond BIGINT
    are refused, never coerced.
    """
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


def whole_number(field: str) -> str:
    """The BIGINT a field that passed :func:`number_rule` stands for (NULL when empty)."""
    return f"TRY_CAST(NULLIF(split_part({field}, '.', 1), '') AS BIGINT)"


@dataclass(frozen=True)
class LineRules:
    """How one kind of CSV line is checked: its field count, its rules in order, a good row's values.

    Rules and values are SQL over ``t``, the line's fields unquoted and trimmed (1-based). A rule is
    NULL or ``'reason|detail'``; the first broken one names a rejected row. Before them, every kind
    of line has the same structure rules: ``bad_quoting`` and ``wrong_field_count``.
    """

    fields: int
    rules: tuple[str, ...]
    #: ``(column, SQL)``: the typed values of a good row (NULL for a rejected one).
    values: tuple[tuple[str, str], ...]


FLIGHT_RULES = LineRules(
    fields=_FIELDS,
    rules=(
        f"""CASE
        WHEN t[1] = '' THEN 'empty_carrier|Carrier is empty'
        WHEN strlen(t[1]) > {CARRIER_MAX_BYTES}
            THEN 'carrier_too_long|Carrier is longer than {CARRIER_MAX_BYTES} bytes: ''' || t[1] || ''''
        WHEN regexp_matches(t[1], '[\\x00-\\x1f\\x7f]')
            THEN 'invalid_carrier|Carrier contains control characters (NUL, tab, ...)'
    END""",
        number_rule("t[2]", EXPECTED_HEADER[1], required=True),
        number_rule("t[3]", EXPECTED_HEADER[2], required=True),
        number_rule("t[4]", EXPECTED_HEADER[3], required=False),
        number_rule("t[5]", EXPECTED_HEADER[4], required=False),
    ),
    values=(
        ("carrier", "t[1]"),
        ("origin_id", whole_number("t[2]")),
        ("dest_id", whole_number("t[3]")),
        ("dep_delay", whole_number("t[4]")),
        ("arr_delay", whole_number("t[5]")),
    ),
)


def _validated_sql(split_relation: str, rules: LineRules) -> str:
    """Validation of ``(ord, line, f)`` by ``rules``: one row out per line in.

    Out: ``(line_number, reason, detail, raw_line, <rules.values>)``; ``reason`` is NULL for a good
    row. ``line_number`` counts the header as line 1; lines the reader refused before this one are
    added by :func:`_record_refused_lines`.
    """
    fields = rules.fields
    rule = f"""CASE
        WHEN f IS NULL
            THEN 'bad_quoting|malformed quotes: a quoted field is not closed, or text follows its closing quote'
        WHEN len(f) <> {fields}
            THEN 'wrong_field_count|expected {fields} fields, found ' || CAST(len(f) AS VARCHAR)
        ELSE coalesce({", ".join(rules.rules)})
    END"""
    trimmed = ", ".join(_unquoted(f"f[{i}]") for i in range(1, fields + 1))
    values = ",\n           ".join(f"CASE WHEN rule IS NULL THEN {sql} END AS {name}" for name, sql in rules.values)
    return f"""
    SELECT ord + 1 AS line_number,
           split_part(rule, '|', 1) AS reason,
           CASE WHEN rule IS NOT NULL THEN substr(rule, strpos(rule, '|') + 1) END AS detail,
           left(line, {MAX_RAW_CHARS}) AS raw_line,
           {values}
    FROM (
        SELECT ord, line, t, {rule} AS rule
        FROM (SELECT ord, line, f, CASE WHEN len(f) = {fields} THEN [{trimmed}] END AS t FROM {split_relation})
    )"""


def _record_refused_lines(con: Any, refused: list[tuple[Any, ...]], into: str) -> None:
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
        f"""UPDATE {into} SET line_number = line_number + (
                SELECT count(*) FROM {REFUSED_LINES} r WHERE r.threshold < {into}.line_number)"""
    )
    con.execute(f"DROP TABLE {REFUSED_LINES}")
    for line_number, error_type, csv_line, message in refused:
        reason, detail = _READER_REASONS.get(error_type, ("unreadable_line", message or error_type))
        con.execute(
            f"INSERT INTO {into} (line_number, reason, detail, raw_line) VALUES (?, ?, ?, ?)",
            [int(line_number), reason, detail, (csv_line or "").lstrip("\r\n")[:MAX_RAW_CHARS]],
        )


# --- the rows to load ----------------------------------------------------------------------------


def _fast_rows_sql(file: PreparedFile) -> str:
    """The fast lines, straight from the file: split and cast, no further checks needed."""
    fields = "f[1] AS carrier, " + ", ".join(
        f"CAST(NULLIF(f[{i}], '') AS BIGINT) AS {name}"
        for i, name in enumerate(("origin_id", "dest_id", "dep_delay", "arr_delay"), start=2)
    )
    return f"""(
        SELECT {fields}
        FROM (SELECT string_split(line, ',') AS f FROM {_lines(file, keep_rejects=False)} WHERE {_FAST})
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

    Another scan of the file: call it only when the load counted flights with unknown airports.
    """
    rows = con.execute(
        f"""SELECT DISTINCT id FROM (
                SELECT s.origin_id AS id FROM {good_rows_sql(file)} s {_filter(min_dep_delay)}
                UNION ALL
                SELECT s.dest_id FROM {good_rows_sql(file)} s {_filter(min_dep_delay)}
            ) WHERE id NOT IN (SELECT airport_id FROM {dim_table} WHERE airport_id IS NOT NULL)
            ORDER BY id LIMIT {int(limit)}"""
    ).fetchall()
    return [int(row[0]) for row in rows]


def rejected_rows_sql() -> str:
    """The file's rejected rows: ``(line_number, raw_line, reason, detail)``, by line."""
    return f"""SELECT line_number, raw_line, reason, detail FROM {SLOW_ROWS}
               WHERE reason IS NOT NULL ORDER BY line_number"""
