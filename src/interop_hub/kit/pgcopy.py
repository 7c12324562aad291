"""``COPY``'s binary format (PostgreSQL): the fields of a row, and the stream of rows.

Used through :func:`interop_hub.kit.bulk.copy_binary` on a session's connection, and directly on
a psycopg connection by the memberships' loader process (:mod:`interop_hub.ingest.loader`),
which runs without SQLAlchemy: importing it was most of that process's start (~0.4 s of CPU on a
core the collection needs). Nothing here may import SQLAlchemy
(``tests/unit/test_loader_imports.py``).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import orjson
from psycopg import Copy, sql

LINES = 500
"""Rows sent per ``write`` (each is a round of the protocol)."""


def copy_statement(table: str, columns: Sequence[str], *, binary: bool = False) -> sql.Composed:
    """``COPY table (columns) FROM STDIN``, in the binary format if ``binary``."""
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(name) for name in columns),
        sql.SQL(" (FORMAT BINARY)" if binary else ""),
    )


def write_binary(
    copy: Copy, rows: Iterable[bytes], sent: Callable[[int], None] | None = None
) -> int:
    """Write ``rows`` (each :func:`field_count` and its fields) as a whole binary ``COPY``
    stream: the header, the rows in pieces of :data:`LINES`, the trailer; how many rows.
    ``sent(count)`` is called after each piece with the rows sent so far."""
    return write_pieces(copy, batched(rows), sent)


def batched(rows: Iterable[bytes]) -> Iterator[tuple[bytes, int]]:
    """``rows`` joined :data:`LINES` at a time, each piece with how many rows it holds."""
    iterator = iter(rows)
    while batch := list(islice(iterator, LINES)):
        yield b"".join(batch), len(batch)


def write_pieces(
    copy: Copy,
    pieces: Iterable[tuple[bytes | memoryview, int]],
    sent: Callable[[int], None] | None = None,
) -> int:
    """Write ``pieces`` (rows joined, and how many) as a whole binary ``COPY`` stream, as
    :func:`write_binary` writes rows; how many rows."""
    copy.write(BINARY_HEADER)
    count = 0
    for piece, rows in pieces:
        copy.write(piece)
        count += rows
        if sent is not None:
            sent(count)
    copy.write(BINARY_TRAILER)
    return count


BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # no flags, no extension
BINARY_TRAILER = struct.pack("!h", -1)
NULL_BINARY = struct.pack("!i", -1)
_UUID_LENGTH = struct.pack("!i", 16)
_length = struct.Struct("!i").pack
_int2 = struct.Struct("!ih").pack
_int4 = struct.Struct("!ii").pack
_int8 = struct.Struct("!iq").pack
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def field_count(count: int) -> bytes:
    """The start of a row of ``count`` fields."""
    return struct.pack("!h", count)


def uuid_binary(value: uuid.UUID | None) -> bytes:
    return NULL_BINARY if value is None else _UUID_LENGTH + value.bytes


def text_binary(value: str | None) -> bytes:
    """A ``text`` or ``varchar`` field (no escapes: the length says where it ends)."""
    if value is None:
        return NULL_BINARY
    encoded = value.encode()
    return _length(len(encoded)) + encoded


def json_binary(value: Any) -> bytes:
    """A ``json`` field (its binary form is its text); bytes are taken as encoded JSON."""
    if value is None:
        return NULL_BINARY
    encoded = value if isinstance(value, bytes) else orjson.dumps(value, option=orjson.OPT_UTC_Z)
    return _length(len(encoded)) + encoded


def int2_binary(value: int | None) -> bytes:
    return NULL_BINARY if value is None else _int2(2, value)


def int4_binary(value: int | None) -> bytes:
    return NULL_BINARY if value is None else _int4(4, value)


def timestamptz_binary(value: dt.datetime) -> bytes:
    """A ``timestamptz`` field: microseconds since 2000-01-01 UTC (``value`` is aware)."""
    return _int8(8, (value - _EPOCH) // _MICROSECOND)
