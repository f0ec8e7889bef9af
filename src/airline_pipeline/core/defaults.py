"""One home for each default the pipeline's parts share (the template's parameters keep their own)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

#: The folder of the data bucket whose ``.csv`` objects start the pipeline (template ``DataPrefix``).
DATA_PREFIX = "daily-flights/"
#: What ships with the package: the airports dimension and one real day of flights.
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SHIPPED_AIRPORTS = SAMPLES / "airports.csv"
SAMPLE_DATE = date(2013, 1, 15)
SAMPLE_FLIGHTS = SAMPLES / f"flights_{SAMPLE_DATE.isoformat()}.csv"
