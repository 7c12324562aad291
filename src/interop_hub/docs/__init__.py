"""Documentation generated from the code."""
