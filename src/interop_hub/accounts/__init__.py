"""Accounts (districts, vendors, operators) and their API keys."""
