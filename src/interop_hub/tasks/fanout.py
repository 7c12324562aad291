"""Fan-out (DESIGN §3.2): a collection's change becomes each tenant's sync, and a change of a
tenant's scope its ``scoping`` sync (full syncs: :mod:`interop_hub.tasks.full_sync`).

A collection is fanned out by rendering everything it may change the look of — the objects and
memberships it adds, updates and deletes, and the objects that show them (a section lists its
students; a school lists its parent's label; a course lists its sections) — once before the
change is applied and once after, in the same transaction. Each tenant then gets the difference
of its own projection: ``ADD`` for what it now sees and did not, ``UPDATE`` (with the prior values
in ``changes``) for what looks different, ``DELETE`` for what it no longer sees. So a change a
tenant cannot see sends it nothing, and its events always rebuild exactly its view.

A collection never leaves a touched object with a current payload (:mod:`interop_hub.tasks.
payloads`, which the query API serves as stored) that the change outdated: one that tenants
receive stores what it rendered; one that nobody receives renders nothing and writes a tombstone
for each touched object and membership that had a current payload, in its transaction. The
objects left without a rendering are rendered and stored after the collection commits, by
:func:`interop_hub.tasks.renderings.refresh`, and served live until then.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from interop_hub.ingest.apply import CollectionPlan
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
from interop_hub.kit.gc import paused_gc
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.scoping.queries import scope_delta
from interop_hub.scoping.visibility import EVERYTHING, Moved
from interop_hub.tasks import payloads, render
from interop_hub.tasks.diff import Change, Diff, Target
from interop_hub.tasks.full_sync import everything, full_sync
from interop_hub.tasks.projection import TenantView, sort_key
from interop_hub.tasks.queue import SyncWriter, refresh_statistics
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
            Tenant.rollover_mode_enabled.is_(False),  # held; a full sync ends the rollover
        )
        .order_by(Tenant.id)
    )
    return [Recipient(tenant_id, TenantView.from_json(blueprint)) for tenant_id, blueprint in rows]


@dataclass
class CollectionFanout:
    """The fan-out of one collection: :meth:`prepare` before the plan is applied, then
    :meth:`finish` after, in the same transaction.

    What it renders is stored once as payloads (:mod:`interop_hub.tasks.payloads`) that every
    tenant's tasks refer to; an object whose rendering did not change keeps its payload.
    """

    cloud_id: uuid.UUID
    epoch: int
    recipients: list[Recipient]
    object_ids: set[uuid.UUID]
    membership_ids: set[uuid.UUID]
    before: dict[uuid.UUID, Rendered] = field(default_factory=dict)
    stored: dict[uuid.UUID, int] = field(default_factory=dict)
    """The current payloads of the touched objects and memberships when the change began."""

    @classmethod
    @paused_gc()
    def prepare(
        cls, session: Session, cloud_id: uuid.UUID, plan: CollectionPlan
    ) -> CollectionFanout | None:
        """The fan-out to :meth:`finish` once the plan is applied (never None: a collection
        that no tenant receives still tombstones the current payloads of what it touched; its
        ``finish`` writes no task). Nothing is rendered when nobody receives it: without events
        there is nothing to diff. Nor is anything touched when nobody receives a collection into
        an empty cloud: only what a collection wrote has payloads, and a collection that deleted
        it tombstoned them (an initial collection: ~0.7 s less for 100,000 students)."""
        targets = recipients(session, cloud_id)
        epoch = payloads.epoch_of(session, cloud_id)
        if not targets and plan.existing_rows == 0:
            return cls(cloud_id, epoch, targets, set(), set())
        objects, members = _touched(session, plan)
        fanout = cls(cloud_id, epoch, targets, objects, members)
        if not targets:
            return fanout
        added = {row.id for kind in plan.objects.values() for row in kind.adds}
        existing = objects - added
        existing_members: set[uuid.UUID] = set()
        if fanout.wants_memberships:
            existing_members = members - {row.id for row in plan.memberships.adds}
        # What is stored as current *is* the object as it is (before the plan applies): read it
        # rather than render it again.
        stored = payloads.current(session, cloud_id, fanout.epoch, [*existing, *existing_members])
        fanout.stored = stored
        for item in rendered_now(session, cloud_id, existing, existing_members, stored):
            fanout.before[item.id] = item
        return fanout

    @property
    def wants_memberships(self) -> bool:
        return any(r.view.memberships for r in self.recipients)

    @paused_gc()
    def finish(
        self,
        session: Session,
        now: dt.datetime,
        origin: str = "ingestion",
        scopes: Mapping[uuid.UUID, Moved] | None = None,
    ) -> int:
        """Write each tenant's sync; returns the number of tasks written.

        ``scopes``: how the collection moved scoped tenants' visible objects (see
        :func:`interop_hub.scoping.service.refresh_cloud`). What came into or went out of a
        tenant's scope is diffed as well, with what shows it, though it did not change itself.
        """
        if not self.recipients:  # rendered after the commit (interop_hub.tasks.renderings)
            touched = self.object_ids | self.membership_ids
            payloads.tombstone(session, self.cloud_id, self.epoch, touched)
            return 0
        scopes = scopes or {}
        targets = [
            Target(
                r.view,
                SyncWriter(session, r.tenant_id, origin, now, always=False),
                *scopes.get(r.tenant_id, (EVERYTHING, EVERYTHING)),
            )
            for r in self.recipients
        ]
        moved = [t for t in targets if t.moving]
        extra_objects: set[uuid.UUID] = set()
        extra_members: set[uuid.UUID] = set()
        if moved:
            crossing: set[uuid.UUID] = set()
            for target in moved:
                crossing |= scope_delta(session, self.cloud_id, target.before, target.after)
            extra_objects, extra_members = shown_with(session, crossing)
            extra_objects -= self.object_ids
            extra_members -= self.membership_ids
        # The touched ones' were read before the change (applying it writes no payload).
        stored = {
            **payloads.current(session, self.cloud_id, self.epoch, extra_objects | extra_members),
            **self.stored,
        }
        diff = Diff(session, self.cloud_id, self.epoch, targets, stored)
        untouched = {i: stored[i] for i in (*extra_objects, *extra_members) if i in stored}
        written = diff.run(self._changes(session, extra_objects, extra_members, untouched))
        if not self.wants_memberships:  # not rendered above, but maybe stored by a full sync
            payloads.tombstone(session, self.cloud_id, self.epoch, self.membership_ids)
        refresh_statistics(session, written)
        return written

    def _changes(
        self,
        session: Session,
        extra_objects: set[uuid.UUID],
        extra_members: set[uuid.UUID],
        untouched: Mapping[uuid.UUID, int],
    ) -> Iterator[Change]:
        """Every touched (and extra) object as it was and is, in dependency order, then the
        memberships, then what is gone. ``untouched``: the current payloads of the extras."""
        after: set[uuid.UUID] = set()
        objects = self.object_ids | extra_objects
        for item in rendered_now(session, self.cloud_id, objects, set(), untouched):
            after.add(item.id)
            if item.id in self.object_ids:
                yield Change(item.id, self.before.get(item.id), item)
            else:
                yield Change(item.id, item, item, touched=False)
        if self.wants_memberships:
            members = self.membership_ids | extra_members
            for item in rendered_now(session, self.cloud_id, set(), members, untouched):
                after.add(item.id)
                if item.id in self.membership_ids:
                    yield Change(item.id, self.before.get(item.id), item)
                else:
                    yield Change(item.id, item, item, touched=False)
        for key, item in self.before.items():
            if key not in after:
                yield Change(key, item, None)


def rendered_now(
    session: Session,
    cloud_id: uuid.UUID,
    object_ids: set[uuid.UUID],
    membership_ids: set[uuid.UUID],
    stored: Mapping[uuid.UUID, int] | None = None,
) -> Iterator[Rendered]:
    """Objects as they are now, in dependency order, then memberships.

    ``stored``: payloads known to render some of them as they are now (in the current epoch,
    and not touched since); those are read rather than rendered again.
    """
    stored = stored or {}
    index: list[tuple[str, str | None, uuid.UUID, str]] = []
    for batch in chunks(object_ids):
        index += session.execute(
            select(RepoObject.kind, RepoObject.subtype, RepoObject.id, RepoObject.label).where(
                one_of(session, RepoObject.id, batch)
            )
        )
    index.sort(key=lambda row: sort_key(*row[:3]))
    for rows in chunks(index, render.BATCH):
        known = _stored_renderings(
            session, {row[2]: (row[0], row[1], row[3]) for row in rows}, stored
        )
        missing = [object_id for _, _, object_id, _ in rows if object_id not in known]
        known.update((i.id, i) for i in render.objects(session, cloud_id, missing))
        yield from (known[object_id] for _, _, object_id, _ in rows if object_id in known)
    for batch in chunks(sorted(membership_ids), render.BATCH):
        known = _stored_renderings(session, dict.fromkeys(batch), stored)
        missing = [member_id for member_id in batch if member_id not in known]
        known.update((i.id, i) for i in render.memberships(session, cloud_id, missing))
        yield from (known[member_id] for member_id in batch if member_id in known)


def _stored_renderings(
    session: Session,
    wanted: Mapping[uuid.UUID, tuple[str, str | None, str] | None],
    stored: Mapping[uuid.UUID, int],
) -> dict[uuid.UUID, Rendered]:
    """Renderings read from payloads, for the ``wanted`` ids (with their kind, subtype and
    label; None for a membership) that ``stored`` has."""
    chosen = {stored[i]: i for i in wanted if i in stored}
    if not chosen:
        return {}
    found: dict[uuid.UUID, Rendered] = {}
    for payload_id, body in payloads.bodies(session, list(chosen)).items():
        object_id = chosen[payload_id]
        about = wanted[object_id]
        if about is None:
            kind, subtype, label = "membership", body["role"], body["$sys"]["label"]
        else:
            kind, subtype, label = about
        found[object_id] = Rendered(object_id, kind, subtype, label, body, orjson.dumps(body))
    return found


@paused_gc()
def scope_sync(
    session: Session,
    cloud_id: uuid.UUID,
    tenant_id: uuid.UUID,
    view: TenantView,
    moved: Moved,
    now: dt.datetime,
) -> int:
    """A change of the tenant's scope as one sync (``origin`` = ``scoping``): what came into
    view, what went out of it, and what shows references that came or went; returns the tasks
    written."""
    crossing = scope_delta(session, cloud_id, moved.before, moved.after)
    if not crossing:
        return 0
    objects, members = shown_with(session, crossing)
    if not view.memberships:
        members = set()
    epoch = payloads.epoch_of(session, cloud_id)
    stored = payloads.current(session, cloud_id, epoch, [*objects, *members])
    target = Target(view, SyncWriter(session, tenant_id, "scoping", now, always=False), *moved)
    changes = (
        Change(item.id, item, item, touched=False)
        for item in rendered_now(session, cloud_id, objects, members, stored)
    )
    return Diff(session, cloud_id, epoch, [target], stored).run(changes)


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
                one_of(session, RepoMembership.id, batch)
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
                    one_of(session, RepoLink.from_id, batch), RepoLink.rel.in_(REVERSE_SHOWN)
                )
            )
        )
    referenced = set(deleted)
    for batch in chunks(list(updated)):
        for object_id, subtype, label in session.execute(
            select(RepoObject.id, RepoObject.subtype, RepoObject.label).where(
                one_of(session, RepoObject.id, batch)
            )
        ):
            row = updated[object_id]
            if row.label[:400] != label or row.subtype != subtype:
                referenced.add(object_id)
    for batch in chunks(list(referenced)):
        objects |= set(
            session.scalars(select(RepoLink.from_id).where(one_of(session, RepoLink.to_id, batch)))
        )
        for member_id, person_id, section_id in session.execute(
            select(RepoMembership.id, RepoMembership.person_id, RepoMembership.section_id).where(
                or_(
                    one_of(session, RepoMembership.person_id, batch),
                    one_of(session, RepoMembership.section_id, batch),
                    one_of(session, RepoMembership.school_id, batch),
                )
            )
        ):
            member_ids.add(member_id)
            objects |= {person_id, section_id}
    return objects, member_ids


def shown_with(session: Session, ids: set[uuid.UUID]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """``ids`` (objects that came into or went out of a tenant's scope) and the objects and
    memberships whose JSON shows one of them (its references are filtered by the scope)."""
    objects = set(ids)
    members: set[uuid.UUID] = set()
    m = RepoMembership
    for batch in chunks(list(ids)):
        objects |= set(
            session.scalars(select(RepoLink.from_id).where(one_of(session, RepoLink.to_id, batch)))
        )
        objects |= set(
            session.scalars(
                select(RepoLink.to_id).where(
                    one_of(session, RepoLink.from_id, batch), RepoLink.rel.in_(REVERSE_SHOWN)
                )
            )
        )
        for member_id, person_id, section_id in session.execute(
            select(m.id, m.person_id, m.section_id).where(
                or_(
                    one_of(session, m.person_id, batch),
                    one_of(session, m.section_id, batch),
                    one_of(session, m.school_id, batch),
                )
            )
        ):
            members.add(member_id)
            objects |= {person_id, section_id}
    return objects, members


__all__ = ["CollectionFanout", "everything", "full_sync", "recipients", "scope_sync"]
