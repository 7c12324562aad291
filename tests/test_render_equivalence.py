"""The fan-out's renderings equal what the query API answers, on SQLite and PostgreSQL.

A full sync renders objects and section memberships straight to JSON bytes, reads what links
and memberships show of other objects once by id (``rostering.queries.Refs``) instead of
joining them per row, and writes payloads and task rows as ``COPY`` text. These tests pin that
down against independent renderings: the query API's answer for every object, and, for the
memberships (which the query API does not list), the join the hub used to render them with.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, aliased

from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.rostering import service as rostering
from interop_hub.rostering.serialize import reference
from interop_hub.runtime import Hub
from interop_hub.tasks import full_sync, payloads, render
from interop_hub.tasks.models import Task, TaskPayload
from interop_hub.tasks.projection import TenantView
from interop_hub.tasks.queue import Event, enqueue
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant
from tests.factories import World, add_version, full_blueprint, install, make_world
from tests.repo_seed import SeedWriter, seed_district

AWKWARD = 'Ba\\rt\t"Sim\npson" \u00e9\u4e2d \\u0000'
"""A label and values with what ``COPY``'s text format and JSON must escape."""
MEMBERSHIPS = '<Topic Name="StudentSectionEnrollment"/><Topic Name="TeacherSectionEnrollment"/>'


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    world = make_world(client, hub)
    with transaction(hub.sessions) as session:
        seed = seed_district(session, world.cloud_id)
        writer = SeedWriter(session, seed.cloud_id)
        writer.seed = seed
        writer.obj(
            "person",
            "awkward",
            AWKWARD,
            {"name": {"first": AWKWARD, "last": "\\"}, "local_id": "A\\1", "$ext": {"k": "\t"}},
            subtype="student",
            schools=["s1"],
        )
        writer.member("m-awkward", "awkward", "sec-math", "student", "s1", primary=True)
        seed_district(session, world.other_cloud_id)  # the same ids' neighbours elsewhere
    return world


def _objects(session: Session, cloud_id: uuid.UUID) -> list[RepoObject]:
    return list(
        session.scalars(
            select(RepoObject).where(RepoObject.cloud_id == cloud_id).order_by(RepoObject.id)
        )
    )


def test_objects_render_as_the_query_api_answers(hub: Hub, world: World) -> None:
    cloud_id = uuid.UUID(world.cloud_id)
    with transaction(hub.sessions) as session:
        objects = _objects(session, cloud_id)
        reader = rostering.Reader(cloud_id)
        answers = {
            obj.id: dumps(rostering.find_object(session, reader, obj.kind, obj.id))
            for obj in objects
        }
        assert {o.kind for o in objects} >= {"org", "term", "course", "person", "section"}
        ids = [obj.id for obj in objects]
        as_bytes = {item.id: item.raw for item in render.object_bytes(session, cloud_id, ids)}
        assert as_bytes == answers
        for item in render.objects(session, cloud_id, ids):
            assert item.body == orjson.loads(answers[item.id])
            assert item.raw == answers[item.id]
        kinds = {(o.kind, o.subtype) for o in objects}
        every = [i for k, s in kinds for i in render.all_objects(session, cloud_id, k, s)]
        assert {i.id: i.raw for i in every} == answers


def _joined_memberships(session: Session, cloud_id: uuid.UUID) -> dict[uuid.UUID, bytes]:
    """Memberships rendered by joining their person, section and school per row (the hub's
    rendering before ``render.Sides``)."""
    person, section, school = aliased(RepoObject), aliased(RepoObject), aliased(RepoObject)
    m = RepoMembership
    rows = session.execute(
        select(m, person, section, school)
        .join(person, person.id == m.person_id)
        .join(section, section.id == m.section_id)
        .outerjoin(school, school.id == m.school_id)
        .where(m.cloud_id == cloud_id)
    )
    found = {}
    for member, p, s, o in rows:
        label = f"{p.label} in {s.label}"
        data = member.data or {}
        body = {
            "$sys": {
                "id": member.id,
                "type": render.MEMBERSHIP_TYPES.get(member.role, "SectionMembership"),
                "label": label,
                "source_id": {"sis": member.source_id},
                "app_id": {},
                "created_at": member.created_at,
                "updated_at": member.updated_at,
            },
            "$ext": data.get("$ext") or {},
            "role": member.role,
            "primary": data.get("primary"),
            "begin_date": data.get("begin_date"),
            "end_date": data.get("end_date"),
            "$person": reference(p.id, p.kind, p.subtype, p.label),
            "$section": reference(s.id, s.kind, s.subtype, s.label),
            "$school": None if o is None else reference(o.id, o.kind, o.subtype, o.label),
        }
        found[member.id] = dumps(body)
    return found


def test_memberships_render_as_joined(hub: Hub, world: World) -> None:
    cloud_id = uuid.UUID(world.cloud_id)
    with transaction(hub.sessions) as session:
        expected = _joined_memberships(session, cloud_id)
        assert len(expected) > 5
        found = list(render.memberships(session, cloud_id, list(expected)))
        assert {i.id: i.raw for i in found} == expected
        assert all(i.body == orjson.loads(i.raw) for i in found)
        roles = set(session.scalars(select(RepoMembership.role)))
        every = render.all_memberships(session, cloud_id, roles)
        assert {i.id: i.raw for i in every} == expected


def _sent(session: Session, tenant_id: uuid.UUID, origin: str) -> list[tuple[Any, ...]]:
    """The data events of the tenant's sync: object, topic, label, payload id, and the
    payload's stored text."""
    rows = session.execute(
        select(
            Task.object_id,
            Task.object_type,
            Task.label,
            Task.payload_id,
            text("CAST(task_payloads.body AS TEXT)"),
        )
        .join(TaskPayload, TaskPayload.id == Task.payload_id)
        .where(Task.tenant_id == tenant_id, Task.type == "data_event", Task.origin == origin)
        .order_by(Task.sequence)
    )
    return [tuple(row) for row in rows]


def test_a_full_sync_stores_what_everything_renders(
    client: TestClient, hub: Hub, world: World
) -> None:
    """The activation renders everything (no payload of the epoch yet: no look-ups); a
    resend finds every payload and only writes task rows, the same ones."""
    cloud_id = uuid.UUID(world.cloud_id)
    add_version(client, world, full_blueprint("9.0", extra=MEMBERSHIPS))
    first = uuid.UUID(install(client, world, version="9.0")["id"])
    with write_transaction(hub.sessions) as session:
        lifecycle.transition(session, first, "activate", hub.now())
    with write_transaction(hub.sessions) as session:
        tenant = session.get_one(Tenant, first)
        lifecycle.full_sync(session, tenant, "resend", hub.now())
    with transaction(hub.sessions) as session:
        blueprint = session.scalars(
            select(IntegrationVersion.blueprint)
            .join(Tenant, Tenant.version_id == IntegrationVersion.id)
            .where(Tenant.id == first)
        ).one()
        view = TenantView.from_json(blueprint)
        expected = {i.id: i for i in full_sync.everything(session, cloud_id, view)}
        sent = _sent(session, first, "initial")
        assert [row[0] for row in sent] == list(expected)  # dependency order, as everything's
        assert any(i.kind == "membership" for i in expected.values())
        for object_id, topic, label, _, stored in sent:
            item = expected[object_id]
            assert stored.encode() == item.raw  # the bytes as rendered
            assert label == item.label[:400]
            shown = view.topic(item.kind, item.subtype)
            assert shown is not None
            assert topic == shown.object_type
        again = _sent(session, first, "resend")
        assert again == sent  # the same payloads, found rather than rendered
        assert session.scalar(select(TaskPayload.id).order_by(TaskPayload.id.desc())) == max(
            row[3] for row in sent
        )


def test_payload_ids_are_new_and_ascending_and_bodies_stored_as_given(db: Any) -> None:
    session: Session = db.session
    first = payloads.write_raw(session, None, None, [(None, b"{}")] * 3)
    ids = payloads.write_raw(session, None, None, [(None, b'{"a":"\\\\t"}')] * 1500)
    assert len(set(ids)) == 1500
    assert ids == sorted(ids)
    assert min(ids) > max(first)
    assert payloads.reserve_ids(session, 0) == []
    stored = session.scalar(
        select(text("CAST(body AS TEXT)")).select_from(TaskPayload).where(TaskPayload.id == ids[-1])
    )
    assert stored == '{"a":"\\\\t"}'


def test_task_rows_keep_awkward_values(hub: Hub, client: TestClient, world: World) -> None:
    tenant = uuid.UUID(install(client, world)["id"])
    group = uuid.uuid4()
    events = [
        Event("data_event", "ADD", uuid.uuid4(), AWKWARD, AWKWARD * 30, payload_id=7),
        Event("request", None, None, None, None, data={"q": AWKWARD}, session_id="s\tid"),
    ]
    with write_transaction(hub.sessions) as session:
        assert enqueue(session, tenant, events, hub.now(), group_id=group, origin="resend") == 2
    with transaction(hub.sessions) as session:
        rows = session.scalars(
            select(Task).where(Task.tenant_id == tenant).order_by(Task.sequence)
        ).all()
        added, asked = rows[-2:]
        assert (added.type, added.action, added.object_id, added.object_type) == (
            "data_event",
            "ADD",
            events[0].object_id,
            AWKWARD,
        )
        assert added.label == (AWKWARD * 30)[:400]
        assert (added.payload_id, added.prior_payload_id, added.group_id) == (7, None, group)
        assert (added.origin, added.deliveries, added.leased_until) == ("resend", 0, None)
        assert added.created_at == hub.now()
        assert asked.sequence == added.sequence + 1
        assert asked.session_id == "s\tid"
        body = session.scalar(select(TaskPayload.body).where(TaskPayload.id == asked.payload_id))
        assert body == {"q": AWKWARD}
