"""A collection's rows read back as they were given, on SQLite (``executemany``) and PostgreSQL
(lines of ``COPY``'s text format formatted by ``ingest.apply``): strings that need escaping,
NULLs, JSON with backslashes and quotes, non-ASCII text, labels cut at 400 characters."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from interop_hub.ingest.apply import ChangeLog, CollectionPlan, apply_plan
from interop_hub.ingest.diff import Plan
from interop_hub.ingest.normalize import MembershipRow, ObjectRow
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from tests.factories import make_world

AWKWARD = "tab\there, line\nfeed, return\r, back\\slash, \\N, quote\" and 'Zoë' 😀"
NOW = dt.datetime(2026, 11, 29, 17, 30, 12, 345678, tzinfo=dt.UTC)


@pytest.fixture
def cloud(client: TestClient, hub: Hub) -> uuid.UUID:
    return uuid.UUID(make_world(client, hub).cloud_id)


def obj(kind: str, source_id: str, **fields: Any) -> ObjectRow:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "kind": kind,
        "subtype": None,
        "source_id": source_id,
        "label": source_id,
        "school_year": None,
        "data": {},
        "links": (),
        "digest": uuid.uuid4().hex,
        **fields,
    }
    return ObjectRow(**values)


def test_rows_read_back_as_given(hub: Hub, cloud: uuid.UUID) -> None:
    school = obj(
        "org",
        AWKWARD,
        subtype="school",
        label="x" * 399 + "é" + "cut",
        data={"name": AWKWARD, "nested": {"list": [1, 2.5, None, True]}, "none": None},
    )
    person = obj(
        "person",
        "p-1",
        subtype="student",
        label=AWKWARD,
        school_year=2026,
        data={"path": "C:\\Users\\ann", "tab": "\t"},
        links=(("orgs", school.id, 0), ("agents", school.id, 1)),
    )
    section = obj("section", "sec-1", links=(("school", school.id, 0),))
    members = [
        MembershipRow(
            id=uuid.uuid4(),
            source_id=f"m{n}\t{AWKWARD}",
            person_id=person.id,
            section_id=section.id,
            school_id=school_id,
            role="student",
            data={"begin_date": "2026-08-15", "note": AWKWARD},
            digest=uuid.uuid4().hex,
        )
        for n, school_id in enumerate((school.id, None))
    ]
    plan = CollectionPlan(
        objects={
            "org": Plan(adds=[school]),
            "person": Plan(adds=[person]),
            "section": Plan(adds=[section]),
        },
        memberships=Plan(adds=members),
    )
    with write_transaction(hub.sessions) as session:
        apply_plan(session, cloud, plan, ChangeLog(uuid.uuid4(), cloud), NOW)
    with transaction(hub.sessions) as session:
        objects = {
            o.id: o for o in session.scalars(select(RepoObject).where(RepoObject.cloud_id == cloud))
        }
        links = session.execute(
            select(
                RepoLink.from_id, RepoLink.rel, RepoLink.to_id, RepoLink.position, RepoLink.cloud_id
            )
        ).all()
        memberships = {m.id: m for m in session.scalars(select(RepoMembership))}
    for row in (school, person, section):
        found = objects[row.id]
        assert (found.cloud_id, found.kind, found.subtype, found.source_id) == (
            cloud,
            row.kind,
            row.subtype,
            row.source_id,
        )
        assert found.label == row.label[:400]
        assert (found.school_year, found.data, found.digest) == (
            row.school_year,
            row.data,
            row.digest,
        )
        assert found.created_at == found.updated_at == NOW
    assert len(objects[school.id].label) == 400
    assert objects[school.id].label.endswith("xé")
    assert sorted(links) == sorted(
        (row.id, rel, to_id, position, cloud)
        for row in (person, section)
        for rel, to_id, position in row.links
    )
    for member in members:
        found_member = memberships[member.id]
        assert (
            found_member.cloud_id,
            found_member.source_id,
            found_member.person_id,
            found_member.section_id,
            found_member.school_id,
            found_member.role,
            found_member.data,
            found_member.digest,
        ) == (
            cloud,
            member.source_id,
            member.person_id,
            member.section_id,
            member.school_id,
            member.role,
            member.data,
            member.digest,
        )
        assert found_member.created_at == found_member.updated_at == NOW
