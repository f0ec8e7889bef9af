"""The pure core: input contract, warehouse schema, errors, a load's outcome, admission rules. No I/O, no AWS."""
