"""The operator surface (DESIGN §7): the same operations in the CLI and under /v2/platform."""
