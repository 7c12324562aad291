"""Interop Hub: a self-hostable K-12 data-sync hub (Interop API and Interop Data API)."""

__version__ = "0.1.0"
