"""The pure core: input contract, schema (+ later column additions), errors, a load's outcome, cost model. No I/O."""
