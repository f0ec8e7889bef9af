"""Operator tasks behind the CLI: reprocess, history, the delay report, and verifying a deployed stack."""
