"""Scoping (DESIGN §3.6): the schools and courses a district shares with a tenant."""
