"""Pages of the query API served from stored renderings, on SQLite and PostgreSQL (issue 3).

A collection that no tenant receives still leaves what it touched rendered as it is now (the
current payloads); a page splices those bytes where the reader sees them whole and parses,
filters and projects them otherwise. Every page must equal, as parsed JSON, the page rendered
live for the same objects — for a connector, a tenant that sees Students whole, a tenant whose
topic keeps only names, and a scoped tenant — and a changed object must never be served as it
was.
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
from sqlalchemy import select
from sqlalchemy.orm import Session

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
from interop_hub.tasks import full_sync, payloads, render
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

    def collect(self, hub: Hub, spec: BundleSpec) -> None:
        self.collections += 1
        collect(hub, self.cloud_id, write_bundle(self.folder / str(self.collections), spec))


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


def test_a_collection_nobody_receives_leaves_every_object_rendered_as_it_is(
    hub: Hub, district: District
) -> None:
    with transaction(hub.sessions) as session:
        live = live_renderings(session, district.cloud_id)
        assert len(live) >= 10
        assert current_renderings(session, district.cloud_id) == live
    district.collect(hub, changed(bundle()))
    with transaction(hub.sessions) as session:
        live = live_renderings(session, district.cloud_id)
        stored = current_renderings(session, district.cloud_id)
        assert {k: v for k, v in stored.items() if k in live} == live
        assert b"renamed" in b"".join(live.values())


def test_stored_memberships_are_rendered_again_when_they_change(
    hub: Hub, district: District
) -> None:
    """Memberships get payloads only from tenants' syncs; a collection nobody receives must
    not leave those as they were."""
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
        assert set(current) == set(live)  # every one stored by the sync, none dropped
        bodies = payloads.bodies(session, list(current.values()))
        stored = {i: orjson.dumps(bodies[p], option=orjson.OPT_UTC_Z) for i, p in current.items()}
        assert stored == live
        assert b"renamed" in b"".join(live.values())


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
