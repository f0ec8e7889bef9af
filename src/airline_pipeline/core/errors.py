"""One exception hierarchy for the whole pipeline.

Every error carries a stable ``code`` (the class name). The Lambdas return it as a *result*
(``{"ok": false, "error": code}``) because exception class names do not reach Step Functions on
the local emulator; the CLI prints it; the audit table stores it.
"""

from __future__ import annotations

import signal
from typing import Any, Optional


class PipelineError(Exception):
    """Base class: something the user can act on, with a message that says what."""

    @property
    def code(self) -> str:
        return type(self).__name__


class ConfigError(PipelineError):
    """A required setting is missing or malformed (environment variable, URI, option)."""


# --- the file as a whole is unusable: nothing is loaded -------------------------------------------


class InvalidFile(PipelineError):
    """The file cannot be loaded at all; no row of it is loaded."""


class InvalidKey(InvalidFile):
    """The object key/path does not follow the layout (prefix, ``.csv`` suffix, ``date=`` segment)."""


class EmptyFile(InvalidFile):
    """Zero bytes."""


class NoDataRows(InvalidFile):
    """A header and nothing else: refusing protects the day's existing rows from a truncated upload."""


class InvalidHeader(InvalidFile):
    """The first line is not the expected header.

    ``found`` is shown as readable text (control characters escaped, cut with an ellipsis), with a
    hint when it is plainly another delimiter's header; ``note`` adds why it was refused.
    """

    #: Characters of the found header shown in the message.
    SHOWN_CHARS = 200
    _DELIMITERS = (("\t", "tab"), (";", "semicolon"), ("|", "pipe"))

    def __init__(self, expected: str, found: str, note: str = "") -> None:
        self.expected = expected
        self.found = found
        message = f"wrong header: expected '{expected}', found '{readable(found, self.SHOWN_CHARS)}'"
        if note:
            message += f" ({note})"
        hint = self._delimiter_hint(expected, found)
        if hint:
            message += f"; {hint}"
        super().__init__(message)

    @classmethod
    def _delimiter_hint(cls, expected: str, found: str) -> str:
        """'it looks tab-separated ...' when splitting ``found`` on another delimiter gives the expected names."""
        names = [name.lower() for name in expected.split(",")]
        for delimiter, name in cls._DELIMITERS:
            fields = [field.strip().strip('"').lower() for field in found.split(delimiter)]
            if len(fields) > 1 and (fields == names or "," not in found):
                return f"it looks {name}-separated: the file must be comma-separated (save it as CSV with commas)"
        return ""


def readable(text: str, limit: int) -> str:
    """``text`` as one printable line: control characters escaped (a tab reads ``\\t``), cut at ``limit`` with ``…``."""
    shown = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text[: limit + 1]
    )
    return shown if len(text) <= limit and len(shown) <= limit else shown[:limit] + "…"


class InvalidEncoding(InvalidFile):
    """The head of the file is not UTF-8 text."""


class CompressedFile(InvalidFile):
    """gzip (or other compressed) bytes where plain CSV text was expected."""


class UnreadableFile(InvalidFile):
    """The object or path cannot be read (missing, permission denied, network)."""


class TruncatedFile(InvalidFile):
    """The file ends in NUL bytes: an interrupted (or preallocated) copy, not a whole file."""


class BinaryContent(InvalidFile):
    """The file holds every control byte the reader could use to read whole lines: binary, not CSV text."""


class FileChanged(InvalidFile):
    """The file changed (grew, shrank or was replaced) while it was being loaded: no consistent snapshot."""


class UnaccountedLines(InvalidFile):
    """The reader saw a different number of lines than the file has: loading would lose rows silently."""


class IdentityTooLong(InvalidFile):
    """A ``source_file`` or ``batch_id`` longer than the warehouse column: it would be cut, and collide."""


# --- the warehouse side ----------------------------------------------------------------------------


class WarehouseError(PipelineError):
    """The warehouse refused or failed a statement; the load was rolled back."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse (DuckDB file lock) for longer than we are willing to wait."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse cannot be opened or written: missing, not a database, damaged, no permission, disk full."""


class LoadFailed(WarehouseError):
    """A load statement failed; ``details`` carries what the warehouse said (e.g. COPY errors)."""

    def __init__(self, message: str, details: str = "") -> None:
        self.details = details
        super().__init__(f"{message}: {details}" if details else message)


# --- the command was stopped -----------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped the command; the load in progress was rolled back.

    A KeyboardInterrupt, so that no ``except Exception`` on its way out can swallow it. ``summary``
    is the interrupted load's outcome (the JSON the CLI prints), when there was one.
    """

    code = "Interrupted"

    def __init__(self, signal_name: str = "SIGINT", summary: Optional[dict[str, Any]] = None) -> None:
        self.signal_name = signal_name
        self.summary = summary
        how = "Ctrl-C (SIGINT)" if signal_name == "SIGINT" else signal_name
        super().__init__(f"stopped by {how}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a command a signal ended (130 for Ctrl-C)."""
        return 128 + int(getattr(signal, self.signal_name, signal.SIGINT))
