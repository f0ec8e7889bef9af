"""Every status word the pipeline records, in one place: the audit table's and the ledger's share LOADED/FAILED.

Plain strings with ``Literal`` types rather than an ``Enum``: they are bound as SQL parameters,
written to JSON and DynamoDB, and compared with what those return; Python 3.9 (the Glue job) has no
``StrEnum``, and a ``str`` mixin enum formats differently across 3.9-3.12.
"""

from __future__ import annotations

from typing import Literal

#: An attempt began (committed first); replaced by LOADED or FAILED when it ends. One that stays
#: STARTED was killed, or is still running.
STARTED = "STARTED"
LOADED = "LOADED"
FAILED = "FAILED"
#: Ledger only: a file claimed by a live execution.
IN_FLIGHT = "IN_FLIGHT"
#: Ledger only: a file that can never load (bad header, bad key); a new upload is a new etag.
REJECTED = "REJECTED"
#: Freshness only: a day with no loaded file (``airline-pipeline freshness``), and the alert item
#: (``freshness#<date>`` in the ledger table) of a day reported missing ...
MISSING = "MISSING"
#: ... that has loaded since (its RECOVERED notification was sent).
RECOVERED = "RECOVERED"

AuditStatus = Literal["STARTED", "LOADED", "FAILED"]
LedgerStatus = Literal["IN_FLIGHT", "LOADED", "FAILED", "REJECTED"]
AUDIT_STATUSES: tuple[str, ...] = (STARTED, LOADED, FAILED)
LEDGER_STATUSES: tuple[str, ...] = (IN_FLIGHT, LOADED, FAILED, REJECTED)
DayStatus = Literal["LOADED", "FAILED", "MISSING"]
