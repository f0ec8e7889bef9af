"""Operator tasks behind the CLI: reprocess, history, the delay report, freshness, and verifying a deployed stack."""
