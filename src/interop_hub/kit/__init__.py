"""The shared kit: settings, database, ids, crypto, errors and paging."""
