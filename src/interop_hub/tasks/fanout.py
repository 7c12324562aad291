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
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from interop_hub.ingest.apply import CollectionPlan
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.bulk import chunks
from interop_hub.kit.gc import paused_gc
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.tasks import payloads, render
from interop_hub.tasks.models import TaskPayload
from interop_hub.tasks.projection import KIND_ORDER, TenantView, Topic, differs, sort_key
from interop_hub.tasks.queue import Event, SyncWriter, refresh_statistics
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


def decide(
    view: TenantView, before: Rendered | None, after: Rendered | None
) -> tuple[str, Topic] | None:
    """The data event that takes a tenant from ``before`` to ``after`` of one object (either
    may be None: the object did not or does not exist): its action and the tenant's topic, or
    None when the tenant sees no difference."""
    old = view.project(before.kind, before.subtype, before.body) if before else None
    new = view.project(after.kind, after.subtype, after.body) if after else None
    if new is not None:
        if old is None:
            return "ADD", new[0]
        return ("UPDATE", new[0]) if differs(old[1], new[1]) else None
    return ("DELETE", old[0]) if old is not None else None


def data_event(
    action: str,
    topic: Topic,
    object_id: uuid.UUID,
    label: str,
    payload_id: int,
    prior_payload_id: int | None = None,
) -> Event:
    return Event(
        "data_event",
        action,
        object_id,
        topic.object_type,
        label,
        payload_id=payload_id,
        prior_payload_id=prior_payload_id,
    )


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

    @classmethod
    @paused_gc()
    def prepare(
        cls, session: Session, cloud_id: uuid.UUID, plan: CollectionPlan
    ) -> CollectionFanout | None:
        """None when no tenant receives the collection (the cloud's payloads then stop
        standing for its objects)."""
        targets = recipients(session, cloud_id)
        if not targets:
            payloads.forget_renderings(session, cloud_id)
            return None
        objects, members = _touched(session, plan)
        fanout = cls(cloud_id, payloads.epoch_of(session, cloud_id), targets, objects, members)
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

    @paused_gc()
    def finish(self, session: Session, now: dt.datetime, origin: str = "ingestion") -> int:
        """Write each tenant's sync; returns the number of tasks written."""
        syncs = [
            (r.view, SyncWriter(session, r.tenant_id, origin, now, always=False))
            for r in self.recipients
        ]
        stored = payloads.current(session, self.cloud_id, self.epoch, list(self.before))
        after: set[uuid.UUID] = set()
        for batch in chunks(self._after(session), render.BATCH):
            after.update(item.id for item in batch)
            decided = [
                (sync, found, self.before.get(item.id), item)
                for item in batch
                for view, sync in syncs
                if (found := decide(view, self.before.get(item.id), item)) is not None
            ]
            unchanged = {
                item.id: stored[item.id]
                for item in batch
                if item.id in stored and (old := self.before.get(item.id)) and old.body == item.body
            }
            now_stored = {
                **unchanged,
                **self._store(session, [i for i in batch if i.id not in unchanged]),
            }
            priors = self._stored_before(
                session,
                stored,
                [old for _, (action, _), old, _ in decided if action == "UPDATE" and old],
            )
            for sync, (action, topic), old, item in decided:
                prior = priors[old.id] if action == "UPDATE" and old else None
                sync.add(data_event(action, topic, item.id, item.label, now_stored[item.id], prior))
        gone = [item for key, item in self.before.items() if key not in after]
        gone.sort(key=lambda i: sort_key(i.kind, i.subtype, i.id), reverse=True)
        for batch in chunks(gone, render.BATCH):
            decided_gone = [
                (sync, found, item)
                for item in batch
                for view, sync in syncs
                if (found := decide(view, item, None)) is not None
            ]
            last = self._stored_before(session, stored, [item for _, _, item in decided_gone])
            for sync, (action, topic), item in decided_gone:
                sync.add(data_event(action, topic, item.id, item.label, last[item.id]))
        written = sum(sync.end() for _, sync in syncs)
        refresh_statistics(session, written)
        return written

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

    def _store(self, session: Session, items: list[Rendered]) -> dict[uuid.UUID, int]:
        ids = payloads.write(
            session, self.cloud_id, self.epoch, [(i.id, i.body, i.raw) for i in items]
        )
        return {item.id: payload_id for item, payload_id in zip(items, ids, strict=True)}

    def _stored_before(
        self, session: Session, stored: dict[uuid.UUID, int], items: list[Rendered]
    ) -> dict[uuid.UUID, int]:
        """Payloads of what was, for updates (``changes``) and deletes (``data``): the stored
        one, or one written now (outside the epoch: it is not the object as it is)."""
        missing = list({i.id: i for i in items if i.id not in stored}.values())
        written = payloads.write(
            session, self.cloud_id, None, [(i.id, i.body, i.raw) for i in missing]
        )
        stored.update(zip([i.id for i in missing], written, strict=True))
        return stored


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


@paused_gc()
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
    holds and did not receive in it is gone.

    Objects are rendered only when no payload stands for them as they are now (the first full
    sync after collections nobody received); a second tenant's full sync writes task rows only.
    """
    epoch = payloads.epoch_of(session, cloud_id)
    sync = SyncWriter(session, tenant_id, origin, now, always=True)
    for kind, rows in _visible(session, cloud_id, view, epoch):
        stored = {row.id: row.payload_id for row in rows if row.payload_id is not None}
        missing = [row.id for row in rows if row.payload_id is None]
        if missing:
            fresh = list(
                render.memberships(session, cloud_id, missing)
                if kind == "membership"
                else render.objects(session, cloud_id, missing)
            )
            ids = payloads.write(session, cloud_id, epoch, [(i.id, i.body, i.raw) for i in fresh])
            stored.update(zip([i.id for i in fresh], ids, strict=True))
        for row in rows:
            topic = view.topic(kind, row.subtype)
            if topic is None or row.id not in stored:
                continue
            sync.add(data_event("ADD", topic, row.id, row.label, stored[row.id]))
    written = sync.end()
    refresh_statistics(session, written)
    return written


class Visible(NamedTuple):
    id: uuid.UUID
    subtype: str | None
    label: str
    payload_id: int | None  # the payload that renders it as it is now, if there is one


def _visible(
    session: Session, cloud_id: uuid.UUID, view: TenantView, epoch: int
) -> Iterator[tuple[str, list[Visible]]]:
    """What the tenant sees, in dependency order, in batches of one kind."""
    for kind in KIND_ORDER:
        if kind == "membership":
            if view.memberships:
                for batch in _membership_index(session, cloud_id, view, epoch):
                    yield kind, batch
            continue
        if not view.sees_kind(kind):
            continue
        subtypes = view.subtypes(kind)
        if subtypes is None:
            subtypes = _subtypes_present(session, cloud_id, kind)
        for subtype in sorted(subtypes, key=lambda s: sort_key(kind, s, "")):
            for batch in _object_index(session, cloud_id, kind, subtype, epoch):
                yield kind, batch


def _current_payload(cloud_id: uuid.UUID, epoch: int, owner: Any) -> Any:
    """The newest payload of ``owner`` in the epoch (an index probe per row)."""
    return (
        select(func.max(TaskPayload.id))
        .where(
            TaskPayload.cloud_id == cloud_id,
            TaskPayload.epoch == epoch,
            TaskPayload.object_id == owner,
        )
        .scalar_subquery()
    )


def _object_index(
    session: Session, cloud_id: uuid.UUID, kind: str, subtype: str | None, epoch: int
) -> Iterator[list[Visible]]:
    after: uuid.UUID | None = None
    while True:
        stmt = select(
            RepoObject.id,
            RepoObject.subtype,
            RepoObject.label,
            _current_payload(cloud_id, epoch, RepoObject.id),
        ).where(
            RepoObject.cloud_id == cloud_id,
            RepoObject.kind == kind,
            RepoObject.subtype == subtype if subtype is not None else RepoObject.subtype.is_(None),
        )
        if after is not None:
            stmt = stmt.where(RepoObject.id > after)
        found = session.execute(stmt.order_by(RepoObject.id).limit(render.BATCH))
        rows = [Visible(*row) for row in found]
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _membership_index(
    session: Session, cloud_id: uuid.UUID, view: TenantView, epoch: int
) -> Iterator[list[Visible]]:
    person, section = aliased(RepoObject), aliased(RepoObject)
    after: uuid.UUID | None = None
    while True:
        stmt = (
            select(
                RepoMembership.id,
                RepoMembership.role,
                person.label,
                section.label,
                _current_payload(cloud_id, epoch, RepoMembership.id),
            )
            .join(person, person.id == RepoMembership.person_id)
            .join(section, section.id == RepoMembership.section_id)
            .where(
                RepoMembership.cloud_id == cloud_id,
                RepoMembership.role.in_(list(view.memberships)),
            )
        )
        if after is not None:
            stmt = stmt.where(RepoMembership.id > after)
        found = session.execute(stmt.order_by(RepoMembership.id).limit(render.BATCH)).all()
        if not found:
            return
        yield [
            Visible(m_id, role, render.membership_label(p, s), payload)
            for m_id, role, p, s, payload in found
        ]
        after = found[-1][0]


def everything(session: Session, cloud_id: uuid.UUID, view: TenantView) -> Iterator[Rendered]:
    """Everything of the cloud that ``view`` sees, freshly rendered in dependency order (the
    view from scratch, against which a tenant's event stream can be checked)."""
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
