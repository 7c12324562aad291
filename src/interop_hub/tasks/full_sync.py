"""Full syncs (DESIGN §3.2): everything a tenant sees, as ``ADD``s in dependency order — the
initial sync on activation, an operator's resend, a rollover's catch-up.

Objects are rendered only when no payload stands for them as they are now; a scoped tenant's
full sync lists only its stored scope (``tenant_visible``), and objects whose references the
scope filters get a payload of their own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, exists, null, select, true
from sqlalchemy.orm import Session

from interop_hub.kit.gc import paused_gc
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.rostering.queries import Refs
from interop_hub.scoping.models import TenantVisible
from interop_hub.scoping.visibility import EVERYTHING, Scope
from interop_hub.tasks import payloads, render
from interop_hub.tasks.diff import data_event
from interop_hub.tasks.models import TaskPayload
from interop_hub.tasks.projection import KIND_ORDER, TenantView, sort_key
from interop_hub.tasks.queue import SyncWriter, refresh_statistics
from interop_hub.tasks.render import Fresh, Raw, Rendered


@paused_gc()
def full_sync(
    session: Session,
    cloud_id: uuid.UUID,
    tenant_id: uuid.UUID,
    view: TenantView,
    origin: str,
    now: dt.datetime,
    scope: Scope = EVERYTHING,
) -> int:
    """Send the tenant everything it sees (``ADD`` each), as one sync; returns the tasks
    written. A driver takes a full sync (``initial``, ``resend``) as the whole state: what it
    holds and did not receive in it is gone.

    Objects are rendered only when no payload stands for them as they are now (the first full
    sync after collections nobody received); a second tenant's full sync writes task rows only.
    A scoped tenant gets what its ``scope`` holds, with references outside it filtered (a
    payload of its own where that removes something).
    """
    epoch = payloads.epoch_of(session, cloud_id)
    sync = SyncWriter(session, tenant_id, origin, now, always=True)
    scoped = None if scope.everything else tenant_id
    # Where the epoch has no payload of objects (or of memberships, which only syncs store),
    # everything is rendered without looking for payloads (an index probe per row).
    rendered = epoch if payloads.any_current(session, cloud_id, epoch) else None
    members = (
        epoch if rendered is not None and _members_rendered(session, cloud_id, epoch) else None
    )
    for kind, rows, fresh in _visible(session, cloud_id, view, (rendered, members), scoped):
        stored = {row.id: row.payload_id for row in rows if row.payload_id is not None}
        made = fresh.raws if scope.everything else list(fresh.raws)  # scoped: filtered below
        if fresh.ids:  # rendered while the database stores those sent before
            items = ((i.id, i.raw) for i in made)
            ids = payloads.write_raw(session, cloud_id, epoch, items, len(fresh.ids))
            stored.update(zip(fresh.ids, ids, strict=True))
        if not scope.everything:
            stored.update(_scoped_payloads(session, cloud_id, scope, stored, list(made)))
        for row in rows:
            topic = view.topic(kind, row.subtype)
            if topic is None or row.id not in stored:
                continue
            sync.add(data_event("ADD", topic, row.id, row.label, stored[row.id]))
    written = sync.end()
    refresh_statistics(session, written)
    return written


def _scoped_payloads(
    session: Session,
    cloud_id: uuid.UUID,
    scope: Scope,
    stored: dict[uuid.UUID, int],
    fresh: list[Raw],
) -> dict[uuid.UUID, int]:
    """Payloads of the objects whose references the scope filters (the others keep theirs)."""
    known = {item.id: orjson.loads(item.raw) for item in fresh}
    wanted = {pid: oid for oid, pid in stored.items() if oid not in known}
    for payload_id, body in payloads.bodies(session, list(wanted)).items():
        known[wanted[payload_id]] = body
    filtered = []
    for object_id, body in known.items():
        kept = scope.filter(body)
        if kept is not body:
            filtered.append((object_id, orjson.dumps(kept)))
    ids = payloads.write_raw(session, cloud_id, None, filtered)
    return {object_id: pid for (object_id, _), pid in zip(filtered, ids, strict=True)}


NONE = Fresh([], iter(()))


class Visible(NamedTuple):
    id: uuid.UUID
    subtype: str | None
    label: str
    payload_id: int | None  # the payload that renders it as it is now, if there is one


def _members_rendered(session: Session, cloud_id: uuid.UUID, epoch: int) -> bool:
    """Whether any payload of the epoch renders a section membership (collections store those
    of objects; only tenants' syncs store memberships')."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    TaskPayload.cloud_id == cloud_id,
                    TaskPayload.epoch == epoch,
                    TaskPayload.object_id == RepoMembership.id,
                    RepoMembership.cloud_id == cloud_id,
                )
            )
        )
    )


def _visible(
    session: Session,
    cloud_id: uuid.UUID,
    view: TenantView,
    epochs: tuple[int | None, int | None],
    scoped: uuid.UUID | None,
) -> Iterator[tuple[str, list[Visible], Fresh]]:
    """What the tenant sees, in dependency order, in batches of one kind (``scoped``: the
    tenant, when its stored scope narrows what it sees), each with the renderings of what no
    payload of the epoch stands for; ``epochs`` for objects and for memberships (None: the
    epoch has no payload of them at all)."""
    epoch, members_epoch = epochs
    refs = Refs(session, cloud_id)  # what renderings refer to, read once for the whole sync
    for kind, subtype in _kinds_seen(session, cloud_id, view):
        if kind == "membership":
            for batch in _memberships(session, cloud_id, view, members_epoch, scoped, refs):
                yield kind, *batch
            continue
        for rows in _object_index(session, cloud_id, kind, subtype, epoch, scoped):
            missing = [row.id for row in rows if row.payload_id is None]
            yield (
                kind,
                rows,
                render.to_render(session, cloud_id, missing, refs) if missing else NONE,
            )


def _kinds_seen(
    session: Session, cloud_id: uuid.UUID, view: TenantView
) -> Iterator[tuple[str, str | None]]:
    """The kinds and subtypes ``view`` sees, in dependency order (``("membership", None)`` for
    the section memberships)."""
    for kind in KIND_ORDER:
        if kind == "membership":
            if view.memberships:
                yield kind, None
            continue
        if not view.sees_kind(kind):
            continue
        subtypes = view.subtypes(kind)
        if subtypes is None:
            subtypes = _subtypes_present(session, cloud_id, kind)
        for subtype in sorted(subtypes, key=lambda s: sort_key(kind, s, "")):
            yield kind, subtype


def _current_payload(cloud_id: uuid.UUID, epoch: int | None, owner: Any) -> Any:
    """The current payload of ``owner`` in the epoch (an index probe per row; NULL without an
    epoch, or when its newest payload is a tombstone: it is rendered then)."""
    if epoch is None:
        return null()
    return payloads.newest_rendering(cloud_id, epoch, owner)


def _in_scope(scoped: uuid.UUID | None, owner: Any) -> ColumnElement[bool]:
    if scoped is None:
        return true()
    return exists().where(TenantVisible.tenant_id == scoped, TenantVisible.object_id == owner)


def _object_index(
    session: Session,
    cloud_id: uuid.UUID,
    kind: str,
    subtype: str | None,
    epoch: int | None,
    scoped: uuid.UUID | None,
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
            _in_scope(scoped, RepoObject.id),
        )
        if after is not None:
            stmt = stmt.where(RepoObject.id > after)
        found = session.execute(stmt.order_by(RepoObject.id).limit(render.BATCH))
        rows = [Visible(*row) for row in found]
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _memberships(
    session: Session,
    cloud_id: uuid.UUID,
    view: TenantView,
    epoch: int | None,
    scoped: uuid.UUID | None,
    refs: Refs,
) -> Iterator[tuple[list[Visible], Fresh]]:
    """The section memberships the tenant sees, in batches, each with the renderings of those
    no payload stands for — to be rendered from the same rows (see :class:`render.Sides`)."""
    sides = render.Sides(refs)
    after: uuid.UUID | None = None
    while True:
        stmt = select(
            *render.MEMBERSHIP_COLUMNS,
            _current_payload(cloud_id, epoch, RepoMembership.id).label("payload_id"),
        ).where(
            RepoMembership.cloud_id == cloud_id,
            RepoMembership.role.in_(list(view.memberships)),
            _in_scope(scoped, RepoMembership.person_id),
            _in_scope(scoped, RepoMembership.section_id),
        )
        if after is not None:
            stmt = stmt.where(RepoMembership.id > after)
        found = session.execute(stmt.order_by(RepoMembership.id).limit(render.BATCH)).all()
        if not found:
            return
        sides.load(found)
        rows, pending = [], []
        for row in found:
            label = sides.label(row)
            if label is None:
                continue  # its person or section is gone
            rows.append(Visible(row.id, row.role, label, row.payload_id))
            if row.payload_id is None:
                pending.append((row, label))
        raws = (sides.render(row, label) for row, label in pending)
        yield rows, Fresh([row.id for row, _ in pending], raws)
        after = found[-1].id


def everything(session: Session, cloud_id: uuid.UUID, view: TenantView) -> Iterator[Rendered]:
    """Everything of the cloud that ``view`` sees, freshly rendered in dependency order (the
    view from scratch, against which a tenant's event stream can be checked)."""
    for kind, subtype in _kinds_seen(session, cloud_id, view):
        if kind == "membership":
            yield from render.all_memberships(session, cloud_id, list(view.memberships))
        else:
            yield from render.all_objects(session, cloud_id, kind, subtype)


def _subtypes_present(session: Session, cloud_id: uuid.UUID, kind: str) -> list[str | None]:
    return list(
        session.scalars(
            select(RepoObject.subtype)
            .where(RepoObject.cloud_id == cloud_id, RepoObject.kind == kind)
            .distinct()
        )
    )
