"""Pages of the query API served from the stored renderings (issue 3: paging and latency).

The objects of a cloud are stored rendered as they are now (the current payloads of
:mod:`interop_hub.tasks.payloads`): a collection that tenants receive stores what it rendered
for them; one that nobody receives renders nothing but writes a tombstone (a NULL body) over
each payload that its change outdated, and the renderings are stored after it commits, a chunk
at a time under the cloud's lock (:mod:`interop_hub.tasks.renderings`). A page is then one
statement: the keyset page of ``repo_objects`` with, for each object, the text of its newest
payload in its cloud's current ``render_epoch`` — one statement, so the page and the renderings
come from the same snapshot and a rendering is never older than the object it stands for.

How a stored text becomes an item of the page depends on the reader (:func:`shape`):

- a connector, or a tenant whose topic keeps the body as it is (``Topic.dropped``: no roll-up
  the topic drops is in the body), unscoped: the text itself, spliced into the response
  without being parsed (:class:`orjson.Fragment`);
- a tenant whose topic keeps only some attributes: the projection of the text the renderings
  pass stored for that topic (:mod:`interop_hub.rostering.projections`), spliced as it is, or
  parsed and filtered by the tenant's scope;
- otherwise (no projection stored yet) it is parsed, filtered by the tenant's scope and
  projected, as a live rendering is.

Objects without a current payload (a tombstone is the newest, none was stored since the epoch
moved on, or the Repository was written outside a collection) are rendered live; a read never
stores anything, so it can never leave behind a rendering that a concurrent collection made
stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, Select, Text, and_, case, cast, null, select
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Cloud
from interop_hub.kit.db import one_of
from interop_hub.repository.models import RepoObject
from interop_hub.rostering.models import PayloadView
from interop_hub.rostering.queries import OBJECT_COLUMNS
from interop_hub.tasks import payloads
from interop_hub.tasks.models import TaskPayload

PAGE_COLUMNS = (RepoObject.id, RepoObject.kind, RepoObject.subtype)


def with_current(
    stmt: Select[Any],
    cloud_id: uuid.UUID | ColumnElement[Any],
    key: str | ColumnElement[Any] | None = None,
) -> Select[Any]:
    """``stmt`` (a list of ``RepoObject``) as rows of the object's id, kind, subtype, ``viewed``
    and ``stored``: the text of its current payload's projection ``key``
    (:mod:`interop_hub.rostering.projections`) when one is stored, else None and the text of its
    current payload, or None for both. The cloud and the key may be bound parameters.

    The payload is the newest of the object in the cloud's epoch: one probe of the index
    ``(cloud_id, epoch, object_id, id)`` per object of the page, read backwards; its projection
    one probe of the projections' primary key, and the payload's body is read only when it has
    none. A tombstone's SQL NULL body casts to NULL (None) and has no projection: the object is
    rendered live, never from an older payload behind the tombstone."""
    epoch = select(Cloud.render_epoch).where(Cloud.id == cloud_id).scalar_subquery()
    text = cast(TaskPayload.body, Text)
    newest = payloads.newest_payload(cloud_id, epoch, RepoObject.id, text)
    if key is None:
        return stmt.with_only_columns(*PAGE_COLUMNS, null().label("viewed"), newest.label("stored"))
    newest_id = payloads.newest_payload(cloud_id, epoch, RepoObject.id, TaskPayload.id)
    on = and_(PayloadView.payload_id == newest_id, PayloadView.view == key)
    return stmt.outerjoin(PayloadView, on).with_only_columns(
        *PAGE_COLUMNS,
        PayloadView.body.label("viewed"),
        case((PayloadView.payload_id.is_(None), newest)).label("stored"),
    )


def live_rows(session: Session, cloud_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
    """What rendering the objects ``ids`` reads of them, in one query."""
    if not ids:
        return []
    return list(
        session.execute(
            select(*OBJECT_COLUMNS).where(
                one_of(session, RepoObject.id, list(ids)), RepoObject.cloud_id == cloud_id
            )
        )
    )


def parsed(stored: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(stored)
    return body
