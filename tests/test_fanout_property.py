"""Property test of the event pipeline (issue 4, Acceptance), on SQLite and PostgreSQL.

For random sequences of collections (the bundles of the collection property test: overlapping
ids, changed fields, links and memberships, objects that disappear and come back), applying a
tenant's data events in ``sequence`` order to an empty copy always yields exactly the tenant's
view of the Repository — for tenants with different blueprints: one that sees everything
(roll-ups and section memberships included), one that sees little (the factories' blueprint:
School names, Student names and schools, sections without roll-ups), and one whose membership
topics have their consumer role disabled (memberships reach it through roll-ups only).
Three tenants are activated before the first collection, a fourth in the middle of the
sequence (its initial sync is the state at that point).
"""

from __future__ import annotations

import copy
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given, settings
from sqlalchemy import select

from interop_hub.auth.principal import Principal
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.paging import PageRequest
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import TenantInstall
from interop_hub.rostering import service as rostering
from interop_hub.runtime import Hub
from interop_hub.tasks import service as tasks_service
from interop_hub.tasks.fanout import everything
from interop_hub.tasks.models import Task
from interop_hub.tasks.projection import TenantView
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant
from tests.driver import comparable
from tests.factories import (
    blueprint,
    data,
    full_blueprint,
    make_account,
    make_world,
    run_collection,
)
from tests.test_collection_property import (
    EXAMPLES,
    PROPERTY,
    BundleSpec,
    collect,
    new_cloud,
    sequences,
    write_bundle,
)

MEMBERSHIPS = (
    '<Topic Name="StudentSectionEnrollment"/>'
    '<Topic Name="TeacherSectionEnrollment"><Attributes><Attribute Name="role"/>'
    '<Attribute Name="$person"/></Attributes></Topic>'
)
NO_MEMBERSHIP_EVENTS = (
    '<Topic Name="PersonSectionMembership"><Roles><Consumer Support="disabled"/></Roles></Topic>'
)
BLUEPRINTS = (MEMBERSHIPS, NO_MEMBERSHIP_EVENTS, MEMBERSHIPS)


@pytest.fixture
def integrations(client: TestClient, hub: Hub) -> list[str]:
    """Four integrations of one vendor: three with the blueprints above, and one (the last)
    installed in the middle of a sequence."""
    hub.settings.mass_change_threshold = 1.0  # nothing is ever held
    world = make_world(client, hub)
    documents = [blueprint("1.0"), *(full_blueprint("1.0", extra=x) for x in BLUEPRINTS)]
    found = []
    for index, document in enumerate(documents):
        created = data(
            client.post(
                "/v2/interop/integrations",
                json={"name": f"acme-{index}"},
                headers=world.vendor.headers,
            )
        )
        data(
            client.post(
                f"/v2/interop/integrations/{created['id']}/versions",
                content=document,
                headers={**world.vendor.headers, "Content-Type": "application/xml"},
            )
        )
        found.append(str(created["id"]))
    return found


@pytest.fixture
def owner(hub: Hub) -> uuid.UUID:
    return make_account(hub, "education_agency", "Property USD").id


def install(hub: Hub, integration_id: str, cloud_id: uuid.UUID) -> uuid.UUID:
    with write_transaction(hub.sessions) as session:
        body = TenantInstall(cloud_id=cloud_id, integration_id=uuid.UUID(integration_id))
        tenant = platform.install_tenant(session, hub.keyring, body, hub.now()).id
        lifecycle.transition(session, tenant, "activate", hub.now())
    return tenant


def json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z))


def replay(hub: Hub, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The tenant's data events applied in sequence order to an empty copy."""
    copy: dict[str, Any] = {}
    with transaction(hub.sessions) as session:
        tasks = session.scalars(
            select(Task).where(Task.tenant_id == tenant_id).order_by(Task.sequence)
        ).all()
        delivered = json(tasks_service.render(session, tasks, "nested"))
    for task in delivered:
        if task["type"] != "data_event":
            continue
        found = task["data_event"]
        key, action = found["object_id"], found["action"]
        if action == "DELETE":
            assert key in copy, f"DELETE of {found['object_type']} {key}, which the copy lacks"
            del copy[key]
        else:
            assert (action == "ADD") == (key not in copy), (action, found["object_type"])
            if action == "UPDATE":
                assert found["changes"] or found["data"]["$sys"] != copy[key]["$sys"]
            copy[key] = comparable(found["data"])
    return copy


def view_of(hub: Hub, cloud_id: uuid.UUID, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The tenant's view computed from scratch: everything it sees, projected."""
    with transaction(hub.sessions) as session:
        blueprint = session.scalars(
            select(IntegrationVersion.blueprint)
            .join(Tenant, Tenant.version_id == IntegrationVersion.id)
            .where(Tenant.id == tenant_id)
        ).one()
        view = TenantView.from_json(blueprint)
        found = {}
        for item in everything(session, cloud_id, view):
            projected = view.project(item.kind, item.subtype, item.body)
            assert projected is not None
            found[str(item.id)] = comparable(json(projected[1]))
    return found


def answered(hub: Hub, cloud_id: uuid.UUID, tenant_id: uuid.UUID) -> dict[str, Any]:
    """What the query API answers the tenant (objects of every kind; memberships are not
    objects there), which it serves from the stored renderings where it can."""
    principal = Principal(kind="actor", cloud_id=cloud_id, tenant_id=tenant_id)
    everything_page = PageRequest(page=0, page_size=10_000, cursor=None, base_url="", query={})
    found = {}
    with transaction(hub.sessions) as session:
        reader = rostering.reader_of(session, principal)
        for kind in ("org", "term", "course", "person", "section", "grading_category"):
            for item in rostering.list_objects(session, reader, everything_page, kind).items:
                found[str(item["$sys"]["id"])] = comparable(json(item))
    return found


def renamed(bundle: BundleSpec) -> BundleSpec:
    changed = copy.deepcopy(bundle)
    for row in changed["users"]:
        row["givenName"] = "Renamed"
    for row in changed["orgs"]:
        row["name"] = f"{row['name']} (renamed)"
    return changed


def without_first_user(bundle: BundleSpec) -> BundleSpec:
    changed = copy.deepcopy(bundle)
    changed["users"] = changed["users"][1:]
    return changed


@settings(PROPERTY, max_examples=max(1, EXAMPLES * 3 // 5))
@given(sequence=sequences())
def test_a_tenant_event_stream_rebuilds_its_view(
    hub: Hub, owner: uuid.UUID, integrations: list[str], sequence: list[BundleSpec]
) -> None:
    cloud = new_cloud(hub, owner)
    *early, late = integrations
    tenants = [install(hub, integration, cloud) for integration in early]
    middle = len(sequence) // 2
    with tempfile.TemporaryDirectory() as tmp:
        for index, bundle in enumerate(sequence):
            if index == middle:
                tenants.append(install(hub, late, cloud))
            collect(hub, cloud, write_bundle(Path(tmp) / f"b{index}", bundle))
        # Then two steps random bundles rarely take: only names change (what shows a person
        # must follow its new label), and a user goes while its enrollments stay (they are
        # rejected, and the user's memberships go with it).
        last = sequence[-1]
        collect(hub, cloud, write_bundle(Path(tmp) / "renamed", renamed(last)))
        run_collection(hub, cloud, write_bundle(Path(tmp) / "gone", without_first_user(last)))
    for tenant in tenants:
        copy, view = replay(hub, tenant), view_of(hub, cloud, tenant)
        assert copy.keys() == view.keys(), (
            f"only in the copy: {copy.keys() - view.keys()}; only in the view: "
            f"{view.keys() - copy.keys()}"
        )
        differing = {key: (copy[key], view[key]) for key in copy if copy[key] != view[key]}
        assert not differing, f"copy and view differ: {differing}"
        objects = {k: v for k, v in view.items() if not v["$sys"]["type"].endswith("Enrollment")}
        assert answered(hub, cloud, tenant) == objects
    event(f"bundles: {len(sequence)}")
