"""Interop Clouds and the actors installed in them."""
