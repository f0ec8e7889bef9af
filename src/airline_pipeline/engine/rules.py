"""Row rules as DuckDB SQL: how one CSV line is split, checked and typed, or rejected with a reason.

Why line-based: DuckDB's CSV reader is fast but silently rounds ``1.5`` to ``2`` in a BIGINT column,
accepts ``0x10``/``1e3``/``1_000``, and cannot tell the line number of a row it accepted. Each
physical line is read as one string instead; :func:`check_lines` numbers, splits (quoted fields,
embedded commas and doubled quotes included) and validates lines field by field, and the first
broken rule becomes ``reason`` + ``detail``. The same checks serve the flights file
(:data:`FLIGHT_RULES`) and the airports file (other :class:`LineRules`). The SQL runs on DuckDB
1.2.2 (the newest the Glue Python shell can install) as well as on current releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from airline_pipeline.core.contract import CARRIER_MAX_BYTES, EXPECTED_HEADER
from airline_pipeline.core.errors import UnaccountedLines
from airline_pipeline.engine.scan import MAX_LINE_BYTES, PreparedFile

#: Raw text kept for a rejected row; the rest is cut (Redshift VARCHAR and notification sizes).
MAX_RAW_CHARS = 1000

_FIELDS = len(EXPECTED_HEADER)
# One CSV field followed by the comma we append to every line: quoted ("a,""b") or bare.
_CSV_FIELD = r'("(?:[^"]|"")*"|[^,"]*),'
_NUMBER = r"[+-]?[0-9]+(\.[0-9]*)?"
_FRACTION = r"[+-]?[0-9]+\.[0-9]*[1-9][0-9]*"
REFUSED_LINES = "refused_lines"
_READER_REJECTS = "reader_rejects"

_READER_REASONS = {
    "INVALID UNICODE": ("invalid_utf8", "the line is not valid UTF-8"),
    "INVALID ENCODING": ("invalid_utf8", "the line is not valid UTF-8"),
    "LINE SIZE OVER MAXIMUM": ("line_too_long", f"the line is longer than {MAX_LINE_BYTES} bytes"),
}


def lines_sql(file: PreparedFile, *, keep_rejects: bool) -> str:
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


#: What "whitespace" means for blank lines and trimmed values: the same bytes ``bytes.strip()``
#: removes in :func:`airline_pipeline.core.contract.check_head` (line breaks never reach a line).
#: DuckDB's one-argument ``trim`` removes spaces only, so a tab-only line was not blank.
_WHITESPACE = " \t\x0b\x0c"
_BLANK = f"(line IS NULL OR trim(line, '{_WHITESPACE}') = '')"


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
    lines = int(con.execute(f"SELECT count(*) FROM {lines_sql(file, keep_rejects=True)}").fetchall()[0][0])
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
                FROM {lines_sql(file, keep_rejects=False)}
            ) WHERE NOT skipped"""
    )
    blank = int(con.execute("SELECT count(*) FROM numbered_lines WHERE blank").fetchall()[0][0])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
            {validated_sql(split_sql("(SELECT ord, line FROM numbered_lines WHERE NOT blank)"), rules)}"""
    )
    con.execute("DROP TABLE numbered_lines")
    _record_refused_lines(con, refused, into)
    return lines - blank + len(refused), blank


def _drop(con: Any, *tables: str) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def split_sql(numbered: str) -> str:
    """``(ord, line, f VARCHAR[])``; ``f`` is NULL when the quoting is malformed.

    Quoted fields keep their quotes here; :func:`validated_sql` removes them. A line is split
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


def validated_sql(split_relation: str, rules: LineRules) -> str:
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
