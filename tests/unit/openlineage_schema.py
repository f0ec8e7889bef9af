"""Validate OpenLineage events against the vendored spec (tests/unit/schemas/openlineage), offline.

The event is checked against ``OpenLineage.json#/$defs/RunEvent``; that schema accepts any facet with
``_producer`` and ``_schemaURL``, so each facet is then checked against the schema its own
``_schemaURL`` names - which must be one of the vendored files (an unknown facet schema fails).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "schemas" / "openlineage"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _registry() -> Any:
    from referencing import Registry, Resource

    documents = [json.loads(path.read_text()) for path in sorted(SCHEMAS.rglob("*.json"))]
    return Registry().with_resources((document["$id"], Resource.from_contents(document)) for document in documents)


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from event.get("run", {}).get("facets", {}).items()
    yield from event.get("job", {}).get("facets", {}).items()
    for dataset in event.get("inputs", []):
        yield from dataset.get("facets", {}).items()
        yield from dataset.get("inputFacets", {}).items()
    for dataset in event.get("outputs", []):
        yield from dataset.get("facets", {}).items()
        yield from dataset.get("outputFacets", {}).items()


def validate_run_event(event: dict[str, Any]) -> int:
    """Raise ``jsonschema.ValidationError`` unless the event and each facet is valid; returns the facet count."""
    from jsonschema import Draft202012Validator, FormatChecker

    registry = _registry()

    def check(instance: Any, url: str) -> None:
        Draft202012Validator({"$ref": url}, registry=registry, format_checker=FormatChecker()).validate(instance)

    check(event, RUN_EVENT)
    count = 0
    for _, facet in _facets(event):
        check(facet, facet["_schemaURL"])
        count += 1
    return count
