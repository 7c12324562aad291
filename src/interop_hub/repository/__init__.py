"""The Repository: a cloud's current rostering data (DESIGN §5)."""
