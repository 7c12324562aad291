"""Stored projections of the renderings (``rostering.projections``), on SQLite and PostgreSQL.

The renderings pass stores each current rendering as every projecting topic of the cloud's
tenants makes it; a page of such a tenant reads those rows instead of parsing the renderings.
What it serves must stay exactly what a live rendering gives (projection, scope, ``$sys``),
and a row must never be served for an object that changed since, for another projection, or
after its payload went.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.integrations import service as integrations
from interop_hub.integrations.schemas import IntegrationCreate
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate, InstalledTenant, TenantInstall
from interop_hub.repository.models import RepoObject
from interop_hub.rostering import projections
from interop_hub.rostering import service as rostering
from interop_hub.rostering.models import PayloadView
from interop_hub.runtime import Hub
from interop_hub.scoping import service as scoping
from interop_hub.scoping.models import TenantScoping
from interop_hub.tasks import payloads, renderings
from interop_hub.tasks.models import TaskPayload
from interop_hub.tasks.projection import TenantView, Topic
from tests.test_rostering_stored import (
    EVERYTHING,
    District,
    as_json,
    bundle,
    changed,
    district,
    live_pages,
    pages,
    reader,
)

__all__ = ["district"]  # the fixture, shared with test_rostering_stored

NO_ROLLUPS = (
    '<IntegrationBlueprint Name="plain" Version="1.0" SchemaVersion="1.0">'
    "<Integration><Title>Plain</Title><IdSpace>plain</IdSpace></Integration><Topics>"
    '<Topic Name="School"/><Topic Name="Student"/><Topic Name="Teacher"/>'
    '<Topic Name="Section"/><Topic Name="Course"/></Topics></IntegrationBlueprint>'
)
"""Topics without ``<Attributes>``: every ordinary attribute and no roll-up."""


def install(hub: Hub, cloud_id: uuid.UUID, name: str, document: str) -> InstalledTenant:
    with write_transaction(hub.sessions) as session:
        vendor = platform.create_account(session, AccountCreate(name=name, type="developer"))
        who = Principal(kind="account", account_id=vendor.id, account_type="developer")
        created = integrations.create_integration(session, who, IntegrationCreate(name=name))
        integrations.create_version(session, who, created.id, document.encode())
        body = TenantInstall(cloud_id=cloud_id, integration_id=created.id)
        return platform.install_tenant(session, hub.keyring, body, hub.now())


@pytest.fixture
def plain(hub: Hub, district: District) -> District:
    """The district with a tenant whose topics drop the roll-ups, scoped to school s1, and
    the pass run again (as after the next collection): its projections are stored."""
    tenant = install(hub, district.cloud_id, "plain", NO_ROLLUPS)
    district.tenants["plain"] = tenant
    with write_transaction(hub.sessions) as session:
        school = session.scalars(
            select(RepoObject.id).where(
                RepoObject.cloud_id == district.cloud_id, RepoObject.source_id == "s1"
            )
        ).one()
        session.add(TenantScoping(tenant_id=tenant.id, kind="school", object_id=school))
        session.flush()
        scoping.refresh(session, tenant.id, district.cloud_id)
    renderings.refresh(hub, district.cloud_id)
    return district


def rows(session: Session) -> dict[tuple[int, str], str]:
    return {(r.payload_id, r.view): r.body for r in session.scalars(select(PayloadView))}


def current_bodies(
    session: Session, cloud_id: uuid.UUID
) -> dict[int, tuple[tuple[str, str | None], Any]]:
    """The current payloads' ids → (their object's kind and subtype, body)."""
    epoch = payloads.epoch_of(session, cloud_id)
    current = payloads.current(session, cloud_id, epoch, None)
    kinds = {
        oid: (kind, subtype)
        for oid, kind, subtype in session.execute(
            select(RepoObject.id, RepoObject.kind, RepoObject.subtype)
        )
    }
    bodies = payloads.bodies(session, list(current.values()))
    return {pid: (kinds[oid], bodies[pid]) for oid, pid in current.items() if oid in kinds}


def test_view_keys() -> None:
    names = Topic("Student", ("name",))
    assert projections.view_key(names, "person") == projections.view_key(
        Topic("Students", ("name",)), "person"
    )  # the attributes make the key, not the topic's name
    assert projections.view_key(names, "person") != projections.view_key(
        Topic("Student", ("name", "email")), "person"
    )
    everything = Topic("Student", ("*", "$schools", "$sections", "$students", "$teachers"))
    assert projections.view_key(everything, "person") is None
    no_rollups = Topic("Student", None)
    assert projections.view_key(no_rollups, "person") is not None
    assert projections.view_key(no_rollups, "org") is None  # an org's JSON has no roll-up
    # Students with their schools: a person keeps all it has, a section loses its members.
    schools = Topic("X", ("*", "$schools", "$sections"))
    assert projections.view_key(schools, "person") is None
    assert projections.view_key(schools, "section") is not None


def test_the_pass_stores_each_projection_once(hub: Hub, plain: District) -> None:
    names = projections.view_key(Topic("Student", ("name",)), "person")
    no_rollups = projections.view_key(Topic("Student", None), "person")
    with transaction(hub.sessions) as session:
        stored = rows(session)
        current = current_bodies(session, plain.cloud_id)
    assert {key for _, key in stored} == {names, no_rollups}
    topics = {names: Topic("Student", ("name",)), no_rollups: Topic("Student", None)}
    for (payload_id, key), text in stored.items():
        assert payload_id in current  # only current renderings
        assert orjson.loads(text) == topics[key].project(current[payload_id][1])
    students = {pid for pid, (kind, _) in current.items() if kind == ("person", "student")}
    assert {pid for pid, key in stored if key == names} == students
    kinds = {current[pid][0][0] for pid, key in stored if key == no_rollups}
    assert kinds == {"person", "section", "course"}  # schools keep their bodies whole
    assert renderings.refresh(hub, plain.cloud_id) == 0
    assert projections.refresh(hub, plain.cloud_id) == 0  # nothing left to store


def three_states(hub: Hub, district: District) -> Iterator[int]:
    """The district as collected (0); changed, before the renderings pass (1: objects without
    a stored rendering or projection); after it (2)."""
    yield 0
    district.collect(hub, changed(bundle()), refresh=False)
    yield 1
    renderings.refresh(hub, district.cloud_id)
    yield 2


@pytest.mark.parametrize("name", ["names", "plain"])
def test_pages_from_projections_equal_live_pages(hub: Hub, plain: District, name: str) -> None:
    for _ in three_states(hub, plain):
        with transaction(hub.sessions) as session:
            who = reader(session, plain, name)
            assert (who.scoped is not None) == (name == "plain")
            stored = pages(session, who)
            live = live_pages(session, who)
            assert {k: as_json(v) for k, v in stored.items()} == {
                k: as_json(v) for k, v in live.items()
            }
            session.rollback()
    assert live["person", "student"]
    assert "renamed" in orjson.dumps(live["person", "student"]).decode()


def test_a_page_reads_the_stored_projection(hub: Hub, plain: District) -> None:
    """A row altered behind the hub's back shows: the page did not parse the rendering. The
    unscoped reader gets it spliced unparsed; the scoped one parsed and filtered."""
    with write_transaction(hub.sessions) as session:
        session.execute(
            update(PayloadView).values(
                body=func.replace(PayloadView.body, '"first":"', '"first":"stored-')
            )
        )
    for name in ("names", "plain"):
        with transaction(hub.sessions) as session:
            who = reader(session, plain, name)
            items = rostering.list_page(session, who, EVERYTHING, "person", "student").items
            if name == "names":
                assert all(isinstance(item, orjson.Fragment) for item in items)
            students = as_json(items)
        assert students
        assert all(s["name"]["first"].startswith("stored-") for s in students)


def test_a_changed_object_is_never_served_from_its_old_projection(
    hub: Hub, plain: District
) -> None:
    """The renamed students' old rows stay until their payloads go, but a page reads only the
    rows of the current payloads: none yet (the students are served as they are now), then
    new ones."""
    with transaction(hub.sessions) as session:
        before = rows(session)
    plain.collect(hub, changed(bundle()), refresh=False)
    with transaction(hub.sessions) as session:
        assert rows(session) == before
        who = reader(session, plain, "names")
        students = as_json(rostering.list_page(session, who, EVERYTHING, "person").items)
    firsts = sorted(s["name"]["first"] for s in students)
    assert firsts == ["A-renamed", "C-renamed"]  # (u3 left)
    assert projections.refresh(hub, plain.cloud_id) == 0  # no current rendering to project
    renderings.refresh(hub, plain.cloud_id)  # renders them, then projects them
    with transaction(hub.sessions) as session:
        assert set(rows(session)) > set(before)  # the old rows and the new


def test_another_projection_reads_none_of_these_rows(hub: Hub, plain: District) -> None:
    """A topic with other attributes (a blueprint replaced, say) has a key of its own: its
    pages parse and project until the pass stores its rows."""
    with write_transaction(hub.sessions) as session:
        session.execute(update(PayloadView).values(body='{"$sys":{},"name":"stale"}'))
    view = TenantView({("person", "student"): Topic("Student", ("name", "email"))}, {})
    who = rostering.Reader(plain.cloud_id, view)
    with transaction(hub.sessions) as session:
        items = rostering.list_page(session, who, EVERYTHING, "person", "student").items
        live = live_pages(session, who)  # (only its first two lists are of students)
        session.rollback()
    assert items
    assert not any(isinstance(item, orjson.Fragment) for item in items)
    assert as_json(items) == as_json(live["person", "student"])
    assert all(set(item) == {"$sys", "name", "email"} for item in as_json(items))


def test_a_pruned_payload_takes_its_projections(hub: Hub, plain: District) -> None:
    plain.collect(hub, changed(bundle()))  # new renderings and rows; the old ones superseded
    with write_transaction(hub.sessions) as session:
        before = rows(session)
        assert payloads.prune(session) > 0
        after = rows(session)
        remaining = set(session.scalars(select(TaskPayload.id)))
    assert set(after) < set(before)
    assert {pid for pid, _ in after} <= remaining
    with transaction(hub.sessions) as session:
        current = current_bodies(session, plain.cloud_id)
    assert {pid for pid, _ in after} <= set(current)
