"""The pure core: the input contract, the warehouse schema, errors and a load's outcome. No I/O, no AWS."""
