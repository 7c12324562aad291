"""Statements that run two at a time on connections of their own (PostgreSQL): index builds
and ``ANALYZE`` of tables that a bulk load just committed.

A build sorts on one core of the server; with two connections the server sorts two indexes at
once while this process waits. Nothing here may import SQLAlchemy: the memberships' loader
process uses it too (``tests/unit/test_loader_imports.py``).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg


def two_at_a_time(db: psycopg.Connection, url: str, statements: Sequence[str]) -> None:
    """Run ``statements`` on ``db`` and on a second connection to ``url`` at once, each
    connection taking the next statement left; returns when all ran. The statements must not
    depend on one another (e.g. the ``CREATE INDEX`` of committed tables), and ``db`` must be in
    autocommit mode (each one is its own transaction)."""
    left = collections.deque(statements)

    def run(connection: psycopg.Connection) -> None:
        while left:
            try:
                statement = left.popleft()
            except IndexError:  # the other took the last one
                return
            connection.execute(statement)

    if len(left) < 2:
        run(db)
        return
    with psycopg.connect(url, autocommit=True) as other, ThreadPoolExecutor(1) as pool:
        elsewhere = pool.submit(run, other)
        try:
            run(db)
        finally:
            left.clear()
            elsewhere.result()
