"""The rostering query API (Interop Data API #60–#80): an actor reads its cloud's Repository.

``queries`` holds the SQL (id-ordered pages, per-org lists, relationship loading for a whole page),
``serialize`` turns rows into the Data API's JSON, ``service`` puts them together for
``routes``.
"""
