"""Operator commands and models: what running the pipeline costs and does."""
