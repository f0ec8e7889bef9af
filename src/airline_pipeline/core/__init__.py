"""The pure core: contract, schema, errors and the models every other layer shares (no AWS, Python 3.9)."""
