"""Fan-out (DESIGN §3.2): a collection's change becomes each tenant's sync, and a tenant's full
sync (activation, resend) sends it everything it sees.

A collection is fanned out by rendering everything it may change the look of — the objects and
memberships it adds, updates and deletes, and the objects that show them (a section lists its
students; a school lists its parent's label; a course lists its sections) — once before the
change is applied and once after, in the same transaction. Each tenant then gets the difference
of its own projection: ``ADD`` for what it now sees and did not, ``UPDATE`` (with the prior values
in ``changes``) for what looks different, ``DELETE`` for what it no longer sees. So a change a
tenant cannot see sends it nothing, and its events always rebuild exactly its view.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from interop_hub.ingest.apply import CollectionPlan
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.bulk import chunks
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.tasks import render
from interop_hub.tasks.projection import KIND_ORDER, TenantView, changed, differs, sort_key
from interop_hub.tasks.queue import Event, SyncWriter
from interop_hub.tasks.render import Rendered
from interop_hub.tenants.models import Tenant

REVERSE_SHOWN = ("parent", "course")
"""Links whose target shows them (``$children`` of a parent, ``$sections`` of a course)."""
FANOUT_STATES = ("active", "suspended")
"""Tenants whose queue a collection fills (a suspended tenant's tasks wait for it)."""


@dataclass(frozen=True)
class Recipient:
    tenant_id: uuid.UUID
    view: TenantView


def recipients(
    session: Session, cloud_id: uuid.UUID, states: Iterable[str] = FANOUT_STATES
) -> list[Recipient]:
    rows = session.execute(
        select(Tenant.id, IntegrationVersion.blueprint)
        .join(IntegrationVersion, IntegrationVersion.id == Tenant.version_id)
        .where(
            Tenant.cloud_id == cloud_id,
            Tenant.op_state.in_(list(states)),
            Tenant.activated_at.is_not(None),  # its initial sync comes with the activation
        )
        .order_by(Tenant.id)
    )
    return [Recipient(tenant_id, TenantView.from_json(blueprint)) for tenant_id, blueprint in rows]


def event_for(view: TenantView, before: Rendered | None, after: Rendered | None) -> Event | None:
    """The data event that takes a tenant from ``before`` to ``after`` of one object (either
    may be None: the object did not or does not exist), or None when it sees no difference."""
    old = view.project(before.kind, before.subtype, before.body) if before else None
    new = view.project(after.kind, after.subtype, after.body) if after else None
    if new is not None and after is not None:
        topic, data = new
        if old is None:
            action, changes = "ADD", None
        elif differs(old[1], data):
            action, changes = "UPDATE", changed(old[1], data)
        else:
            return None
        return Event(
            "data_event",
            action,
            after.id,
            topic.object_type,
            after.label,
            data=data,
            changes=changes,
        )
    if old is not None and before is not None:
        topic, data = old
        return Event("data_event", "DELETE", before.id, topic.object_type, before.label, data=data)
    return None


@dataclass
class CollectionFanout:
    """The fan-out of one collection: :meth:`prepare` before the plan is applied, then
    :meth:`finish` after, in the same transaction."""

    cloud_id: uuid.UUID
    recipients: list[Recipient]
    object_ids: set[uuid.UUID]
    membership_ids: set[uuid.UUID]
    before: dict[uuid.UUID, Rendered] = field(default_factory=dict)

    @classmethod
    def prepare(
        cls, session: Session, cloud_id: uuid.UUID, plan: CollectionPlan
    ) -> CollectionFanout | None:
        targets = recipients(session, cloud_id)
        if not targets:
            return None
        objects, members = _touched(session, plan)
        fanout = cls(cloud_id, targets, objects, members)
        added = {row.id for kind in plan.objects.values() for row in kind.adds}
        for item in render.objects(session, cloud_id, objects - added):
            fanout.before[item.id] = item
        if fanout.wants_memberships:
            added_members = {row.id for row in plan.memberships.adds}
            for item in render.memberships(session, cloud_id, members - added_members):
                fanout.before[item.id] = item
        return fanout

    @property
    def wants_memberships(self) -> bool:
        return any(r.view.memberships for r in self.recipients)

    def finish(self, session: Session, now: dt.datetime, origin: str = "ingestion") -> int:
        """Write each tenant's sync; returns the number of tasks written."""
        syncs = [
            (r.view, SyncWriter(session, r.tenant_id, origin, now, always=False))
            for r in self.recipients
        ]
        after: set[uuid.UUID] = set()
        for item in self._after(session):
            after.add(item.id)
            previous = self.before.get(item.id)
            for view, sync in syncs:
                if (event := event_for(view, previous, item)) is not None:
                    sync.add(event)
        gone = [item for key, item in self.before.items() if key not in after]
        gone.sort(key=lambda i: sort_key(i.kind, i.subtype, i.id), reverse=True)
        for item in gone:
            for view, sync in syncs:
                if (event := event_for(view, item, None)) is not None:
                    sync.add(event)
        return sum(sync.end() for _, sync in syncs)

    def _after(self, session: Session) -> Iterator[Rendered]:
        """The touched objects as they are now, in dependency order, then the memberships."""
        index: list[tuple[str, str | None, uuid.UUID]] = []
        for batch in chunks(self.object_ids):
            index += session.execute(
                select(RepoObject.kind, RepoObject.subtype, RepoObject.id).where(
                    RepoObject.id.in_(batch)
                )
            )
        index.sort(key=lambda row: sort_key(*row))
        for rows in chunks(index, render.BATCH):
            ids = [object_id for _, _, object_id in rows]
            found = {i.id: i for i in render.objects(session, self.cloud_id, ids)}
            yield from (found[object_id] for object_id in ids if object_id in found)
        if self.wants_memberships:
            yield from render.memberships(session, self.cloud_id, self.membership_ids)


def _touched(session: Session, plan: CollectionPlan) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The objects and memberships whose JSON the plan may change."""
    rows = [row for kind in plan.objects.values() for row in (*kind.adds, *kind.updates)]
    updated = {row.id: row for kind in plan.objects.values() for row in kind.updates}
    deleted = {object_id for kind in plan.objects.values() for object_id in kind.deletes}
    objects = {row.id for row in rows} | deleted
    # The targets that show a link of an added or updated object (its new parent, its course).
    objects |= {to for row in rows for rel, to, _ in row.links if rel in REVERSE_SHOWN}
    members = plan.memberships
    member_ids = {m.id for m in (*members.adds, *members.updates)} | set(members.deletes)
    objects |= {i for m in (*members.adds, *members.updates) for i in (m.person_id, m.section_id)}
    for batch in chunks([*members.deletes, *(m.id for m in members.updates)]):
        for person_id, section_id in session.execute(
            select(RepoMembership.person_id, RepoMembership.section_id).where(
                RepoMembership.id.in_(batch)
            )
        ):
            objects |= {person_id, section_id}
    # What shows an updated or deleted object: the targets that list it (old parent, course);
    # and, when its reference changes (label, type) or it goes away, everything that refers to
    # it and its memberships.
    for batch in chunks([*updated, *deleted]):
        objects |= set(
            session.scalars(
                select(RepoLink.to_id).where(
                    RepoLink.from_id.in_(batch), RepoLink.rel.in_(REVERSE_SHOWN)
                )
            )
        )
    referenced = set(deleted)
    for batch in chunks(list(updated)):
        for object_id, subtype, label in session.execute(
            select(RepoObject.id, RepoObject.subtype, RepoObject.label).where(
                RepoObject.id.in_(batch)
            )
        ):
            row = updated[object_id]
            if row.label[:400] != label or row.subtype != subtype:
                referenced.add(object_id)
    for batch in chunks(list(referenced)):
        objects |= set(session.scalars(select(RepoLink.from_id).where(RepoLink.to_id.in_(batch))))
        for member_id, person_id, section_id in session.execute(
            select(RepoMembership.id, RepoMembership.person_id, RepoMembership.section_id).where(
                or_(
                    RepoMembership.person_id.in_(batch),
                    RepoMembership.section_id.in_(batch),
                    RepoMembership.school_id.in_(batch),
                )
            )
        ):
            member_ids.add(member_id)
            objects |= {person_id, section_id}
    return objects, member_ids


def full_sync(
    session: Session,
    cloud_id: uuid.UUID,
    tenant_id: uuid.UUID,
    view: TenantView,
    origin: str,
    now: dt.datetime,
) -> int:
    """Send the tenant everything it sees (``ADD`` each), as one sync; returns the tasks
    written. A driver takes a full sync (``initial``, ``resend``) as the whole state: what it
    holds and did not receive in it is gone."""
    sync = SyncWriter(session, tenant_id, origin, now, always=True)
    for item in everything(session, cloud_id, view):
        if (event := event_for(view, None, item)) is not None:
            sync.add(event)
    return sync.end()


def everything(session: Session, cloud_id: uuid.UUID, view: TenantView) -> Iterator[Rendered]:
    """Everything of the cloud that ``view`` sees, rendered in dependency order."""
    for kind in KIND_ORDER:
        if kind == "membership":
            if view.memberships:
                yield from render.all_memberships(session, cloud_id, list(view.memberships))
            continue
        if not view.sees_kind(kind):
            continue
        subtypes = view.subtypes(kind)
        if subtypes is None:
            subtypes = _subtypes_present(session, cloud_id, kind)
        for subtype in sorted(subtypes, key=lambda s: sort_key(kind, s, "")):
            yield from render.all_objects(session, cloud_id, kind, subtype)


def _subtypes_present(session: Session, cloud_id: uuid.UUID, kind: str) -> list[str | None]:
    return list(
        session.scalars(
            select(RepoObject.subtype)
            .where(RepoObject.cloud_id == cloud_id, RepoObject.kind == kind)
            .distinct()
        )
    )
