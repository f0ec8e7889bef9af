"""airline-pipeline: daily flights CSV -> validate -> join with airports -> warehouse."""

__version__ = "0.1.0"
