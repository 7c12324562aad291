"""Values no database text may hold — a NUL byte, bytes that are not UTF-8, in any field, the
``sourcedId`` too — reject only their row, on SQLite and PostgreSQL alike: the collection
succeeds, the row error says what and where, and the rest goes in (PostgreSQL refused a NUL
byte and failed the whole collection)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from interop_hub.ingest.models import IngestionError
from interop_hub.kit.db import transaction
from interop_hub.repository.models import RepoObject
from interop_hub.runtime import Hub
from tests.factories import make_world, run_collection
from tests.test_collection_property import _minimal_bundle, write_bundle


@pytest.fixture
def cloud(client: Any, hub: Hub) -> uuid.UUID:
    return uuid.UUID(make_world(client, hub).cloud_id)


def bundle(folder: Path) -> Path:
    spec = _minimal_bundle()
    student = spec["users"][0]
    spec["users"] += [
        {**student, "sourcedId": "u2", "username": "u2", "givenName": "Nul\x00here"},
        {**student, "sourcedId": "u\x003", "username": "u3"},
        {**student, "sourcedId": "u4", "username": "u4", "givenName": "BADBYTE"},
        {**student, "sourcedId": "u5BADBYTE", "username": "u5"},
        {**student, "sourcedId": "u6", "username": "u6", "givenName": "Zoë"},
    ]
    written = write_bundle(folder, spec)
    users = written / "users.csv"
    users.write_bytes(users.read_bytes().replace(b"BADBYTE", b"\xe9t\xe9"))
    return written


@pytest.mark.parametrize("line_safe", [True, False])
def test_unstorable_values_reject_only_their_rows(
    hub: Hub, cloud: uuid.UUID, tmp_path: Path, line_safe: bool
) -> None:
    source = bundle(tmp_path / "b")
    if not line_safe:  # a quoted line break: the file is streamed, not split into lines
        users = source / "users.csv"
        users.write_bytes(users.read_bytes().replace(b",A,", b',"A\nA",', 1))
    done = run_collection(hub, cloud, source)
    assert done.state == "success", done.message
    with transaction(hub.sessions) as session:
        errors = session.execute(
            select(
                IngestionError.line,
                IngestionError.column,
                IngestionError.reason,
                IngestionError.source_id,
            ).order_by(IngestionError.line)
        ).all()
        persons = dict(
            session.execute(
                select(RepoObject.source_id, RepoObject.label).where(
                    RepoObject.cloud_id == cloud, RepoObject.kind == "person"
                )
            ).all()
        )
    nul, utf8 = "a NUL byte (0x00), which no value may hold", "bytes that are not valid UTF-8"
    first = 3 if line_safe else 4  # the quoted line break moves the later rows down a line
    assert [tuple(e) for e in errors] == [
        (first, "givenName", nul, "u2"),
        (first + 1, "sourcedId", nul, "u\\x003"),
        (first + 2, "givenName", utf8, "u4"),
        (first + 3, "sourcedId", utf8, "u5\\udce9t\\udce9"),
    ]
    assert done.rows_rejected == 4
    assert sorted(persons) == ["u1", "u6"]
    assert persons["u6"] == "Zoë B"
