"""Pages of the query API served from the stored renderings (issue 3: paging and latency).

The objects of a cloud are stored rendered as they are now (the current payloads of
:mod:`interop_hub.tasks.payloads`): a collection that tenants receive stores what it rendered
for them; one that nobody receives renders nothing but writes a tombstone (a NULL body) over
each payload that its change outdated, and the renderings are stored after it commits, a chunk
at a time under the cloud's lock (:mod:`interop_hub.tasks.renderings`). A page is then one
statement: the keyset page of ``repo_objects`` with, for each object, its newest payload in its
cloud's current ``render_epoch`` (its text, or its id and its stored projection) — one
statement, so the page and the renderings come from the same snapshot and a rendering is never
older than the object it stands for (a payload read by its id later is the same: payloads never
change).

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
from sqlalchemy import ColumnElement, Row, Select, Text, cast, select
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
    stmt: Select[Any], cloud_id: uuid.UUID | ColumnElement[Any], keyed: bool = False
) -> Select[Any]:
    """``stmt`` (a list of ``RepoObject``) as rows of the object's id, kind, subtype and its
    current payload: its text (``stored``), or, ``keyed`` (the reader reads a stored
    projection), its id (``current_id``; see :func:`viewed`). The cloud may be a bound parameter.

    The payload is the newest of the object in the cloud's epoch: one probe of the index
    ``(cloud_id, epoch, object_id, id)`` per object of the page, read backwards. A tombstone's
    SQL NULL body casts to NULL (None): the object is rendered live, never from an older
    payload behind the tombstone."""
    epoch = select(Cloud.render_epoch).where(Cloud.id == cloud_id).scalar_subquery()
    if keyed:
        newest = payloads.newest_payload(cloud_id, epoch, RepoObject.id, TaskPayload.id)
        return stmt.with_only_columns(*PAGE_COLUMNS, newest.label("current_id"))
    text = cast(TaskPayload.body, Text)
    newest = payloads.newest_payload(cloud_id, epoch, RepoObject.id, text)
    return stmt.with_only_columns(*PAGE_COLUMNS, newest.label("stored"))


def viewed(page: Select[Any], key: str | ColumnElement[Any] | None) -> Select[Any]:
    """A page of :func:`with_current` (ordered and limited), with, when the reader reads the
    projection ``key`` (:mod:`interop_hub.rostering.projections`), the text of the current
    payload's projection (``viewed``, None when none is stored).

    The projection is looked up once the page is cut: one probe of the projections' primary
    key per row of the page, as a scalar subquery, so the planner has no join to choose (as a
    join of the whole list it could prefer hashing every stored projection of the cloud)."""
    if key is None:
        return page
    cut = page.subquery("page")
    projection = (
        select(PayloadView.body)
        .where(PayloadView.payload_id == cut.c.current_id, PayloadView.view == key)
        .scalar_subquery()
    )
    columns = (cut.c.id, cut.c.kind, cut.c.subtype, cut.c.current_id, projection.label("viewed"))
    return select(*columns).order_by(cut.c.id)


def texts(session: Session, rows: Sequence[Row[Any]]) -> list[tuple[str | None, str | None]]:
    """What is stored of each row of a page of :func:`viewed`: ``(viewed, None)``, the text of
    its current rendering as the reader's topic projects it, or else ``(None, stored)``, the
    text of its current rendering (None: it has none; it is rendered live). The current
    payloads of rows without a projection are read by id (a payload never changes, so reading
    it after the page gives what the page's statement would have)."""
    if not rows or "current_id" not in rows[0]._fields:
        return [(None, row.stored) for row in rows]
    pairs = [(row.current_id, row.viewed) for row in rows]
    found = payload_texts(session, [c for c, v in pairs if v is None and c is not None])
    return [(viewed, None) if viewed is not None else (None, found.get(c)) for c, viewed in pairs]


def payload_texts(session: Session, ids: Sequence[int]) -> dict[int, str | None]:
    """The text of the payloads ``ids`` (None for a tombstone)."""
    if not ids:
        return {}
    stmt = select(TaskPayload.id, cast(TaskPayload.body, Text)).where(
        one_of(session, TaskPayload.id, list(ids))
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


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
