"""Storing the renderings the query API serves, after a collection commits.

A collection that no tenant receives renders nothing: it tombstones the current payloads its
change outdated (:func:`interop_hub.tasks.payloads.tombstone`), so its transaction costs no
rendering (at 100,000 students rendering everything an initial collection adds took longer than
the collection itself). :func:`refresh` then renders every object of the cloud that has no
current payload and stores it, until then the query API renders those live.

It works in chunks of :data:`CHUNK` objects, each its own write transaction holding the lock a
collection takes on the cloud's row (PostgreSQL; SQLite has one writer). Inside it, it reads the
epoch and which of the chunk's objects still have no current payload, and renders those: a
rendering is always of the Repository as it is under the lock, and stays true until a later
collection tombstones it. A collection waits for at most one chunk, and a crash leaves only
objects without a rendering, which the next pass stores.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Cloud
from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of, transaction, vacuum_analyze, write_transaction
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.rostering import projections
from interop_hub.rostering.queries import Refs
from interop_hub.runtime import Hub
from interop_hub.tasks import payloads, render

log = logging.getLogger(__name__)

STORED_ANALYZE = 20_000
"""Renderings (or projections) stored by a pass after which the tables the query API's pages
read are vacuumed and their statistics refreshed (:func:`interop_hub.kit.db.vacuum_analyze`):
so many stored means a large collection just changed the Repository too."""
PAGED_TABLES = (
    "task_payloads",
    "task_payload_views",
    "repo_objects",
    "repo_links",
    "repo_memberships",
)


def paged_tables(session: Session, cloud_id: uuid.UUID) -> list[str]:
    """:data:`PAGED_TABLES`, with the cloud's partition of a partitioned one instead of the
    whole table (``VACUUM`` would go through every cloud's)."""
    split = [cast(Table, model.__table__) for model in (RepoMembership, RepoObject, RepoLink)]
    by_name = {table.name: table for table in split}
    return [
        partitions.table_of(session, by_name[name], cloud_id) if name in by_name else name
        for name in PAGED_TABLES
    ]


CHUNK = 4000
"""Objects rendered per transaction: what a collection waiting for the cloud's lock waits for
(about a second of rendering)."""


def unrendered(
    session: Session, cloud_id: uuid.UUID, ids: list[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """The objects of the cloud (among ``ids``, None: all) that have no current payload, by kind
    then id: one statement, an index probe of the payloads per object (none at all when the
    epoch has no payload, as after an initial collection into an empty cloud)."""
    epoch = payloads.epoch_of(session, cloud_id)
    stmt = select(RepoObject.id).where(RepoObject.cloud_id == cloud_id)
    if ids is not None:
        stmt = stmt.where(one_of(session, RepoObject.id, ids))
    if payloads.any_current(session, cloud_id, epoch):
        stmt = stmt.where(payloads.newest_rendering(cloud_id, epoch, RepoObject.id).is_(None))
    return list(session.scalars(stmt.order_by(RepoObject.kind, RepoObject.id)))


def refresh(hub: Hub, cloud_id: uuid.UUID, chunk: int = CHUNK) -> int:
    """Render and store every object of the cloud that has no current payload, then the
    projections of the renderings its tenants read (:mod:`interop_hub.rostering.projections`);
    returns how many renderings were stored.

    A sweep lists the objects without one (outside any lock), then renders them a chunk at a
    time, each chunk checked again under the cloud's lock. What a collection between two
    chunks tombstoned is found by the next sweep; it stops once a sweep finds nothing (or
    stores nothing, so that an object that cannot be rendered does not keep it going)."""
    total = 0
    while True:
        with transaction(hub.sessions) as session:
            pending = unrendered(session, cloud_id)
        swept = sum(_store_chunk(hub, cloud_id, batch) for batch in chunks(pending, chunk))
        total += swept
        if not pending or not swept:
            break
    projected = projections.refresh(hub, cloud_id)
    if total >= STORED_ANALYZE or projected >= STORED_ANALYZE:
        with write_transaction(hub.sessions) as session:  # SQLite's ANALYZE writes
            vacuum_analyze(session, *paged_tables(session, cloud_id))
    return total


def _store_chunk(hub: Hub, cloud_id: uuid.UUID, candidates: list[uuid.UUID]) -> int:
    with write_transaction(hub.sessions) as session:
        # The lock a collection takes: what is rendered here stays as it is until the commit.
        locked = session.scalar(select(Cloud.id).where(Cloud.id == cloud_id).with_for_update())
        if locked is None:  # the cloud went away
            return 0
        epoch = payloads.epoch_of(session, cloud_id)
        ids = unrendered(session, cloud_id, candidates)
        return store(session, cloud_id, epoch, ids)


def store(session: Session, cloud_id: uuid.UUID, epoch: int, ids: Sequence[uuid.UUID]) -> int:
    """Render the objects ``ids`` (ordered by kind, as :func:`unrendered` gives them: a batch of
    one kind reads only the relationships that kind shows) and store each as its current payload
    in ``epoch``, straight to bytes; returns how many were stored. The objects they show are
    read once for the call (a chunk, in its locked transaction: nothing read outlives the
    lock)."""
    refs = Refs(session, cloud_id)
    stored = 0
    for batch in chunks(ids, render.BATCH):
        fresh = render.to_render(session, cloud_id, batch, refs)
        if fresh.ids:  # rendered while the database stores those sent before
            items = ((item.id, item.raw) for item in fresh.raws)
            stored += len(payloads.write_raw(session, cloud_id, epoch, items, len(fresh.ids)))
    return stored


def refresh_quietly(hub: Hub, cloud_id: uuid.UUID) -> int:
    """:func:`refresh`, its errors logged rather than raised (the collection before it has
    already committed; the objects it did not store are served live)."""
    try:
        stored = refresh(hub, cloud_id)
    except Exception:
        log.exception("storing the renderings of cloud %s failed", cloud_id)
        return 0
    if stored:
        log.info("stored the renderings of %d object(s) of cloud %s", stored, cloud_id)
    return stored


def refresh_all(hub: Hub) -> int:
    """:func:`refresh_quietly` for every cloud (a worker starting: a pass a crash cut short);
    never raises."""
    try:
        with transaction(hub.sessions) as session:
            clouds = list(session.scalars(select(Cloud.id).order_by(Cloud.id)))
    except Exception:
        log.exception("listing the clouds whose renderings to store failed")
        return 0
    return sum(refresh_quietly(hub, cloud_id) for cloud_id in clouds)
