"""The load engine: scan a file, check its rows, join them, and hand the rows to a warehouse's sink (DuckDB SQL)."""
