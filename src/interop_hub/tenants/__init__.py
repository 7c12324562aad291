"""Tenants: an Integration installed in a Cloud."""
