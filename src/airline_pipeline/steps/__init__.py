"""The pipeline's Lambda steps as plain functions over typed inputs; handlers in functions/ only parse and call."""
