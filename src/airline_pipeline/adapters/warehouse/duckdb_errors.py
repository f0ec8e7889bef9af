"""DuckDB engine errors, explained: what a message about the file or the disk means and what to do."""

from __future__ import annotations

from typing import NoReturn, Optional

from airline_pipeline.core.errors import WarehouseError, WarehouseUnavailable

# What an engine error says -> what it means and what to do (first match wins).
_ADVICE: tuple[tuple[tuple[str, ...], str, type[WarehouseError]], ...] = (
    (
        ("not a valid duckdb database",),
        "the file is not a DuckDB database (damaged, or another kind of file): restore it from a backup "
        "or point --warehouse at another file",
        WarehouseUnavailable,
    ),
    (
        ("is a directory",),
        "that is a directory: point --warehouse at a file, e.g. duckdb:///path/to/folder/warehouse.duckdb",
        WarehouseUnavailable,
    ),
    (
        ("permission denied", "operation not permitted", "read-only file system"),
        "no permission: check the permissions of the file and of its folder "
        "(`lsattr` shows an immutable flag), or use a copy you can write",
        WarehouseUnavailable,
    ),
    (
        ("file too large", "no space left", "disk quota"),
        "the disk (or the process's file size limit) is full: free space and run the command again",
        WarehouseUnavailable,
    ),
    (
        ("could not read", "checksum", "corrupt", "invalid block", "unexpected end"),
        "the file is damaged (truncated or corrupt): restore it from a backup",
        WarehouseUnavailable,
    ),
    (
        ("out of memory",),
        "DuckDB ran out of its memory limit: raise it with ?memory_limit=1GB on the warehouse URI "
        "(or AIRLINE_PIPELINE_DUCKDB_MEMORY_LIMIT)",
        WarehouseError,
    ),
)


def explained_error(path: str, exc: BaseException, *, about: tuple[str, ...] = ()) -> Optional[WarehouseError]:
    """The engine error as a WarehouseError that says what to do, when we know what it means.

    ``about``: when given, a file or disk problem is explained only if the error names one of these
    paths - a load's error about its *input* file must not be blamed on the warehouse.
    """
    text = str(exc)
    for needles, advice, kind in _ADVICE:
        if any(needle in text.lower() for needle in needles):
            if about and kind is WarehouseUnavailable and not any(where in text for where in about):
                return None
            first_line = (text.strip().splitlines() or [type(exc).__name__])[0]
            return kind(f"cannot use the warehouse {path}: {first_line} - {advice}")
    return None


def raise_explained(path: str, exc: BaseException, *, about: tuple[str, ...] = ()) -> NoReturn:
    """Raise :func:`explained_error` of ``exc`` (chained to it), or ``exc`` itself when it has no explanation."""
    error = explained_error(path, exc, about=about)
    if error is None:
        raise exc
    raise error from exc
