"""Step 2a: keep the Glue catalog of the data prefix current, and run the crawler only when it must.

A crawler run is billed at least 10 minutes of a DPU: ~$0.07, most of what a daily file cost when
every file started a crawl. On most days nothing about the catalog changes but one new ``date=``
folder, and that partition is registered here directly (``BatchCreatePartition`` with the table's
StorageDescriptor and the folder's location; "already exists" is fine). The crawler still runs
whenever discovery is needed: no table catalogs the crawler's target yet, the file's header is not
the table's columns, or the key's folders are not the table's partition layout.

The table is found from the crawler's own definition (its database and S3 target path), so the
step needs no configuration of its own and follows the crawler wherever it is pointed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Optional

from pydantic import BaseModel, Field

from airline_pipeline.core.contract import parse_header
from airline_pipeline.core.s3uri import S3Uri


class CatalogDecision(BaseModel):
    """``$.catalog`` in the state machine: the Choice after it reads ``crawl``."""

    crawl: bool
    reason: str
    database: Optional[str] = None
    table: Optional[str] = None
    partition_values: list[str] = Field(default_factory=list)
    #: True when this step created the partition; False when it was there already (or crawl is True).
    registered: bool = False


class CatalogError(RuntimeError):
    """Glue refused to register the partition for a reason other than "it exists"."""


def _folder(uri: str) -> str:
    return uri.rstrip("/") + "/"


def plan_catalog(glue: Any, *, crawler_name: str, bucket: str, key: str, header: str) -> CatalogDecision:
    """Register the file's partition when the catalog needs nothing else; else say the crawler must run."""
    try:
        crawler = glue.get_crawler(Name=crawler_name)["Crawler"]
    except glue.exceptions.EntityNotFoundException:
        # StartCrawler fails on it too, naming the crawler: the failure belongs to that step
        return CatalogDecision(crawl=True, reason=f"crawler {crawler_name} not found")
    database = crawler["DatabaseName"]
    targets = [_folder(target["Path"]) for target in crawler.get("Targets", {}).get("S3Targets", [])]
    location = S3Uri(bucket, key).uri
    target = next((t for t in targets if location.startswith(t)), None)
    if target is None:
        return CatalogDecision(crawl=True, reason=f"{location} is outside the crawler's targets", database=database)
    table = _table_at(glue, database, target)
    if table is None:
        return CatalogDecision(crawl=True, reason=f"no table catalogs {target} yet", database=database)
    name = table["Name"]
    columns = [column["Name"].lower() for column in table.get("StorageDescriptor", {}).get("Columns", [])]
    found = [column.lower() for column in parse_header(header)]
    if columns != found:
        return CatalogDecision(
            crawl=True,
            reason=f"the header ({', '.join(found)}) differs from {name}'s columns ({', '.join(columns)})",
            database=database,
            table=name,
        )
    folders = location[len(target) :].split("/")[:-1]
    values = partition_values(folders, [k["Name"] for k in table.get("PartitionKeys", [])])
    if values is None:
        return CatalogDecision(
            crawl=True,
            reason=f"the folders {'/'.join(folders)!r} are not {name}'s partition layout",
            database=database,
            table=name,
        )
    created = register_partition(glue, database, table, values, target + "".join(f"{f}/" for f in folders))
    state = "registered" if created else "already registered"
    return CatalogDecision(
        crawl=False,
        reason=f"partition {'/'.join(folders)} of {database}.{name} {state}; the crawler is not needed",
        database=database,
        table=name,
        partition_values=values,
        registered=created,
    )


def partition_values(folders: Sequence[str], keys: Sequence[str]) -> Optional[list[str]]:
    """The partition values a crawler would give these folders, or None when they do not match ``keys``.

    Hive-style folders (``date=2013-01-15``) give the value after ``=`` for the key of that name;
    plain folders are the crawler's ``partition_0``, ``partition_1``, ... with the folder as value.
    """
    if len(folders) != len(keys) or not keys:
        return None
    values = []
    for index, (folder, key) in enumerate(zip(folders, keys)):
        name, equals, value = folder.partition("=")
        if equals and name.lower() == key.lower() and value:
            values.append(value)
        elif not equals and folder and key == f"partition_{index}":
            values.append(folder)
        else:
            return None
    return values


def register_partition(glue: Any, database: str, table: dict[str, Any], values: list[str], location: str) -> bool:
    """Create the partition as the crawler would (the table's storage settings at ``location``).

    Returns False when it exists already (another file of the same day, or an earlier crawl).
    """
    storage = copy.deepcopy(table.get("StorageDescriptor") or {})
    storage["Location"] = location
    partition: dict[str, Any] = {"Values": values, "StorageDescriptor": storage}
    if table.get("Parameters"):
        partition["Parameters"] = dict(table["Parameters"])
    response = glue.batch_create_partition(
        DatabaseName=database, TableName=table["Name"], PartitionInputList=[partition]
    )
    errors = response.get("Errors") or []
    if not errors:
        return True
    detail = errors[0].get("ErrorDetail") or {}
    if detail.get("ErrorCode") == "AlreadyExistsException":
        return False
    raise CatalogError(
        f"could not register partition {values} of {database}.{table['Name']}: "
        f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
    )


def _table_at(glue: Any, database: str, folder: str) -> Optional[dict[str, Any]]:
    """The database's table whose location is ``folder`` (the crawler names it after the folder)."""
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        for table in page.get("TableList", []):
            if _folder(table.get("StorageDescriptor", {}).get("Location", "")) == folder:
                return dict(table)
    return None
