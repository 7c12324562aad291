"""Collecting a source's data into the Repository: reading, validating, diffing, applying."""
