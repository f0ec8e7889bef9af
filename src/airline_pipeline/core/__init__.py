"""The pure core: input contract, schema (+ later column additions), errors, a load's outcome, cost model, admission
rules. No I/O, no AWS."""
