"""Bulk writes shared by the hot paths (collections, fan-out): ``COPY`` on PostgreSQL, batched
``executemany`` elsewhere, always on the session's own connection and so inside its
transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any, TypeVar

import orjson
from psycopg import Copy
from sqlalchemy import JSON, Table, insert
from sqlalchemy.orm import Session

from interop_hub.kit.db import is_postgresql
from interop_hub.kit.pgcopy import LINES, copy_statement, write_binary

CHUNK = 5000
T = TypeVar("T")
NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def insert_many(session: Session, table: Table, records: Iterable[dict[str, Any]]) -> None:
    """Insert many rows (every record has the same keys)."""
    if is_postgresql(session):
        copy_rows(session, table, records)
        return
    for batch in chunks(records):
        session.execute(insert(table), batch)


def copy_rows(session: Session, table: Table, records: Iterable[dict[str, Any]]) -> None:
    """Stream rows into ``table`` with ``COPY ... FROM STDIN``. JSON columns are serialized here
    (bytes given for a JSON column are taken as already-encoded JSON); psycopg adapts the rest."""
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        return
    columns = list(first)
    encode = [isinstance(table.c[name].type, JSON) for name in columns]
    with _copy(session, table, columns) as copy:
        for record in chain((first,), iterator):
            copy.write_row(
                [
                    _json_text(record[name]) if is_json else record[name]
                    for name, is_json in zip(columns, encode, strict=True)
                ]
            )


def copy_text(
    session: Session, table: Table, columns: Sequence[str], lines: Iterable[bytes]
) -> None:
    """Stream rows already in ``COPY``'s text format into ``table`` (PostgreSQL only): a line of
    UTF-8 per row, ending in a line feed, fields separated by tabs, :data:`NULL` for NULL,
    strings escaped by :func:`text_field`.

    For rows written by the thousand with few varying values (task rows, renderings), a line
    formatted at once costs a fraction of adapting every value through psycopg's dumpers. Lines
    are sent joined in pieces of :data:`LINES` (each ``write`` is a round of the protocol)."""
    with _copy(session, table, columns) as copy:
        for batch in chunks(lines, LINES):
            copy.write(b"".join(batch))


def copy_binary(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[bytes]
) -> None:
    """Stream rows already in ``COPY``'s binary format into ``table`` (PostgreSQL only): per
    row, :func:`~interop_hub.kit.pgcopy.field_count` and then each field made by the
    ``*_binary`` functions of :mod:`interop_hub.kit.pgcopy`, in the order of ``columns`` and of
    the binary form of each column's exact type (a smallint is ``int2_binary``; the server
    refuses a field of the wrong size).

    For the Repository's rows, written by the hundred thousand: the server parses no text
    (two ``timestamptz`` and up to five UUIDs a row), which took a third of its time for an
    initial collection's memberships (731,314 rows: 9.8 → 7.7 s, same Python time)."""
    with _copy(session, table, columns, binary=True) as copy:
        write_binary(copy, rows)


def text_field(value: str | None) -> str:
    """A string as a field of ``COPY``'s text format.

    Most strings need no escape: ``isprintable`` is false for tab, line feed and carriage
    return, and costs a tenth of ``translate``, which only the others go through."""
    if value is None:
        return NULL
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(_ESCAPES)


@contextmanager
def _copy(
    session: Session, table: Table, columns: Sequence[str], *, binary: bool = False
) -> Iterator[Copy]:
    """``COPY table (columns) FROM STDIN`` on the session's connection."""
    statement = copy_statement(table.name, columns, binary=binary)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        yield copy


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()
