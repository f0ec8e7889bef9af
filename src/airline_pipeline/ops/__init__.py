"""Operator commands: read and act on the warehouse (new modules land here; see the package layout)."""
