"""Pages of the query API served from stored renderings, on SQLite and PostgreSQL (issue 3).

A collection that no tenant receives renders nothing: it tombstones the current payloads its
change outdated, and the pass after it (:mod:`interop_hub.tasks.renderings`) stores every object
without one, as it is now. A page splices the stored bytes where the reader sees them whole and
parses, filters and projects them otherwise. Every page must equal, as parsed JSON, the page
rendered live for the same objects — for a connector, a tenant that sees Students whole, a
tenant whose topic keeps only names, and a scoped tenant — and a changed object must never be
served as it was.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session, aliased

from interop_hub.auth.principal import Principal
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.paging import PageRequest
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import InstalledTenant, TenantInstall
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.rostering import service as rostering
from interop_hub.runtime import Hub
from interop_hub.scoping import service as scoping
from interop_hub.scoping.models import TenantScoping
from interop_hub.tasks import full_sync, payloads, render, renderings
from interop_hub.tasks.models import Task, TaskPayload
from interop_hub.tasks.projection import TenantView
from interop_hub.tenants.models import Tenant
from tests.factories import bearer, data, full_blueprint, make_world, token
from tests.test_collection_property import BundleSpec, _minimal_bundle, collect, write_bundle

MEMBERSHIPS = '<Topic Name="StudentSectionEnrollment"/><Topic Name="TeacherSectionEnrollment"/>'
NAMES_ONLY = '<Topic Name="Student"><Attributes><Attribute Name="name"/></Attributes></Topic>'
READERS = ("connector", "whole", "names", "scoped")
LISTS = [
    ("org", None),
    ("org", "school"),
    ("term", None),
    ("course", None),
    ("person", None),
    ("person", "student"),
    ("section", None),
]
EVERYTHING = PageRequest(page=0, page_size=1000, cursor=None, base_url="", query={})


def bundle() -> BundleSpec:
    """Two schools, three students and a teacher in two classes."""
    found = _minimal_bundle()
    found["orgs"].append(
        {"sourcedId": "s2", "name": "S2", "type": "school", "parentSourcedId": "d1"}
    )
    found["classes"].append({**found["classes"][0], "sourcedId": "k2", "schoolSourcedId": "s2"})
    student = found["users"][0]
    found["users"] += [
        {**student, "sourcedId": "u2", "username": "u2", "givenName": "C", "orgSourcedIds": "s2"},
        {**student, "sourcedId": "u3", "username": "u3", "givenName": "E"},
        {**student, "sourcedId": "t9", "username": "t9", "role": "teacher", "givenName": "T"},
    ]
    enrollment = found["enrollments"][0]
    found["enrollments"] += [
        {**enrollment, "sourcedId": "e2", "classSourcedId": "k2", "userSourcedId": "u2"},
        {**enrollment, "sourcedId": "e3", "userSourcedId": "u3"},
        {**enrollment, "sourcedId": "e4", "userSourcedId": "t9", "role": "teacher"},
        {**enrollment, "sourcedId": "e5", "classSourcedId": "k2", "userSourcedId": "t9"},
    ]
    return found


def changed(spec: BundleSpec) -> BundleSpec:
    """Students renamed, a school renamed, one student gone, one enrollment moved."""
    found = copy.deepcopy(spec)
    for row in found["users"]:
        row["givenName"] = f"{row['givenName']}-renamed"
    found["orgs"][1]["name"] = "S (renamed)"
    found["users"] = [row for row in found["users"] if row["sourcedId"] != "u3"]
    found["enrollments"] = [row for row in found["enrollments"] if row["userSourcedId"] != "u3"]
    found["enrollments"][1]["classSourcedId"] = "k1"  # u2 moves to the other class
    return found


@dataclass
class District:
    cloud_id: uuid.UUID
    tenants: dict[str, InstalledTenant]  # whole, names, scoped (all in setup)
    folder: Path
    collections: int = 0

    def collect(self, hub: Hub, spec: BundleSpec, *, refresh: bool = True) -> None:
        """Collect ``spec``, then store the renderings as the worker does (``refresh``)."""
        self.collections += 1
        collect(hub, self.cloud_id, write_bundle(self.folder / str(self.collections), spec))
        if refresh:
            renderings.refresh(hub, self.cloud_id)


@pytest.fixture
def district(client: TestClient, hub: Hub, tmp_path: Path) -> District:
    """A cloud with three tenants that receive nothing (they stay in setup)."""
    hub.settings.mass_change_threshold = 1.0
    world = make_world(client, hub)
    documents = {
        "whole": full_blueprint("1.0", extra=MEMBERSHIPS),
        "names": full_blueprint("1.0", topics=("School",)).replace(
            "</Topics>", NAMES_ONLY + "</Topics>"
        ),
        "scoped": full_blueprint("1.0"),
    }
    tenants = {}
    for name, document in documents.items():
        created = data(
            client.post(
                "/v2/interop/integrations", json={"name": name}, headers=world.vendor.headers
            )
        )
        data(
            client.post(
                f"/v2/interop/integrations/{created['id']}/versions",
                content=document,
                headers={**world.vendor.headers, "Content-Type": "application/xml"},
            )
        )
        with write_transaction(hub.sessions) as session:
            body = TenantInstall(
                cloud_id=uuid.UUID(world.cloud_id), integration_id=uuid.UUID(created["id"])
            )
            tenants[name] = platform.install_tenant(session, hub.keyring, body, hub.now())
    found = District(uuid.UUID(world.cloud_id), tenants, tmp_path)
    found.collect(hub, bundle())
    with write_transaction(hub.sessions) as session:  # the scoped tenant sees school s1
        school = session.scalars(
            select(RepoObject.id).where(
                RepoObject.cloud_id == found.cloud_id, RepoObject.source_id == "s1"
            )
        ).one()
        session.add(TenantScoping(tenant_id=tenants["scoped"].id, kind="school", object_id=school))
        session.flush()
        scoping.refresh(session, tenants["scoped"].id, found.cloud_id)
    return found


def reader(session: Session, district: District, name: str) -> rostering.Reader:
    if name == "connector":
        return rostering.Reader(district.cloud_id)
    tenant = district.tenants[name]
    principal = Principal(kind="actor", cloud_id=district.cloud_id, tenant_id=tenant.id)
    return rostering.reader_of(session, principal)


def as_json(page: list[Any]) -> list[Any]:
    return [orjson.loads(orjson.dumps(item, option=orjson.OPT_UTC_Z)) for item in page]


def pages(session: Session, who: rostering.Reader) -> dict[tuple[str, str | None], list[Any]]:
    return {
        (kind, subtype): rostering.list_page(session, who, EVERYTHING, kind, subtype).items
        for kind, subtype in LISTS
    }


def live_pages(session: Session, who: rostering.Reader) -> dict[Any, list[Any]]:
    """The same pages with no rendering current: every object rendered live."""
    payloads.forget_renderings(session, who.cloud_id)
    found = pages(session, who)
    assert not any(isinstance(i, orjson.Fragment) for items in found.values() for i in items)
    return found


def current_renderings(session: Session, cloud_id: uuid.UUID) -> dict[uuid.UUID, bytes]:
    epoch = payloads.epoch_of(session, cloud_id)
    current = payloads.current(session, cloud_id, epoch, None)
    bodies = payloads.bodies(session, list(current.values()))
    return {oid: orjson.dumps(bodies[pid], option=orjson.OPT_UTC_Z) for oid, pid in current.items()}


def live_renderings(session: Session, cloud_id: uuid.UUID) -> dict[uuid.UUID, bytes]:
    ids = session.scalars(select(RepoObject.id).where(RepoObject.cloud_id == cloud_id)).all()
    return {item.id: item.raw for item in render.object_bytes(session, cloud_id, ids)}


def test_a_collection_nobody_receives_tombstones_what_it_outdated(
    hub: Hub, district: District
) -> None:
    """In its transaction it renders nothing and leaves nothing stale: the touched objects that
    had a payload have none current (pages render them live); the pass after it stores them."""
    with transaction(hub.sessions) as session:
        live = live_renderings(session, district.cloud_id)
        assert len(live) >= 10
        assert current_renderings(session, district.cloud_id) == live
    district.collect(hub, changed(bundle()), refresh=False)
    with transaction(hub.sessions) as session:
        live = live_renderings(session, district.cloud_id)
        assert b"renamed" in b"".join(live.values())
        stored = current_renderings(session, district.cloud_id)
        assert stored  # what it did not touch keeps its rendering
        assert {k: v for k, v in stored.items() if k in live} == {
            k: live[k] for k in stored if k in live
        }
        missing = set(live) - set(stored)
        assert missing  # the renamed students, the renamed school, their sections...
        assert all(b"renamed" not in v for k, v in stored.items() if k in live)
        unrendered = renderings.unrendered(session, district.cloud_id)
        assert set(unrendered) == missing
        kinds = [kind_of(session, i) for i in unrendered]
        assert kinds == sorted(kinds)  # a kind at a time
        tombstones = session.scalar(
            select(func.count())
            .select_from(TaskPayload)
            .where(TaskPayload.cloud_id == district.cloud_id, TaskPayload.body.is_(None))
        )
        assert tombstones
        assert tombstones >= len(missing)
        for name in READERS:
            who = reader(session, district, name)
            assert {k: as_json(v) for k, v in pages(session, who).items()} == {
                k: as_json(v) for k, v in live_pages(session, who).items()
            }
            session.rollback()
    assert renderings.refresh(hub, district.cloud_id) == len(missing)
    with transaction(hub.sessions) as session:
        assert current_renderings(session, district.cloud_id) == live_renderings(
            session, district.cloud_id
        )
        assert renderings.unrendered(session, district.cloud_id) == []
    assert renderings.refresh(hub, district.cloud_id) == 0


def test_a_cloud_emptied_and_collected_again_serves_nothing_from_before(
    hub: Hub, district: District
) -> None:
    """The collection that empties the cloud tombstones every rendering; the one that fills it
    again, which nobody receives, touches nothing (it had nothing), and no page shows an object
    as it was before, with the same ids (the same source ids)."""
    with transaction(hub.sessions) as session:
        before = live_renderings(session, district.cloud_id)
    district.collect(hub, {name: [] for name in bundle()}, refresh=False)
    with transaction(hub.sessions) as session:
        assert live_renderings(session, district.cloud_id) == {}
        assert current_renderings(session, district.cloud_id) == {}
    district.collect(hub, changed(bundle()), refresh=False)
    with transaction(hub.sessions) as session:
        live = live_renderings(session, district.cloud_id)
        assert set(live) & set(before)  # the same ids again
        assert current_renderings(session, district.cloud_id) == {}
        for name in READERS:
            who = reader(session, district, name)
            found = {k: as_json(v) for k, v in pages(session, who).items()}
            assert b"renamed" in orjson.dumps(found[("person", "student")])
            assert found == {k: as_json(v) for k, v in live_pages(session, who).items()}
            session.rollback()
    assert renderings.refresh(hub, district.cloud_id) == len(live)
    with transaction(hub.sessions) as session:
        assert current_renderings(session, district.cloud_id) == live


def kind_of(session: Session, object_id: uuid.UUID) -> str:
    return session.scalars(select(RepoObject.kind).where(RepoObject.id == object_id)).one()


def test_a_collection_into_an_epoch_without_payloads_writes_none(
    hub: Hub, district: District
) -> None:
    """No payload to tombstone is looked up (an initial collection into an empty cloud)."""
    with write_transaction(hub.sessions) as session:
        payloads.forget_renderings(session, district.cloud_id)
    district.collect(hub, changed(bundle()), refresh=False)
    with transaction(hub.sessions) as session:
        epoch = payloads.epoch_of(session, district.cloud_id)
        assert not payloads.any_current(session, district.cloud_id, epoch)
        everything = session.scalars(
            select(RepoObject.id).where(RepoObject.cloud_id == district.cloud_id)
        ).all()
        assert len(renderings.unrendered(session, district.cloud_id)) == len(everything)
    assert renderings.refresh(hub, district.cloud_id) == len(everything)
    with transaction(hub.sessions) as session:
        assert current_renderings(session, district.cloud_id) == live_renderings(
            session, district.cloud_id
        )


def test_the_pass_handles_a_collection_between_two_chunks(
    hub: Hub, district: District, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk of two objects at a time; after the first, a collection changes objects the
    pass already stored and some it has not: it ends with every object as it is now."""
    with write_transaction(hub.sessions) as session:
        payloads.forget_renderings(session, district.cloud_id)
    chunks_done: list[int] = []
    store_chunk = renderings._store_chunk

    def store_then_collect(hub_: Hub, cloud_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
        stored = store_chunk(hub_, cloud_id, ids)
        chunks_done.append(stored)
        if len(chunks_done) == 1:
            district.collect(hub, changed(bundle()), refresh=False)
        return stored

    monkeypatch.setattr(renderings, "_store_chunk", store_then_collect)
    stored = renderings.refresh(hub, district.cloud_id, chunk=2)
    assert len(chunks_done) > 2
    with transaction(hub.sessions) as session:
        live = live_renderings(session, district.cloud_id)
        assert b"renamed" in b"".join(live.values())
        assert current_renderings(session, district.cloud_id) == live
        assert stored > len(live)  # some twice: before and after the collection
        assert renderings.unrendered(session, district.cloud_id) == []


def test_current_ignores_a_tombstoned_object(hub: Hub, district: District) -> None:
    with write_transaction(hub.sessions) as session:
        cloud_id = district.cloud_id
        epoch = payloads.epoch_of(session, cloud_id)
        current = payloads.current(session, cloud_id, epoch, None)
        some = sorted(current)[:2]
        unknown = uuid.uuid4()  # no payload at all: nothing to tombstone
        assert payloads.tombstone(session, cloud_id, epoch, [*some, unknown]) == 2
        assert payloads.tombstone(session, cloud_id, epoch, some) == 0  # none current now
        after = payloads.current(session, cloud_id, epoch, None)
        assert set(after) == set(current) - set(some)
        assert payloads.current(session, cloud_id, epoch, some) == {}
        # SQL NULL, not JSON null: read as text it is None on both backends.
        texts: list[str | None] = list(
            session.scalars(
                select(cast(TaskPayload.body, Text)).where(
                    TaskPayload.object_id.in_(some), TaskPayload.id > max(current.values())
                )
            ).all()
        )
        assert texts == [None, None]
        # The full sync's probe sees none either; a rendering stored after the tombstone wins.
        probe = payloads.newest_rendering(cloud_id, epoch, RepoObject.id)
        probed: dict[uuid.UUID, Any] = dict(
            session.execute(select(RepoObject.id, probe).where(RepoObject.id.in_(some))).all()
        )
        assert probed == dict.fromkeys(some)
        raws = {item.id: item.raw for item in render.object_bytes(session, cloud_id, some[:1])}
        (written,) = payloads.write_raw(session, cloud_id, epoch, raws.items())
        assert payloads.current(session, cloud_id, epoch, some) == {some[0]: written}


def test_a_tenant_synced_after_a_tombstone_gets_real_bodies(hub: Hub, district: District) -> None:
    """A full sync never refers to a tombstone: what has none current is rendered for it."""
    district.collect(hub, changed(bundle()), refresh=False)
    tenant = district.tenants["whole"]
    with write_transaction(hub.sessions) as session:
        view = TenantView.from_json(full_blueprint_json(session, tenant))
        written = full_sync.full_sync(
            session, district.cloud_id, tenant.id, view, "initial", hub.now()
        )
        assert written > 10
        bodies = dict(
            session.execute(
                select(Task.object_id, cast(TaskPayload.body, Text))
                .join(TaskPayload, TaskPayload.id == Task.payload_id)
                .where(Task.tenant_id == tenant.id, Task.type == "data_event")
            ).all()
        )
        live = live_renderings(session, district.cloud_id)
    assert None not in bodies.values()
    students = {k: v for k, v in bodies.items() if k in live}
    assert students
    assert all(orjson.loads(v) == orjson.loads(live[k]) for k, v in students.items())


def test_prune_keeps_a_tombstone_over_what_tasks_refer_to(hub: Hub, district: District) -> None:
    """Prune drops the payloads a tombstone outdated unless a task refers to them, and keeps the
    tombstone while it is the newest: the older one a task holds must not become current."""
    tenant = district.tenants["names"]  # students and schools: some payloads are its
    with write_transaction(hub.sessions) as session:
        view = TenantView.from_json(full_blueprint_json(session, tenant))
        full_sync.full_sync(session, district.cloud_id, tenant.id, view, "resend", hub.now())
    district.collect(hub, changed(bundle()), refresh=False)
    with write_transaction(hub.sessions) as session:
        epoch = payloads.epoch_of(session, district.cloud_id)
        before = payloads.current(session, district.cloud_id, epoch, None)
        assert payloads.prune(session) > 0
        assert payloads.current(session, district.cloud_id, epoch, None) == before
        kept_tombstones = session.scalar(
            select(func.count()).select_from(TaskPayload).where(TaskPayload.body.is_(None))
        )
        assert kept_tombstones
        referenced = session.scalar(
            select(func.count())
            .select_from(Task)
            .outerjoin(TaskPayload, TaskPayload.id == Task.payload_id)
            .where(Task.payload_id.is_not(None), TaskPayload.id.is_(None))
        )
        assert referenced == 0  # every payload a task refers to is still there
    renderings.refresh(hub, district.cloud_id)
    with write_transaction(hub.sessions) as session:
        payloads.prune(session)  # the tombstones are superseded now, or have nothing behind
        payloads.prune(session)  # (once what was behind them went)
        older = aliased(TaskPayload)
        kept = session.execute(
            select(TaskPayload.object_id, func.count(older.id))
            .outerjoin(
                older,
                (older.object_id == TaskPayload.object_id) & (older.id < TaskPayload.id),
            )
            .where(TaskPayload.body.is_(None))
            .group_by(TaskPayload.object_id)
        ).all()
        # Only the deleted student's stays: it hides the payload its ADD task refers to.
        assert [count for _, count in kept] == [1]
        deleted_student = kept[0][0]
        assert deleted_student is not None
        assert payloads.current(session, district.cloud_id, epoch, [deleted_student]) == {}
        assert current_renderings(session, district.cloud_id) == live_renderings(
            session, district.cloud_id
        )


def test_stored_memberships_are_tombstoned_when_they_change(hub: Hub, district: District) -> None:
    """Memberships get payloads only from tenants' syncs; a collection nobody receives must
    not leave those as they were: the touched ones have none current, a sync renders them."""
    tenant = district.tenants["whole"]
    with write_transaction(hub.sessions) as session:
        view = TenantView.from_json(full_blueprint_json(session, tenant))
        full_sync.full_sync(session, district.cloud_id, tenant.id, view, "resend", hub.now())
    district.collect(hub, changed(bundle()))
    with transaction(hub.sessions) as session:
        ids = session.scalars(
            select(RepoMembership.id).where(RepoMembership.cloud_id == district.cloud_id)
        ).all()
        live = {i.id: i.raw for i in render.membership_bytes(session, district.cloud_id, ids)}
        epoch = payloads.epoch_of(session, district.cloud_id)
        current = payloads.current(session, district.cloud_id, epoch, ids)
        assert set(current) < set(live)  # the touched ones tombstoned
        bodies = payloads.bodies(session, list(current.values()))
        stored = {i: orjson.dumps(bodies[p], option=orjson.OPT_UTC_Z) for i, p in current.items()}
        assert stored == {i: live[i] for i in current}
        assert b"renamed" in b"".join(live.values())
    with write_transaction(hub.sessions) as session:
        full_sync.full_sync(session, district.cloud_id, tenant.id, view, "resend", hub.now())
        current = payloads.current(session, district.cloud_id, epoch, ids)
        assert set(current) == set(live)
        bodies = payloads.bodies(session, list(current.values()))
        stored = {i: orjson.dumps(bodies[p], option=orjson.OPT_UTC_Z) for i, p in current.items()}
        assert stored == live


def full_blueprint_json(session: Session, tenant: InstalledTenant) -> dict[str, Any]:
    found: dict[str, Any] = session.scalars(
        select(IntegrationVersion.blueprint)
        .join(Tenant, Tenant.version_id == IntegrationVersion.id)
        .where(Tenant.id == tenant.id)
    ).one()
    return found


@pytest.mark.parametrize("name", READERS)
def test_pages_from_stored_renderings_equal_live_pages(
    hub: Hub, district: District, name: str
) -> None:
    for round_ in range(2):  # as first collected, then after a change
        if round_:
            district.collect(hub, changed(bundle()))
        with transaction(hub.sessions) as session:
            who = reader(session, district, name)
            stored = pages(session, who)
            spliced = [i for items in stored.values() for i in items]
            if name in ("connector", "whole"):  # seen whole: the stored bytes, unparsed
                assert spliced
                assert all(isinstance(i, orjson.Fragment) for i in spliced)
            live = live_pages(session, who)
            assert {k: as_json(v) for k, v in stored.items()} == {
                k: as_json(v) for k, v in live.items()
            }
            session.rollback()
    assert any(live.values())


def test_a_scoped_tenant_sees_no_reference_outside_its_scope(hub: Hub, district: District) -> None:
    with transaction(hub.sessions) as session:
        who = reader(session, district, "scoped")
        assert who.scoped is not None
        students = as_json(rostering.list_page(session, who, EVERYTHING, "person").items)
    schools = {ref["id"] for s in students for ref in s["$schools"]}
    assert len(schools) == 1  # s1 only, though u2 and the teacher are at s2 too


def test_the_http_page_is_the_live_page(client: TestClient, hub: Hub, district: District) -> None:
    """Through the route (its fast path), for each tenant, after a change: the same JSON as
    with no rendering stored, and the students' new names."""
    district.collect(hub, changed(bundle()))
    headers = {
        name: bearer(token(client, t.client_id, t.client_secret))
        for name, t in district.tenants.items()
    }
    paths = ["/rostering/students?page_size=2", "/rostering/schools", "/rostering/sections"]

    def walk(name: str, path: str) -> list[Any]:
        url: str | None = f"/v2/interop/data{path}"
        found: list[Any] = []
        while url:
            response = client.get(url, headers=headers[name])
            assert response.status_code == 200, response.text
            body = response.json()
            assert set(body) == {"data", "paging"}
            assert set(body["paging"]) == {"next"}
            found += body["data"]
            url = body["paging"]["next"]
        return found

    stored = {(n, p): walk(n, p) for n in headers for p in paths}
    with write_transaction(hub.sessions) as session:
        payloads.forget_renderings(session, district.cloud_id)
    assert {(n, p): walk(n, p) for n in headers for p in paths} == stored
    names = [s["name"]["first"] for s in stored["names", paths[0]]]
    assert names
    assert all(n.endswith("-renamed") for n in names)
    assert all(set(s) == {"$sys", "name"} for s in stored["names", paths[0]])


def test_a_stale_rendering_is_never_served(
    client: TestClient, hub: Hub, district: District
) -> None:
    """Collect, page, change, collect again, page: the page shows the change."""
    tenant = district.tenants["whole"]
    headers = bearer(token(client, tenant.client_id, tenant.client_secret))
    before = client.get("/v2/interop/data/rostering/schools", headers=headers).json()["data"]
    assert "S" in [s["name"] for s in before]
    district.collect(hub, changed(bundle()))
    after = client.get("/v2/interop/data/rostering/schools", headers=headers).json()["data"]
    assert "S (renamed)" in [s["name"] for s in after]
    students = client.get("/v2/interop/data/rostering/students", headers=headers).json()["data"]
    assert sorted(s["name"]["first"] for s in students) == ["A-renamed", "C-renamed"]
