"""``kit.bulk.copy_binary``: what the field makers of ``kit.pgcopy`` write is what PostgreSQL
reads back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    select,
)

from interop_hub.kit.bulk import copy_binary
from interop_hub.kit.db import is_postgresql, write_transaction
from interop_hub.kit.pgcopy import (
    field_count,
    int2_binary,
    int4_binary,
    json_binary,
    text_binary,
    timestamptz_binary,
    uuid_binary,
)
from interop_hub.runtime import Hub

metadata = MetaData()
sample = Table(
    "bulk_binary_sample",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("other", Uuid, nullable=True),
    Column("name", String(40), nullable=True),
    Column("body", Text, nullable=True),
    Column("small", SmallInteger, nullable=True),
    Column("number", Integer, nullable=True),
    Column("doc", JSON, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
COLUMNS = [c.name for c in sample.columns]


def _row(values: dict[str, Any]) -> bytes:
    return b"".join(
        (
            field_count(len(COLUMNS)),
            uuid_binary(values["id"]),
            uuid_binary(values["other"]),
            text_binary(values["name"]),
            text_binary(values["body"]),
            int2_binary(values["small"]),
            int4_binary(values["number"]),
            json_binary(values["doc"]),
            timestamptz_binary(values["at"]),
        )
    )


ROWS: list[dict[str, Any]] = [
    {
        "id": uuid.UUID(int=1),
        "other": uuid.UUID("8d3f2a8e-5b7c-4c61-9e0a-3f7d1c2b4a59"),
        "name": "Zoë Ñúñez",
        "body": 'tab\there, line\nbreak, back\\slash, quote " and 漢字',
        "small": -32768,
        "number": 2_147_483_647,
        "doc": {"primary": True, "dates": [None, "2026-09-01"], "$ext": {"é": "ü\n"}},
        "at": dt.datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=dt.UTC),
    },
    {
        "id": uuid.UUID(int=(1 << 128) - 1),
        "other": None,
        "name": None,
        "body": "",
        "small": None,
        "number": None,
        "doc": None,
        "at": dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),  # before 2000
    },
    {
        "id": uuid.uuid4(),
        "other": uuid.uuid4(),
        "name": "x" * 40,
        "body": None,
        "small": 7,
        "number": -1,
        "doc": [],
        "at": dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
    },
]


def test_rows_written_in_binary_read_back_as_they_were(hub: Hub) -> None:
    with write_transaction(hub.sessions) as session:
        if not is_postgresql(session):
            pytest.skip("COPY is PostgreSQL's")
        connection = session.connection()
        sample.create(connection)
        try:
            copy_binary(session, sample, COLUMNS, (_row(values) for values in ROWS))
            found = {row.id: row._asdict() for row in session.execute(select(sample))}
        finally:
            sample.drop(connection)
    assert found == {values["id"]: values for values in ROWS}


def test_encoded_json_is_sent_as_it_is() -> None:
    assert json_binary(b'{"a":1}') == b"\x00\x00\x00\x07" + b'{"a":1}'
    assert json_binary({"a": 1}) == json_binary(b'{"a":1}')
    assert json_binary(None) == text_binary(None) == uuid_binary(None) == b"\xff\xff\xff\xff"
