"""The baseline ``ingest`` is measured against: plain DuckDB, CSV -> two LEFT JOINs -> table.

No validation, no line numbers, no lineage, default DuckDB settings: the fastest honest way to
produce the fact table's nine data columns. The airports come from the warehouse's own
``airlines.airports_dim`` (the benchmark runs this script on a copy of the same prepared
warehouse ``ingest`` gets), or from ``--airports CSV`` when the file has no such table.
The last stdout line is JSON: ``{"rows": ..., "seconds": ...}``.

``--lineage`` also writes the four lineage columns the fact table has (flight_date, source_file,
batch_id, loaded_at; constants here): the same 13 columns ``ingest`` writes, to tell what they cost.

    python bench/bare_join.py FLIGHTS.csv OUT.duckdb [--airports airports.csv] [--lineage]
"""

from __future__ import annotations

import argparse
import json
import time

import duckdb

DIM_TABLE = "airlines.airports_dim"
OUT_TABLE = "bare_fact"


def _literal(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def bare_join(flights: str, database: str, airports: str | None = None, *, lineage: bool = False) -> int:
    """Join ``flights`` with the airports into ``OUT_TABLE`` of ``database``; returns the rows written."""
    lineage_columns = (
        f""", DATE '2013-06-01' AS flight_date, {_literal(flights)} AS source_file,
              'bench-bare-join' AS batch_id, TIMESTAMP '2026-01-01 00:00:00' AS loaded_at"""
        if lineage
        else ""
    )
    con = duckdb.connect(database)
    try:
        if airports is not None:
            con.execute("CREATE SCHEMA IF NOT EXISTS airlines")
            con.execute(f"CREATE TABLE {DIM_TABLE} AS SELECT * FROM read_csv({_literal(airports)})")
        con.execute(
            f"""CREATE TABLE {OUT_TABLE} AS
                SELECT f.Carrier AS carrier,
                       dep.name AS dep_airport, arr.name AS arr_airport,
                       dep.city AS dep_city, arr.city AS arr_city,
                       dep.state AS dep_state, arr.state AS arr_state,
                       f.DepDelay AS dep_delay, f.ArrDelay AS arr_delay{lineage_columns}
                FROM read_csv({_literal(flights)}) f
                LEFT JOIN {DIM_TABLE} dep ON f.OriginAirportID = dep.airport_id
                LEFT JOIN {DIM_TABLE} arr ON f.DestAirportID = arr.airport_id"""
        )
        (rows,) = con.execute(f"SELECT count(*) FROM {OUT_TABLE}").fetchall()[0]
        return int(rows)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("flights", help="flights CSV (header Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay)")
    parser.add_argument("database", help="DuckDB file to write; must hold airlines.airports_dim unless --airports")
    parser.add_argument("--airports", help="airports CSV to load first (airport_id,city,state,name)")
    parser.add_argument("--lineage", action="store_true", help="also write the fact table's 4 lineage columns")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = bare_join(args.flights, args.database, args.airports, lineage=args.lineage)
    print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - started, 3)}))


if __name__ == "__main__":
    main()
