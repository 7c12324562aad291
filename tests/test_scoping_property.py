"""Property test of scoping (issue 5, Acceptance), on SQLite and PostgreSQL.

For random sequences of collections (the bundles of the collection property test) and changes
of tenants' scoping (schools and courses selected, replaced, added, left out, cleared), after
every step:

- the scope the hub stored for each tenant (worked out in SQL) equals the scope computed from
  scratch by the pure rules of :mod:`interop_hub.scoping.visibility` over the whole Repository;
- applying the tenant's data events in ``sequence`` order to an empty copy yields exactly its
  view from scratch: every object and membership it sees, projected by its blueprint, with the
  references outside its scope dropped;
- the query API answers the tenant exactly its view's objects.

Two tenants with different blueprints (one with every topic, roll-ups and section enrollments;
one that sees little) are activated before the first collection; a third is installed and
scoped in setup, and activated in the middle (its initial sync must already be scoped).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import TenantInstall
from interop_hub.repository.models import RepoObject
from interop_hub.runtime import Hub
from interop_hub.scoping import queries, service
from interop_hub.scoping.schemas import ScopingCourseIn, ScopingSchoolIn
from interop_hub.scoping.visibility import Scope, visible
from interop_hub.tasks.fanout import everything
from interop_hub.tasks.projection import TenantView
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant
from tests.driver import comparable
from tests.test_collection_property import (
    COURSES,
    EXAMPLES,
    PROPERTY,
    SCHOOLS,
    BundleSpec,
    bundles,
    collect,
    new_cloud,
    write_bundle,
)
from tests.test_fanout_property import answered, integrations, json, owner, replay

__all__ = ["integrations", "owner"]  # fixtures

Step = tuple[Any, ...]


@st.composite
def steps(draw: st.DrawFn) -> list[Step]:
    """A first collection, then 2 to 6 steps: collections and scoping changes of tenant 0, 1
    or 2 (picked from the pools of source ids; those the Repository lacks are left out when
    the step runs)."""
    found: list[Step] = [("collect", draw(bundles()))]
    for _ in range(draw(st.integers(2, 6))):
        what = draw(st.sampled_from(("collect", "schools", "schools", "courses", "clear")))
        tenant = draw(st.integers(0, 2))
        if what == "collect":
            found.append(("collect", draw(bundles())))
        elif what == "clear":
            found.append(("clear", tenant, draw(st.sampled_from(("school", "course")))))
        else:
            pool = SCHOOLS if what == "schools" else COURSES
            chosen = draw(st.lists(st.sampled_from(pool), max_size=len(pool), unique=True))
            unselect = draw(st.lists(st.sampled_from(pool), max_size=1, unique=True))
            found.append((what, tenant, chosen, unselect, draw(st.booleans())))
    return found


def install(hub: Hub, integration_id: str, cloud_id: uuid.UUID, *, activate: bool) -> uuid.UUID:
    with write_transaction(hub.sessions) as session:
        body = TenantInstall(cloud_id=cloud_id, integration_id=uuid.UUID(integration_id))
        tenant = platform.install_tenant(session, hub.keyring, body, hub.now()).id
        if activate:
            lifecycle.transition(session, tenant, "activate", hub.now())
    return tenant


def existing(hub: Hub, cloud_id: uuid.UUID, kind: str, subtype: str | None) -> set[str]:
    with transaction(hub.sessions) as session:
        stmt = select(RepoObject.source_id).where(
            RepoObject.cloud_id == cloud_id, RepoObject.kind == kind
        )
        if subtype is not None:
            stmt = stmt.where(RepoObject.subtype == subtype)
        return set(session.scalars(stmt))


def change_scoping(hub: Hub, cloud_id: uuid.UUID, tenant_id: uuid.UUID, step: Step) -> None:
    what = step[0]
    with write_transaction(hub.sessions) as session:
        if what == "clear":
            half = service.SCHOOLS if step[2] == "school" else service.COURSES
            service.remove(session, tenant_id, half, None, hub.now())
            return
    _, _, chosen, unselect, replace = step
    if what == "schools":
        present = existing(hub, cloud_id, "org", "school")
        items: list[Any] = [ScopingSchoolIn(school_ref_id=s) for s in chosen if s in present]
        items += [
            ScopingSchoolIn(school_ref_id=s, selected=False) for s in unselect if s in present
        ]
        half = service.SCHOOLS
    else:
        present = existing(hub, cloud_id, "course", None)
        items = [ScopingCourseIn(course_ref_id=c) for c in chosen if c in present]
        items += [
            ScopingCourseIn(course_ref_id=c, selected=False) for c in unselect if c in present
        ]
        half = service.COURSES
    with write_transaction(hub.sessions) as session:
        service.post(session, tenant_id, half, items, replace=replace, now=hub.now())


def scoped_view(hub: Hub, cloud_id: uuid.UUID, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The tenant's view from scratch: what its scope (by the pure rules) and blueprint let it
    see of everything, references outside the scope dropped. Also checks that the scope the
    hub stored is the scope from scratch."""
    with transaction(hub.sessions) as session:
        blueprint = session.scalars(
            select(IntegrationVersion.blueprint)
            .join(Tenant, Tenant.version_id == IntegrationVersion.id)
            .where(Tenant.id == tenant_id)
        ).one()
        view = TenantView.from_json(blueprint)
        selection = queries.selection_of(session, tenant_id)
        scope = Scope(visible(queries.district(session, cloud_id), selection))
        assert queries.stored_scope(session, tenant_id) == scope
        found = {}
        for item in everything(session, cloud_id, view):
            if not scope.sees(item.body):
                continue
            projected = view.project(item.kind, item.subtype, scope.filter(item.body))
            assert projected is not None
            found[str(item.id)] = comparable(json(projected[1]))
    return found


def check(hub: Hub, cloud_id: uuid.UUID, tenant_id: uuid.UUID, label: str) -> None:
    copy, view = replay(hub, tenant_id), scoped_view(hub, cloud_id, tenant_id)
    assert copy.keys() == view.keys(), (
        f"{label}: only in the copy: {copy.keys() - view.keys()}; only in the view: "
        f"{view.keys() - copy.keys()}"
    )
    differing = {key: (copy[key], view[key]) for key in copy if copy[key] != view[key]}
    assert not differing, f"{label}: copy and view differ: {differing}"
    objects = {k: v for k, v in view.items() if not v["$sys"]["type"].endswith("Enrollment")}
    assert answered(hub, cloud_id, tenant_id) == objects, label


@settings(PROPERTY, max_examples=max(1, EXAMPLES * 3 // 5))
@given(sequence=steps())
def test_a_scoped_tenant_event_stream_rebuilds_its_scoped_view(
    hub: Hub, owner: uuid.UUID, integrations: list[str], sequence: list[Step]
) -> None:
    cloud = new_cloud(hub, owner)
    full, little, late = integrations[1], integrations[0], integrations[3]
    tenants = [install(hub, full, cloud, activate=True), install(hub, little, cloud, activate=True)]
    tenants.append(install(hub, late, cloud, activate=False))
    middle = len(sequence) // 2
    activated = {0, 1}
    with tempfile.TemporaryDirectory() as tmp:
        for index, step in enumerate(sequence):
            if index == middle:
                with write_transaction(hub.sessions) as session:
                    lifecycle.transition(session, tenants[2], "activate", hub.now())
                activated.add(2)
            if step[0] == "collect":
                bundle: BundleSpec = step[1]
                collect(hub, cloud, write_bundle(Path(tmp) / f"b{index}", bundle))
            else:
                change_scoping(hub, cloud, tenants[step[1]], step)
            for number in sorted(activated):
                check(hub, cloud, tenants[number], f"step {index} ({step[0]}), tenant {number}")
    event(f"steps: {len(sequence)}")
