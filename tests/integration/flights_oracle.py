"""An independent reading of the input contract, in plain Python, to compute what a load must give.

Nothing here imports the pipeline: lines are split with ``bytes.splitlines`` (universal newlines),
fields with a small RFC 4180 state machine (strict: a quote only opens a field, a closing quote
must end it), numbers with ``int``; the airports come from the CSV via the ``csv`` module. The
rules are the design notes' (see ``shared/design.md`` and the brief): blank lines are ignored and
counted, values are trimmed, ``12.0`` is 12 but ``1.5`` is rejected, empty delays are NULL, both
joins are LEFT joins, and the first broken rule (in column order) names a rejected row.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

HEADER = ("Carrier", "OriginAirportID", "DestAirportID", "DepDelay", "ArrDelay")
WHITESPACE = " \t\x0b\x0c"
MAX_LINE_BYTES = 1024 * 1024
CARRIER_MAX_BYTES = 10
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NUMBER = re.compile(r"([+-]?[0-9]+)(?:\.([0-9]*))?")

#: airport_id -> (city, state, name)
Airports = dict[int, tuple[Optional[str], Optional[str], Optional[str]]]
#: carrier, dep_airport, arr_airport, dep_city, arr_city, dep_state, arr_state, dep_delay, arr_delay
Fact = tuple[Optional[object], ...]

FACT_COLUMNS = "carrier, dep_airport, arr_airport, dep_city, arr_city, dep_state, arr_state, dep_delay, arr_delay"


def read_airports(path: Union[str, Path]) -> Airports:
    """The dimension a ``load-airports`` of ``path`` must give: the last row of an id wins, '' is NULL."""
    airports: Airports = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            airports[int(row["airport_id"])] = (row["city"] or None, row["state"] or None, row["name"] or None)
    return airports


def split_fields(line: str) -> Optional[list[str]]:
    """RFC 4180 fields of one line, quotes removed; None when the quoting is malformed."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            value, j = [], i + 1
            while True:
                if j >= n:
                    return None  # the quoted field is never closed
                if line[j] == '"':
                    if j + 1 < n and line[j + 1] == '"':
                        value.append('"')
                        j += 2
                        continue
                    j += 1
                    break
                value.append(line[j])
                j += 1
            fields.append("".join(value))
            if j == n:
                return fields
            if line[j] != ",":
                return None  # text after the closing quote
            i = j + 1
            if i == n:
                fields.append("")
                return fields
        else:
            comma = line.find(",", i)
            value_text = line[i:] if comma < 0 else line[i:comma]
            if '"' in value_text:
                return None  # a quote inside an unquoted field
            fields.append(value_text)
            if comma < 0:
                return fields
            i = comma + 1


def whole_number(text: str) -> Union[int, str]:
    """The integer ``text`` stands for, or the reason it does not."""
    match = _NUMBER.fullmatch(text)
    if not match:
        return "not_integer"
    if match.group(2) and match.group(2).strip("0"):
        return "not_whole_number"
    value = int(match.group(1))
    if not INT64_MIN <= value <= INT64_MAX:
        return "out_of_range"
    return value


@dataclass
class Row:
    carrier: str
    origin: int
    dest: int
    dep: Optional[int]
    arr: Optional[int]


def check_row(raw: bytes) -> Union[Row, str]:  # noqa: PLR0911 - one return per rule reads best
    """A good row, or the reason it is rejected."""
    if len(raw) > MAX_LINE_BYTES:
        return "line_too_long"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    fields = split_fields(line)
    if fields is None:
        return "bad_quoting"
    if len(fields) != len(HEADER):
        return "wrong_field_count"
    carrier, origin, dest, dep, arr = (f.strip(WHITESPACE) for f in fields)
    if not carrier:
        return "empty_carrier"
    if len(carrier.encode("utf-8")) > CARRIER_MAX_BYTES:
        return "carrier_too_long"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in carrier):
        return "invalid_carrier"
    numbers: list[Optional[int]] = []
    for text, required in ((origin, True), (dest, True), (dep, False), (arr, False)):
        if text == "":
            if required:
                return "missing_value"
            numbers.append(None)
            continue
        value = whole_number(text)
        if isinstance(value, str):
            return value
        numbers.append(value)
    o, d, dep_delay, arr_delay = numbers
    assert o is not None
    assert d is not None
    return Row(carrier, o, d, dep_delay, arr_delay)


@dataclass
class Expected:
    facts: Counter = field(default_factory=Counter)
    rejects: dict[int, str] = field(default_factory=dict)
    raw: dict[int, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_filtered: int = 0
    blank_lines: int = 0
    unknown_airports: int = 0
    unknown_airport_ids: set[int] = field(default_factory=set)

    @property
    def rows_loaded(self) -> int:
        return sum(self.facts.values())

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)


def expected_load(data: bytes, airports: Airports, min_dep_delay: Optional[int] = None) -> Expected:
    """What loading ``data`` (a whole file, header included) must put in the warehouse."""
    out = Expected()
    for number, raw in enumerate(data.splitlines()[1:], start=2):
        if len(raw) <= MAX_LINE_BYTES and not raw.strip(WHITESPACE.encode()):
            out.blank_lines += 1
            continue
        out.rows_read += 1
        row = check_row(raw)
        if isinstance(row, str):
            out.rejects[number] = row
            out.raw[number] = raw.decode("utf-8", errors="replace")[:1000]
            continue
        if min_dep_delay is not None and (row.dep is None or row.dep < min_dep_delay):
            out.rows_filtered += 1
            continue
        o_city, o_state, o_name = airports.get(row.origin, (None, None, None))
        d_city, d_state, d_name = airports.get(row.dest, (None, None, None))
        out.facts[(row.carrier, o_name, d_name, o_city, d_city, o_state, d_state, row.dep, row.arr)] += 1
        unknown = {i for i in (row.origin, row.dest) if i not in airports}
        if unknown:
            out.unknown_airports += 1
            out.unknown_airport_ids |= unknown
    return out
