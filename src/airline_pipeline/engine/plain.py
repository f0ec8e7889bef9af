"""Plain files: the ones DuckDB's typed CSV reader loads exactly as the row rules would.

The exact fast path reads every line as one string, matches it against a regex and splits and casts
it: about twice the CPU of DuckDB's own typed CSV reader. The typed reader is not exact in general:
it rounds ``1.5`` to 2, reads ``0x10`` as 16, ``1e3`` as 1000, ``1_000`` as 1000, trims spaces and
takes ``+5``. So it is used only for a **plain** file, which :class:`PlainBytes` recognises during
the pre-scan's one pass over the bytes (no extra read):

* after the header, only letters, digits, ``,``, ``-``, ``.`` and line breaks (no space, tab,
  quote, ``+``, ``_``, control byte or non-ASCII byte), one kind of line break (LF or CRLF), no
  line over the limit;
* letters only in the first field (the carrier), never in an airport id or a delay;
* a ``.`` only as BTS writes whole numbers, a digit and then ``.00`` at the end of a field.

In a plain file every number field is ``-?[0-9]+(.00)?`` (exactly the integer the rules give), or
text both readers refuse (``-``, ``1-2``, ``--1``). What remains - the field count, empty fields, the
carrier's length, blank lines - the typed read checks itself: :func:`typed_rows_sql` leaves out
every line it cannot read or that breaks a rule, and those lines, and only those (:data:`TYPED_LINE`
says which lines the typed read took), go through the exact rules as before. So a plain file
with a few broken rows still loads its good rows from the typed read. Tests:
``tests/unit/test_plain_files.py`` (the routes, and that both paths load the same rows).
"""

from __future__ import annotations

from airline_pipeline.core.contract import CARRIER_MAX_BYTES

#: Bytes dropped before the class check: digits and the two signs a number field may hold.
_NUMBER_BYTES = b"0123456789-."


def _classes() -> bytes:
    """Byte -> class: ``a`` letter, ``,`` field end, ``\\n`` line break (CR too), ``?`` anything else."""
    table = bytearray(b"?" * 256)
    for letter in range(ord("A"), ord("Z") + 1):
        table[letter] = table[letter + 32] = ord("a")
    table[ord(",")] = ord(",")
    table[ord("\n")] = table[ord("\r")] = ord("\n")
    return bytes(table)


_CLASSES = _classes()
#: Not plain: a byte of no class; a letter in a number field (``0x10``, ``1e3``, ``abc``: after the
#: numbers are dropped it follows a ","); six fields or more (the typed reader takes a sixth, empty
#: field as a trailing delimiter: ``DL,1,2,3,4,`` would load).
_NOT_PLAIN = (b"?", b",a", b",,,,,")


def _dot_classes() -> bytes:
    """Byte -> class for the ``.`` check: ``0``, ``1`` (other digits), ``.``, ``,`` (a field's end or
    start: ``,``, ``-``, a line break), ``a`` (anything else)."""
    table = bytearray(b"a" * 256)
    for digit in b"123456789":
        table[digit] = ord("1")
    for byte, kind in ((b"0", b"0"), (b".", b"."), (b",", b","), (b"-", b","), (b"\n", b","), (b"\r", b",")):
        table[byte[0]] = kind[0]
    return bytes(table)


_DOT_CLASSES = _dot_classes()
#: ``.00`` then the end of a field: how BTS writes a whole number (``-5.00``).
_WHOLE = b".00,"
#: A ``.`` right after a field's start or a ``-`` (``.00``, ``-.00``): typed, 0; by the rules, not a number.
_BARE = b",."


class PlainBytes:
    """The plain-file check, fed the file's chunks in order by the pre-scan (one pass, no extra read).

    Works per chunk with byte operations in C (``translate``, ``in``, ``count``): about 2 ms per MiB.
    A pattern split across two chunks is checked on the seam.
    """

    def __init__(self) -> None:
        self.plain = True
        self._in_header = True
        self._last_classes = b""  # the last 5 classes seen (a pattern across two chunks)
        self._tail = b""  # the last 3 data bytes seen (dot patterns across a seam)
        self._dots = 0
        self._whole = 0

    def feed(self, chunk: bytes) -> None:
        if not self.plain:
            return
        if self._in_header:
            end = chunk.find(b"\n")
            if end < 0:
                return
            self._in_header = False
            chunk = chunk[end + 1 :]
        # A line is now its carrier's letters, then one "," per field after the first: "aa,,,,".
        classes = chunk.translate(_CLASSES, _NUMBER_BYTES)
        seam = self._last_classes + classes[:5]
        if any(bad in classes or bad in seam for bad in _NOT_PLAIN):
            self.plain = False
            return
        self._last_classes = (self._last_classes + classes[-5:])[-5:]
        seam = self._tail + chunk[:3]
        if b"." in chunk or b"." in seam:
            self._check_dots(chunk, seam)
        self._tail = (self._tail + chunk[-3:])[-3:]

    def _check_dots(self, chunk: bytes, seam: bytes) -> None:
        """Every ``.`` must be a digit's, followed by ``00`` and the field's end (BTS's whole numbers)."""
        dots = chunk.translate(_DOT_CLASSES)
        seam = seam.translate(_DOT_CLASSES)  # the last 3 bytes before the chunk + its first 3
        if _BARE in dots or (self._tail[-1:] + chunk[:1]).translate(_DOT_CLASSES) == _BARE:
            self.plain = False
            return
        self._dots += dots.count(b".")
        # A 4-byte pattern inside the 6-byte seam crosses it: none is counted twice.
        self._whole += dots.count(_WHOLE) + seam.count(_WHOLE)

    def result(self, kinds: frozenset[str], long_lines: bool) -> bool:
        """Whether the file is plain, given what the rest of the pre-scan found."""
        whole_at_end = 1 if self._tail.endswith(b".00") else 0  # the last line has no line break
        return (
            self.plain
            and not self._in_header
            and self._dots == self._whole + whole_at_end
            and not long_lines
            and (kinds <= {"LF"} or kinds == {"CRLF"})
        )


def typed_rows_sql(path: str, max_line_bytes: int) -> str:
    """The rows of a plain file by DuckDB's typed reader: ``(carrier, origin_id, dest_id, dep_delay, arr_delay)``.

    A line is left out when the reader cannot read it (another field count, a number it cannot
    parse or that does not fit in BIGINT, a blank line) or when it breaks a rule the types do not
    (an empty carrier or airport id, a carrier over ``CARRIER_MAX_BYTES``). :data:`TYPED_LINE`
    takes exactly the lines kept here.
    """
    quoted = path.replace("'", "''")
    return f"""(
        SELECT carrier, origin_id, dest_id, dep_delay, arr_delay
        FROM read_csv('{quoted}',
                      columns = {{'carrier': 'VARCHAR', 'origin_id': 'BIGINT', 'dest_id': 'BIGINT',
                                  'dep_delay': 'BIGINT', 'arr_delay': 'BIGINT'}},
                      header = false, skip = 1, delim = ',', quote = '', escape = '', auto_detect = false,
                      strict_mode = true, null_padding = false, ignore_errors = true,
                      max_line_size = {int(max_line_bytes)})
        WHERE carrier IS NOT NULL AND strlen(carrier) <= {CARRIER_MAX_BYTES}
          AND origin_id IS NOT NULL AND dest_id IS NOT NULL
    )"""


def _field(number: int) -> str:
    return f"split_part(line, ',', {number})"


def _bigint(number: int, *, required: bool) -> str:
    parsed = f"TRY_CAST({_field(number)} AS BIGINT) IS NOT NULL"
    return parsed if required else f"({_field(number)} = '' OR {parsed})"


#: The lines of a plain file that :func:`typed_rows_sql` loads, as a condition on ``line`` (one line).
#: ``TRY_CAST`` is the parser the typed reader uses for BIGINT; on a plain file's number fields the
#: two agree (``test_plain_files.py`` checks both DuckDB versions).
TYPED_LINE = " AND ".join(
    (
        "len(string_split(line, ',')) = 5",
        f"{_field(1)} <> ''",
        f"strlen({_field(1)}) <= {CARRIER_MAX_BYTES}",
        _bigint(2, required=True),
        _bigint(3, required=True),
        _bigint(4, required=False),
        _bigint(5, required=False),
    )
)
