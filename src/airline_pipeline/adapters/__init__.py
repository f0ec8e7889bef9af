"""The outside world: warehouses (DuckDB, Redshift), input sources, S3, AWS clients and the load ledger."""
