"""Developer tooling: the local AWS emulator and the demo. Never shipped in the Lambda layer."""
