"""Integrations, their versions and their blueprints."""
