"""Operator commands (reprocess, history, ...) and their helpers."""
