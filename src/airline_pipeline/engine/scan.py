"""The byte pass over an input file, before DuckDB reads a byte of it.

:func:`prepare` scans the file once (:func:`scan_file`: line count, line breaks, a delimiter the
file lacks, over-long lines, a NUL tail) and hands DuckDB a :class:`PreparedFile`: a literal path it
reads line by line, exactly, and the line count every later stage must account for. Nothing
proportional to the file is held in memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, Optional

from airline_pipeline.core.errors import BinaryContent, ConfigError, TruncatedFile
from airline_pipeline.engine.plain import PlainBytes

#: The longest line DuckDB will read (bytes); longer ones are rejected as ``line_too_long``.
MAX_LINE_BYTES = 1024 * 1024


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
    #: Whether DuckDB's typed reader loads the file exactly (:mod:`airline_pipeline.engine.plain`).
    plain: bool = False


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
    plain = PlainBytes()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            plain.feed(chunk)
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
        plain=plain.result(kinds, bool(long_lines)),
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
    #: Raises :class:`~airline_pipeline.core.errors.FileChanged` when the source changed since it was opened.
    check_unchanged: Callable[[], None] = _nothing_changed
    #: Read with DuckDB's typed reader (:mod:`airline_pipeline.engine.plain`); else line by line only.
    plain: bool = False


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
      :func:`literal_path`. If it is plain (:mod:`airline_pipeline.engine.plain`, found in the same
      pass) DuckDB's typed reader loads it; a copy is never plain.

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
            yield PreparedFile(link, scan.lines, scan.delimiter, check_unchanged, plain=scan.plain)
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
