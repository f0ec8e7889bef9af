"""Pure domain rules: no AWS calls, Python 3.9."""
