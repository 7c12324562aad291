"""Task payloads: each object version rendered once, shared by every tenant's tasks about it.

See :class:`interop_hub.tasks.models.TaskPayload`. Writing many payloads reserves their ids
first (``COPY`` returns none), then streams their JSON bytes in bulk.

A payload with a NULL body is a *tombstone*: newest in its epoch, it says that the object has no
current rendering (a collection nobody receives changed it without rendering it; see
:func:`tombstone`). Nothing treats a tombstone as a rendering: :func:`current` and
:func:`newest_rendering` skip the object, so no task ever refers to one.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any, cast

from sqlalchemy import (
    Table,
    Text,
    and_,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased

from interop_hub.clouds.models import Cloud
from interop_hub.kit.bulk import NULL, chunks, copy_text
from interop_hub.kit.db import is_postgresql, one_of, uuid_array
from interop_hub.tasks.models import Task, TaskPayload

payloads_t = cast(Table, TaskPayload.__table__)


def epoch_of(session: Session, cloud_id: uuid.UUID) -> int:
    return int(session.scalar(select(Cloud.render_epoch).where(Cloud.id == cloud_id)) or 0)


def forget_renderings(session: Session, cloud_id: uuid.UUID) -> None:
    """No payload of the cloud stands for an object as it is now any longer: for a change of
    the Repository that neither rendered what it changed nor tombstoned what it outdated
    (collections do one or the other; see :mod:`interop_hub.tasks.fanout`). Readers then render
    live until :func:`interop_hub.tasks.renderings.refresh` stores the renderings again."""
    session.execute(
        update(Cloud)
        .where(Cloud.id == cloud_id)
        .values(render_epoch=Cloud.render_epoch + 1)
        .execution_options(synchronize_session=False)
    )


def reserve_ids(session: Session, count: int) -> list[int]:
    """``count`` new payload ids, ascending (the caller holds the write lock on SQLite).

    On PostgreSQL each is a ``nextval`` of the table's sequence, as a default would draw it, so
    concurrent writers never collide; they are answered as runs of consecutive ids (usually
    one ``(first, last)`` row for the whole batch) rather than a row per id. The sequence is
    looked up once (a sub-select): as ``nextval``'s argument it was looked up for every id."""
    if count == 0:
        return []
    if is_postgresql(session):
        runs = session.execute(
            text(
                "SELECT min(id), max(id) FROM ("
                " SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM ("
                "  SELECT nextval((SELECT pg_get_serial_sequence('task_payloads', 'id'))) AS id"
                "  FROM generate_series(1, :n)) AS drawn) AS numbered "
                "GROUP BY run ORDER BY 1"
            ),
            {"n": count},
        )
        return [i for first, last in runs for i in range(first, last + 1)]
    last = int(session.scalar(select(func.max(TaskPayload.id))) or 0)
    return list(range(last + 1, last + 1 + count))


def write_raw(
    session: Session,
    cloud_id: uuid.UUID | None,
    epoch: int | None,
    items: Iterable[tuple[uuid.UUID | None, bytes | None]],
    count: int | None = None,
) -> list[int]:
    """Store payloads given as (object id or None, JSON bytes or None for a tombstone); returns
    their ids in order.

    The bytes are stored as they are (the JSON column's text), so what a tenant receives is
    what was rendered, without a round trip through Python values. Given their ``count``,
    ``items`` may be a generator that renders them (and runs no query): on PostgreSQL they are
    then rendered while the database stores those sent before."""
    if count is None:
        items = list(items)
        count = len(items)
    ids = reserve_ids(session, count)
    pairs = zip(ids, items, strict=True)
    if is_postgresql(session):
        cloud = NULL if cloud_id is None else str(cloud_id)
        era = NULL if epoch is None else str(epoch)
        copy_text(
            session,
            payloads_t,
            ["id", "cloud_id", "object_id", "epoch", "body"],
            (
                b"%d\t%s\t%s\t%s\t%s\n"
                % (
                    payload_id,
                    cloud.encode(),
                    (NULL if object_id is None else str(object_id)).encode(),
                    era.encode(),
                    NULL_BYTES if raw is None else raw.replace(b"\\", b"\\\\"),
                )  # JSON text has no tabs or line breaks
                for payload_id, (object_id, raw) in pairs
            ),
        )
    else:
        rows = (
            {
                "id": i,
                "cloud_id": cloud_id,
                "object_id": o,
                "epoch": epoch,
                "body": None if raw is None else raw.decode(),  # SQL NULL, not JSON null
            }
            for i, (o, raw) in pairs
        )
        for batch in chunks(rows):
            session.execute(insert(_as_text), batch)
    return ids


NULL_BYTES = NULL.encode()

_as_text = table(
    payloads_t.name,
    *(column(c.name, Text() if c.name == "body" else c.type) for c in payloads_t.c),
)
"""The payloads table with its JSON column seen as text: JSON bytes are inserted as they are."""


def any_current(session: Session, cloud_id: uuid.UUID, epoch: int) -> bool:
    """Whether any payload of the cloud stands for an object as it is now (tombstones
    included: False means no object has a current payload, so none needs to be looked up)."""
    return bool(
        session.scalar(
            select(exists().where(TaskPayload.cloud_id == cloud_id, TaskPayload.epoch == epoch))
        )
    )


def current(
    session: Session, cloud_id: uuid.UUID, epoch: int, object_ids: Collection[uuid.UUID] | None
) -> dict[uuid.UUID, int]:
    """The payload that renders each object as it is now (None: every object of the cloud).

    An object whose newest payload is a tombstone has none (nor has it one behind it)."""
    newest = (
        select(TaskPayload.object_id, func.max(TaskPayload.id).label("id"))
        .where(
            TaskPayload.cloud_id == cloud_id,
            TaskPayload.epoch == epoch,
            TaskPayload.object_id.is_not(None),
        )
        .group_by(TaskPayload.object_id)
    )
    batches = (
        [newest]
        if object_ids is None
        else [
            newest.where(one_of(session, TaskPayload.object_id, batch))
            for batch in chunks(list(object_ids))
        ]
    )
    found: dict[uuid.UUID, int] = {}
    for query in batches:
        chosen = query.subquery()
        body = aliased(TaskPayload)
        rows = session.execute(
            select(chosen.c.object_id, chosen.c.id)
            .join(body, body.id == chosen.c.id)
            .where(body.body.is_not(None))
        )
        for object_id, payload_id in rows:
            if object_id is not None:
                found[object_id] = payload_id
    return found


def newest_payload(cloud_id: uuid.UUID | Any, epoch: Any, owner: Any, value: Any) -> Any:
    """``value`` (an expression of ``TaskPayload``) of the newest payload in the cloud (an id or
    a bound parameter) of ``owner`` (a
    correlated column) in ``epoch`` (a number or a scalar subquery), as a scalar subquery: one
    backward probe of the index ``(cloud_id, epoch, object_id, id)``, then the row."""
    return (
        select(value)
        .where(
            TaskPayload.cloud_id == cloud_id,
            TaskPayload.epoch == epoch,
            TaskPayload.object_id == owner,
        )
        .order_by(TaskPayload.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def newest_rendering(cloud_id: uuid.UUID, epoch: int, owner: Any) -> Any:
    """The current payload of ``owner`` (a correlated column) as a scalar subquery: the id of
    its newest payload in the epoch, NULL when that is a tombstone."""
    current_id = case((TaskPayload.body.is_not(None), TaskPayload.id))
    return newest_payload(cloud_id, epoch, owner, current_id)


def tombstone(
    session: Session, cloud_id: uuid.UUID, epoch: int, object_ids: Collection[uuid.UUID]
) -> int:
    """Leave none of ``object_ids`` (objects or memberships) with a current payload: a
    tombstone for each that has one; returns how many were written.

    For a change of the Repository that nothing rendered: those payloads no longer render
    their object as it is. Nothing is looked up when the epoch has no payload at all (an
    initial collection into an empty cloud)."""
    if not object_ids or not any_current(session, cloud_id, epoch):
        return 0
    if is_postgresql(session):
        return _tombstone_in_place(session, cloud_id, epoch, list(object_ids))
    stale = current(session, cloud_id, epoch, object_ids)
    if not stale:
        return 0
    return len(write_raw(session, cloud_id, epoch, [(i, None) for i in sorted(stale)]))


_TOMBSTONE = text(
    "INSERT INTO task_payloads (id, cloud_id, object_id, epoch, body) "
    "SELECT nextval((SELECT pg_get_serial_sequence('task_payloads', 'id'))), :cloud, o.id, "
    ":epoch, NULL "
    "FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS o(id, n) "
    "WHERE (SELECT p.body IS NOT NULL FROM task_payloads AS p "
    "       WHERE p.cloud_id = :cloud AND p.epoch = :epoch AND p.object_id = o.id "
    "       ORDER BY p.id DESC LIMIT 1) "
    "ORDER BY o.n"
)
"""A tombstone for each of ``ids`` whose newest payload of the epoch has a body: one backward
probe of ``ix_task_payloads_current`` per id, all in the server (a nightly touches ~11,000).
The sequence is looked up once, as in :func:`reserve_ids` (as ``nextval``'s argument, it was
looked up for every row: 0.29 s of a nightly's 0.36 s here)."""


def _tombstone_in_place(
    session: Session, cloud_id: uuid.UUID, epoch: int, object_ids: list[uuid.UUID]
) -> int:
    written = 0
    for batch in chunks(object_ids, 50_000):
        ids = uuid_array(batch)
        result = session.execute(_TOMBSTONE, {"cloud": cloud_id, "epoch": epoch, "ids": ids})
        written += int(result.rowcount)  # type: ignore[attr-defined]
    return written


def bodies(session: Session, payload_ids: Collection[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for batch in chunks(list(payload_ids)):
        found.update(
            session.execute(
                select(TaskPayload.id, TaskPayload.body).where(
                    one_of(session, TaskPayload.id, batch)
                )
            ).all()
        )
    return found


def prune(session: Session) -> int:
    """Drop payloads no task refers to that no longer render an object as it is now (of an
    earlier epoch, superseded by a newer one, or not an object's); returns how many went.
    The last payload of a deleted object stays until its cloud's epoch moves on; so does a
    tombstone while it is the newest of its object and an older one remains (a task refers to
    it): it keeps that one from standing for the object again. One with nothing behind it goes
    (the next prune, when what was behind it went in this one)."""
    referenced = (
        select(Task.payload_id)
        .where(Task.payload_id.is_not(None))
        .union(select(Task.prior_payload_id).where(Task.prior_payload_id.is_not(None)))
    )
    newer = aliased(TaskPayload)
    stale = or_(
        TaskPayload.epoch.is_(None),
        TaskPayload.epoch
        < select(Cloud.render_epoch).where(Cloud.id == TaskPayload.cloud_id).scalar_subquery(),
        exists().where(
            newer.cloud_id == TaskPayload.cloud_id,
            newer.epoch == TaskPayload.epoch,
            newer.object_id == TaskPayload.object_id,
            newer.id > TaskPayload.id,
        ),
        and_(  # a tombstone with nothing behind it to hide
            TaskPayload.body.is_(None),
            ~exists().where(
                newer.cloud_id == TaskPayload.cloud_id,
                newer.epoch == TaskPayload.epoch,
                newer.object_id == TaskPayload.object_id,
                newer.id < TaskPayload.id,
            ),
        ),
    )
    result = session.execute(
        delete(TaskPayload)
        .where(TaskPayload.id.not_in(referenced), stale)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
