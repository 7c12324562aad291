"""Bulk writes shared by the hot paths (collections, fan-out): ``COPY`` on PostgreSQL, batched
``executemany`` elsewhere, always on the session's own connection and so inside its
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any, TypeVar

import orjson
from psycopg import Copy
from psycopg import sql as psycopg_sql
from sqlalchemy import JSON, Table, insert
from sqlalchemy.orm import Session

from interop_hub.kit.db import is_postgresql

CHUNK = 5000
LINES = 500
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


def text_field(value: str | None) -> str:
    """A string as a field of ``COPY``'s text format.

    Most strings need no escape: ``isprintable`` is false for tab, line feed and carriage
    return, and costs a tenth of ``translate``, which only the others go through."""
    if value is None:
        return NULL
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(_ESCAPES)


def uuid_field(value: uuid.UUID | None) -> str:
    """A UUID as a field of ``COPY``'s text format: 32 hex digits (PostgreSQL reads them without
    hyphens), ~10x cheaper than ``str(value)``."""
    return NULL if value is None else "%032x" % value.int  # noqa: UP031 - the fastest form


def json_field(value: Any) -> str:
    """A JSON column's value (bytes: already encoded) as a field of ``COPY``'s text format.

    Encoded JSON holds no raw tab or line break (they are escaped as ``\\t``, ``\\n``), so only its
    backslashes need doubling."""
    text = _json_text(value)
    if text is None:
        return NULL
    return text.replace("\\", "\\\\") if "\\" in text else text


@contextmanager
def _copy(session: Session, table: Table, columns: Sequence[str]) -> Iterator[Copy]:
    """``COPY table (columns) FROM STDIN`` on the session's connection."""
    statement = psycopg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        psycopg_sql.Identifier(table.name),
        psycopg_sql.SQL(", ").join(psycopg_sql.Identifier(name) for name in columns),
    )
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
