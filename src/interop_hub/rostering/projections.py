"""Stored projections of the renderings (issue 3: paging and latency).

A tenant whose topic keeps only some attributes of an object (a blueprint listing Students with
their names only, or a topic without ``<Attributes>``, which drops the roll-ups) cannot be
served the stored rendering as it is: each page parsed every ~3 KB rendering, projected it and
wrote it again, ~12 ms of a 1,000-student page. The renderings pass
(:func:`interop_hub.tasks.renderings.refresh`) therefore also stores, for every projection some
tenant of the cloud uses, each current rendering as that projection makes it
(:class:`~interop_hub.rostering.models.PayloadView`), and a page reads those instead
(:mod:`interop_hub.rostering.stored`).

Why it cannot serve anything stale: a row is keyed by its payload and by the projection
(:func:`view_key`, a digest of the attributes it keeps), and is made from that payload alone,
whose body never changes. A page looks the row up through the object's *current* payload, so an
object changed since (a tombstone or a newer payload), a new epoch, or a topic whose attributes
changed (another key) finds no row and is served as before: the current payload parsed and
projected, or rendered live. A pruned payload takes its rows with it.

Projections are stored for the tenants the cloud has when the pass runs (after each collection
and when a worker starts); a tenant installed since, or given a blueprint with other
attributes, is served by parsing until then.
"""

from __future__ import annotations

import hashlib
import typing
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import orjson
from sqlalchemy import Row, Table, Text, cast, exists, insert, select
from sqlalchemy.orm import Session, aliased

from interop_hub.integrations.blueprint import ROLLUP_ATTRIBUTES
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.bulk import chunks, copy_text
from interop_hub.kit.db import is_postgresql, transaction, write_transaction
from interop_hub.repository.models import RepoObject
from interop_hub.rostering.models import PayloadView
from interop_hub.rostering.queries import COURSE, GRADING_CATEGORY, ORG, PERSON, SECTION, TERM
from interop_hub.runtime import Hub
from interop_hub.tasks import payloads
from interop_hub.tasks.models import TaskPayload
from interop_hub.tasks.projection import TenantView, Topic
from interop_hub.tenants.models import Tenant

PROJECTION = "1"
"""Part of every key: changing what :meth:`Topic.project` makes of a body must change it, so
that no row made the old way is ever read again."""
CHUNK = 2000
"""Renderings projected per transaction."""

views_t = typing.cast(Table, PayloadView.__table__)


@lru_cache(maxsize=256)
def view_of(blueprint: str) -> TenantView:
    """The view of a blueprint, by its stored text (parsing it costs more than a page's SQL)."""
    return TenantView.from_json(orjson.loads(blueprint))


ROLLUPS_SHOWN: dict[str, frozenset[str]] = {
    ORG: frozenset(),
    TERM: frozenset(),
    PERSON: frozenset({"$schools", "$sections"}),
    COURSE: frozenset({"$sections"}),
    SECTION: frozenset({"$teachers", "$students"}),
    GRADING_CATEGORY: frozenset({"$schools"}),
}
"""The roll-ups the JSON of each kind holds (:func:`interop_hub.rostering.serialize.render`).
Only what is stored depends on it, never what a reader gets: a topic that drops none of its
kind's roll-ups is served the rendering itself, after the same check a poll makes
(:func:`interop_hub.tasks.delivery.projected`)."""


@lru_cache(maxsize=256)
def view_key(topic: Topic, kind: str) -> str | None:
    """The key of the rows that hold the bodies of ``kind`` as ``topic`` projects them; None
    when it keeps them whole (the stored rendering is served as it is)."""
    dropped = topic.dropped()
    if dropped is not None and not dropped & ROLLUPS_SHOWN.get(kind, ROLLUP_ATTRIBUTES):
        return None
    kept = "\x00" if topic.attributes is None else "\x1f".join(topic.attributes)
    return hashlib.blake2b(f"{PROJECTION}\x1e{kept}".encode(), digest_size=12).hexdigest()


@dataclass
class Wanted:
    """A projection some tenant of the cloud reads, and the objects it applies to."""

    topic: Topic
    lists: set[tuple[str, str | None]] = field(default_factory=set)
    """(kind, subtype) of those objects; subtype None: every subtype of the kind."""


def wanted(session: Session, cloud_id: uuid.UUID) -> dict[str, Wanted]:
    """The projections the cloud's tenants read, by key."""
    blueprints = session.scalars(
        select(cast(IntegrationVersion.blueprint, Text))
        .join(Tenant, Tenant.version_id == IntegrationVersion.id)
        .where(Tenant.cloud_id == cloud_id, Tenant.op_state != "uninstalled")
        .distinct()
    )
    found: dict[str, Wanted] = {}
    for blueprint in blueprints:
        for (kind, subtype), topic in view_of(blueprint).objects.items():
            key = view_key(topic, kind)
            if key is not None:
                found.setdefault(key, Wanted(topic)).lists.add((kind, subtype))
    return found


def missing(
    session: Session,
    cloud_id: uuid.UUID,
    epoch: int,
    key: str,
    kind: str,
    subtype: str | None,
    after: uuid.UUID | None,
    limit: int = CHUNK,
) -> Sequence[Row[uuid.UUID, int, str]]:
    """Up to ``limit`` objects of the kind (and subtype) after ``after``, by id, whose current
    rendering has no row for ``key``: the object's id, the payload's id and its body's text."""
    current = aliased(TaskPayload)
    newest = payloads.newest_payload(cloud_id, epoch, RepoObject.id, TaskPayload.id)
    stmt = (
        select(RepoObject.id, current.id, cast(current.body, Text))
        .join(current, current.id == newest)
        .where(
            RepoObject.cloud_id == cloud_id,
            RepoObject.kind == kind,
            current.body.is_not(None),
            ~exists().where(PayloadView.payload_id == current.id, PayloadView.view == key),
        )
        .order_by(RepoObject.id)
        .limit(limit)
    )
    if subtype is not None:
        stmt = stmt.where(RepoObject.subtype == subtype)
    if after is not None:
        stmt = stmt.where(RepoObject.id > after)
    return session.execute(stmt).all()


def project(topic: Topic, text: str) -> bytes:
    """A stored rendering as ``topic`` projects it, as JSON bytes."""
    return orjson.dumps(topic.project(orjson.loads(text)))


def write(session: Session, key: str, rows: Iterable[tuple[int, bytes]]) -> int:
    """Store ``rows`` (payload id, projected JSON) under ``key``; returns how many."""
    rows = list(rows)
    if is_postgresql(session):
        field_key = key.encode()
        copy_text(
            session,
            views_t,
            ["payload_id", "view", "body"],
            (
                b"%d\t%s\t%s\n" % (pid, field_key, body.replace(b"\\", b"\\\\"))
                for pid, body in rows  # JSON text has no tabs or line breaks
            ),
        )
    else:
        for batch in chunks(rows):
            session.execute(
                insert(PayloadView),
                [{"payload_id": pid, "view": key, "body": body.decode()} for pid, body in batch],
            )
    return len(rows)


def refresh(hub: Hub, cloud_id: uuid.UUID, chunk: int = CHUNK) -> int:
    """Store every projection the cloud's tenants read of every current rendering that lacks
    it; returns how many were stored. Each chunk is its own short transaction and takes no
    lock: what it stores is derived from payloads that never change."""
    with transaction(hub.sessions) as session:
        epoch = payloads.epoch_of(session, cloud_id)
        projections = wanted(session, cloud_id)
    stored = 0
    for key, want in projections.items():
        for kind, subtype in sorted(want.lists, key=lambda item: (item[0], item[1] or "")):
            after: uuid.UUID | None = None
            while True:
                with write_transaction(hub.sessions) as session:
                    rows = missing(session, cloud_id, epoch, key, kind, subtype, after, chunk)
                    stored += write(
                        session, key, ((row[1], project(want.topic, row[2])) for row in rows)
                    )
                if len(rows) < chunk:
                    break
                after = rows[-1][0]
    return stored
