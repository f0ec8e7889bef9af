"""One exception hierarchy for the whole pipeline.

Every error carries a stable ``code`` (the class name). The Lambdas return it as a *result*
(``{"ok": false, "error": code}``) because exception class names do not reach Step Functions on
the local emulator; the CLI prints it; the audit table stores it.
"""

from __future__ import annotations


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
    """The first line is not the expected header."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        shown = found if len(found) <= 200 else found[:200] + "..."
        super().__init__(f"wrong header: expected '{expected}', found '{shown}'")


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


class LoadFailed(WarehouseError):
    """A load statement failed; ``details`` carries what the warehouse said (e.g. COPY errors)."""

    def __init__(self, message: str, details: str = "") -> None:
        self.details = details
        super().__init__(f"{message}: {details}" if details else message)
