"""The airports file: checked line by line, upserted by id, its rejected rows kept.

Both warehouses run this on a DuckDB connection (the warehouse's own, or a private one for
Redshift), so they cannot drift apart on what ``load-airports`` accepts, counts or reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airline_pipeline.core import schema
from airline_pipeline.core.errors import IdentityTooLong, InvalidFile
from airline_pipeline.core.outcome import AirportsLoad
from airline_pipeline.engine import facts, rules, scan

AIRPORT_HEADER = ("airport_id", "city", "state", "name")
#: The temp table :func:`read_airports` fills: one row per line, ``reason`` NULL for a good one.
AIRPORTS_CHECKED = "airports_checked"
#: An airports line: the id by the flights' own integer rule (``10830.7``, ``0x10``, ``1e3`` are
#: refused, never coerced into another airport's id); empty names are NULL.
AIRPORT_RULES = rules.LineRules(
    fields=len(AIRPORT_HEADER),
    rules=(rules.number_rule("t[1]", "airport_id", required=True),),
    values=(
        ("airport_id", rules.whole_number("t[1]")),
        ("city", "NULLIF(t[2], '')"),
        ("state", "NULLIF(t[3], '')"),
        ("name", "NULLIF(t[4], '')"),
    ),
)

#: The good rows of ``airports_checked`` to upsert, in ``schema.AIRPORTS_COLUMNS`` order: the last
#: line of a repeated id wins, as a sequence of upserts would have it.
LATEST_AIRPORTS_SQL = f"""SELECT {", ".join(schema.column_names(schema.AIRPORTS_COLUMNS))} FROM (
        SELECT *, row_number() OVER (PARTITION BY airport_id ORDER BY line_number DESC) AS pick
        FROM {AIRPORTS_CHECKED} WHERE reason IS NULL
    ) WHERE pick = 1"""


def read_first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline().strip()
    except OSError as exc:
        raise InvalidFile(f"cannot read {path}: {exc}") from exc


@dataclass(frozen=True)
class AirportsRead:
    """The airports file's lines: ``rows_read = good + rejected``, blank lines apart."""

    rows_read: int
    rejected: int
    blank_lines: int

    @property
    def good(self) -> int:
        return self.rows_read - self.rejected


def read_airports(con: Any, path: str) -> AirportsRead:
    """Check the airports CSV at ``path`` line by line into the temp table ``airports_checked``.

    A wrong header raises :class:`~airline_pipeline.core.errors.InvalidFile` (nothing is read). Each
    other line is good or rejected with its line number and reason, by the same code and rules as
    a flights file (:func:`rules.check_lines`): one bad row no longer refuses the file, and no
    row is coerced into an id it does not say.
    """
    problem = schema.identity_problem("source_file", path)
    if problem:
        raise IdentityTooLong(f"{path[:120]}...: {problem}")
    header = read_first_line(path)
    if tuple(field.strip().lower() for field in header.split(",")) != AIRPORT_HEADER:
        raise InvalidFile(f"{path}: expected header '{','.join(AIRPORT_HEADER)}', found '{header}'")
    with scan.prepare(path) as file:
        rows_read, blank = rules.check_lines(con, file, AIRPORT_RULES, into=AIRPORTS_CHECKED)
    rejected = int(con.execute(f"SELECT count(*) FROM {AIRPORTS_CHECKED} WHERE reason IS NOT NULL").fetchall()[0][0])
    return AirportsRead(rows_read=rows_read, rejected=rejected, blank_lines=blank)


def airport_changes(con: Any, dim_table: str) -> tuple[int, int]:
    """``(added, changed)``: ids of the file the dimension lacks / holds with another city, state or name."""
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE d.airport_id IS NULL),
                   count(*) FILTER (WHERE d.airport_id IS NOT NULL AND (d.city IS DISTINCT FROM n.city
                                    OR d.state IS DISTINCT FROM n.state OR d.name IS DISTINCT FROM n.name))
            FROM ({LATEST_AIRPORTS_SQL}) n
            LEFT JOIN {facts.unique_dimension_sql(dim_table)} d ON n.airport_id = d.airport_id"""
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def rejected_airports_select(load_id: str, source_file: str, rejected_at: datetime) -> tuple[str, list[Any]]:
    """The rejected lines of ``airports_checked`` in ``schema.REJECTED_AIRPORTS_COLUMNS`` order, and bind values."""
    sql = f"""SELECT CAST(? AS VARCHAR) AS load_id, CAST(? AS VARCHAR) AS source_file, line_number, raw_line,
                     reason, detail, CAST(? AS TIMESTAMP) AS rejected_at
              FROM {AIRPORTS_CHECKED} WHERE reason IS NOT NULL ORDER BY line_number"""
    return sql, [load_id, source_file, rejected_at]


#: Rejected rows shown in ``load-airports``' output; all of them are in the table.
_EXAMPLES = 5


def airports_outcome(
    con: Any, read: AirportsRead, *, load_id: str, source_file: str, changes: tuple[int, int], facts_loaded: bool
) -> AirportsLoad:
    """The ``load-airports`` result, with a warning for what an operator must not miss.

    Rejected rows (where to find them), and changed airports when flights are already loaded: the
    fact table keeps the names it was loaded with (a snapshot), so those flights show the old names
    until their files are loaded again.
    """
    by_reason = dict(
        con.execute(
            f"""SELECT reason, count(*) FROM {AIRPORTS_CHECKED} WHERE reason IS NOT NULL
                GROUP BY reason ORDER BY count(*) DESC, reason"""
        ).fetchall()
    )
    examples = [
        {"line_number": line, "reason": reason, "detail": detail}
        for line, reason, detail in con.execute(
            f"""SELECT line_number, reason, detail FROM {AIRPORTS_CHECKED} WHERE reason IS NOT NULL
                ORDER BY line_number LIMIT {_EXAMPLES}"""
        ).fetchall()
    ]
    added, changed = changes
    warnings = []
    if read.rejected:
        nothing = " - no airport was loaded" if not read.good else ""
        warnings.append(
            f"{read.rejected:,} of {read.rows_read:,} rows rejected, not loaded{nothing}: "
            f"SELECT * FROM {schema.REJECTED_AIRPORTS} WHERE load_id = '{load_id}'"
        )
    if changed and facts_loaded:
        warnings.append(
            f"{changed:,} existing airports changed city, state or name: flights already loaded keep the old "
            "names until their files are loaded again (airline-pipeline reprocess --from D1 --to D2 ...)"
        )
    return AirportsLoad(
        load_id=load_id,
        source_file=source_file,
        rows_read=read.rows_read,
        rows_upserted=read.good,
        rows_rejected=read.rejected,
        blank_lines=read.blank_lines,
        airports_added=added,
        airports_changed=changed,
        rejected_by_reason={str(reason): int(count) for reason, count in by_reason.items()},
        rejected_examples=examples,
        warning="; ".join(warnings) or None,
    )
