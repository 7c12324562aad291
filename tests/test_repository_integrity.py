"""What the foreign keys of the bulk-written tables did, done by the code that deletes
(migration 0009), on SQLite and PostgreSQL: deleting objects takes their links and memberships
with them (a deleted school only leaves its memberships without a school), and deleting a cloud
leaves none of its rows behind."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from bench.generate_district import generate_district
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from interop_hub.ingest.apply import ChangeLog, CollectionPlan, apply_plan
from interop_hub.ingest.diff import Plan
from interop_hub.ingest.models import Ingestion, RepoChange
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from tests.factories import World, collect, make_world

CLOUD_TABLES = (RepoObject, RepoLink, RepoMembership, RepoChange, Ingestion)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("integrity") / "district"
    generate_district(out, students=40, seed=3)
    return out


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


def dangling(session: Session) -> dict[str, int]:
    """Rows of the bulk tables that refer to an object that is not there."""
    objects = select(RepoObject.id)
    m = RepoMembership

    def count(*where: object) -> int:
        return session.scalar(select(func.count()).where(*where)) or 0  # type: ignore[arg-type]

    return {
        "link from": count(RepoLink.from_id.not_in(objects)),
        "link to": count(RepoLink.to_id.not_in(objects)),
        "membership person": count(m.person_id.not_in(objects)),
        "membership section": count(m.section_id.not_in(objects)),
        "membership school": count(m.school_id.is_not(None), m.school_id.not_in(objects)),
    }


def rows_of(session: Session, cloud_id: uuid.UUID) -> dict[str, int]:
    found = {}
    for model in CLOUD_TABLES:
        table: Table = model.__table__  # type: ignore[assignment]
        found[table.name] = (
            session.scalar(
                select(func.count()).select_from(table).where(table.c.cloud_id == cloud_id)
            )
            or 0
        )
    return found


def test_deleting_objects_deletes_what_refers_to_them(
    hub: Hub, world: World, district: Path
) -> None:
    cloud = uuid.UUID(world.cloud_id)
    first = collect(hub, cloud, district)
    with write_transaction(hub.sessions) as session:
        school = session.scalars(
            select(RepoObject).where(RepoObject.cloud_id == cloud, RepoObject.subtype == "school")
        ).first()
        assert school is not None
        # a student and a section of another school, each with memberships and links
        person, section = session.execute(
            select(RepoMembership.person_id, RepoMembership.section_id)
            .where(RepoMembership.cloud_id == cloud, RepoMembership.school_id != school.id)
            .limit(1)
        ).one()
        gone = {school.id, person, section}
        schooled = set(
            session.scalars(select(RepoMembership.id).where(RepoMembership.school_id == school.id))
        )
        refer = (
            RepoLink.from_id.in_(gone) | RepoLink.to_id.in_(gone),
            RepoMembership.person_id.in_([person]) | RepoMembership.section_id.in_([section]),
        )
        assert schooled
        assert session.scalar(select(func.count()).select_from(RepoLink).where(refer[0]))
        member_ids = set(session.scalars(select(RepoMembership.id).where(refer[1])))
        assert member_ids
        plan = CollectionPlan(
            objects={
                "org": Plan(deletes=[school.id]),
                "person": Plan(deletes=[person]),
                "section": Plan(deletes=[section]),
            }
        )
        apply_plan(session, cloud, plan, ChangeLog(first.id, cloud), hub.now())
    with transaction(hub.sessions) as session:
        assert dangling(session) == dict.fromkeys(dangling(session), 0)
        assert not session.scalar(select(func.count()).select_from(RepoLink).where(refer[0]))
        left = set(
            session.scalars(select(RepoMembership.id).where(RepoMembership.cloud_id == cloud))
        )
        assert not left & member_ids
        # the deleted school's memberships stay (their sections do), without a school
        kept = schooled - member_ids
        assert kept
        assert kept <= left
        assert not session.scalar(
            select(func.count())
            .select_from(RepoMembership)
            .where(RepoMembership.id.in_(kept), RepoMembership.school_id.is_not(None))
        )
        # the change set names the objects deleted, not what went with them
        deletes = session.execute(
            select(RepoChange.object_id, RepoChange.kind)
            .where(RepoChange.ingestion_id == first.id, RepoChange.action == "DELETE")
            .order_by(RepoChange.seq)
        ).all()
    assert [tuple(row) for row in deletes] == [
        (section, "section"),
        (person, "person"),
        (school.id, "org"),
    ]


def test_deleting_a_cloud_leaves_none_of_its_rows(
    client: TestClient, hub: Hub, world: World, district: Path
) -> None:
    doomed, kept = uuid.UUID(world.cloud_id), uuid.UUID(world.other_cloud_id)
    collect(hub, doomed, district)
    collect(hub, kept, district)
    with transaction(hub.sessions) as session:
        before = rows_of(session, kept)
        assert all(rows_of(session, doomed).values())
    assert all(before.values())
    response = client.delete(f"/v2/interop/clouds/{doomed}", headers=world.district.headers)
    assert response.status_code == 204, response.text
    with transaction(hub.sessions) as session:
        assert rows_of(session, doomed) == dict.fromkeys(before, 0)
        assert rows_of(session, kept) == before
        assert dangling(session) == dict.fromkeys(dangling(session), 0)
        # no change set of an ingestion that is gone
        orphans = session.scalar(
            select(func.count())
            .select_from(RepoChange)
            .where(RepoChange.ingestion_id.not_in(select(Ingestion.id)))
        )
        assert orphans == 0
