"""The statement of a page of a whole-cloud list, built once per shape (issue 3: latency).

A page is one statement (:func:`interop_hub.rostering.stored.with_current`), but building it
and computing its key in SQLAlchemy's compiled cache took ~0.4 ms of a ~2.8 ms page of 100
students, anew for every request. Its shape depends on little: the kind and subtype, which
subtypes the reader sees, whether a scope narrows it, whether it reads a stored projection, and
whether the page starts after a cursor or at an offset. Each shape is built once, with bound
parameters for everything else (the cloud, the tenant, the projection's key, the cursor, the
offset, the page's size), and a request only binds their values.

On PostgreSQL a page that is only stored text spliced as it is (:func:`spliced`) is made by the
database: the same statement, aggregated into the page's JSON array as one text value. Reading
a thousand rows through the driver and SQLAlchemy and splicing each in Python cost ~3 ms of CPU
of a 1,000-student page; one value costs ~0.2 ms, and the database's aggregate less than the
rows it no longer sends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    Select,
    Text,
    Uuid,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from interop_hub.kit.paging import Page, PageRequest, page_of, page_start
from interop_hub.repository.models import RepoObject
from interop_hub.rostering import queries, stored
from interop_hub.rostering.models import PayloadView
from interop_hub.scoping.models import TenantVisible

KEYS = [RepoObject.id]
CLOUD = bindparam("cloud", type_=RepoObject.cloud_id.type)
TENANT = bindparam("tenant", type_=TenantVisible.tenant_id.type)
VIEW = bindparam("view", type_=PayloadView.view.type)
AFTER = bindparam("after", type_=RepoObject.id.type)
OFFSET = bindparam("offset", type_=Integer())
LIMIT = bindparam("limit", type_=Integer())

Visible = bool | tuple[str, ...]
"""Which objects of a list the reader sees: all (True), none (False), or those of the
subtypes named."""


def listed(kind: str, subtype: str | None, visible: Visible, scoped: bool) -> Select[Any]:
    """The objects of the list (``RepoObject``, unordered) the reader sees."""
    stmt = queries.objects(CLOUD, kind, subtype)
    if visible is False:
        stmt = stmt.where(false())
    elif visible is not True:
        stmt = stmt.where(RepoObject.subtype.in_(visible))
    if scoped:
        stmt = stmt.where(
            exists().where(TenantVisible.tenant_id == TENANT, TenantVisible.object_id == KEYS[0])
        )
    return stmt


@lru_cache(maxsize=512)
def statement(
    kind: str, subtype: str | None, visible: Visible, scoped: bool, keyed: bool, after: bool
) -> Select[Any]:
    """The page's statement, by shape: ``visible`` narrows the list, ``scoped`` keeps the
    objects the tenant (``:tenant``) sees, ``keyed`` reads the projection ``:view``, ``after``
    starts after ``:after`` (otherwise at ``:offset``); ``:limit`` rows at most."""
    stmt = stored.with_current(listed(kind, subtype, visible, scoped), CLOUD, keyed).order_by(*KEYS)
    stmt = stmt.where(KEYS[0] > AFTER) if after else stmt.offset(OFFSET)
    return stored.viewed(stmt.limit(LIMIT), VIEW if keyed else None)


def rows(
    session: Session,
    cloud_id: uuid.UUID,
    kind: str,
    subtype: str | None,
    visible: Visible,
    scoped: uuid.UUID | None,
    key: str | None,
    paging: PageRequest,
) -> Page[Row[Any]]:
    """A page of the cloud's ``kind`` (and ``subtype``) as the rows of
    :func:`~interop_hub.rostering.stored.viewed`."""
    values, offset = page_start(KEYS, paging)
    stmt = statement(kind, subtype, visible, scoped is not None, key is not None, bool(values))
    params: dict[str, Any] = {"cloud": cloud_id, "limit": paging.page_size + 1}
    if values:
        params["after"] = values[0]
    else:
        params["offset"] = offset
    if scoped is not None:
        params["tenant"] = scoped
    if key is not None:
        params["view"] = key
    # Core rows: the ORM's result processing is of no use to plain columns.
    return page_of(list(session.connection().execute(stmt, params)), KEYS, paging)


@dataclass(frozen=True)
class Spliced:
    """A page of :func:`spliced`: its items' texts joined by commas (the inside of its JSON
    array), the id its next page starts after (None: it is the last), and whether every item
    was a stored text that starts a JSON object (otherwise the caller serves the page another
    way, and ``items`` and ``after`` mean nothing)."""

    items: str
    after: uuid.UUID | None
    complete: bool


@lru_cache(maxsize=256)
def spliced_statement(
    kind: str, subtype: str | None, visible: Visible, keyed: bool, after: bool
) -> Select[Any]:
    """The unscoped page of :func:`statement` (``:limit`` rows: the page's size) as one row
    (PostgreSQL only): how many of its rows have no stored text (``viewed`` when ``keyed``,
    else ``stored``) or one that does not start a JSON object, those texts joined by commas in
    id order, its last id, and whether the list goes on after it.

    No window or second cut of the list: numbering the rows (to read one more than the page,
    as :func:`rows` does) spooled every text through a ``WindowAgg``, ~0.5 ms of a 1,000-row
    page; whether the list goes on is one probe of the index after the page's last id (the
    first id after it, in order: as an ``EXISTS`` the planner may scan the table instead, and
    after the last page, where nothing follows, read all of it). That id is the greatest of
    the page's ids as text in the "C" collation, the order of the uuids themselves (PostgreSQL
    15 has no ``max(uuid)``): 32 lowercase hex digits, the hyphens at the same places in
    all."""
    cut = statement(kind, subtype, visible, False, keyed, after).subquery("cut")
    item = cut.c.viewed if keyed else cut.c.stored
    unsure = item.is_(None) | (func.left(item, 1) != "{")
    last = func.max(cast(cut.c.id, Text).collate("C"))
    later = (
        listed(kind, subtype, visible, False)
        .where(KEYS[0] > cast(last, Uuid))
        .with_only_columns(KEYS[0])
        .order_by(KEYS[0])
        .limit(1)
    )
    return select(
        func.count().filter(unsure).label("unsure"),
        func.string_agg(item, aggregate_order_by(literal(","), cut.c.id)).label("items"),
        last.label("last"),
        later.scalar_subquery().is_not(None).label("more"),
    )


def spliced(
    session: Session,
    cloud_id: uuid.UUID,
    kind: str,
    subtype: str | None,
    visible: Visible,
    key: str | None,
    paging: PageRequest,
) -> Spliced:
    """A page of the cloud's ``kind`` (and ``subtype``) for an unscoped reader that is served
    each object's stored text as it is: the projection ``key`` (:func:`rows` reads the same
    objects and texts), else the current rendering. PostgreSQL only."""
    values, offset = page_start(KEYS, paging)
    stmt = spliced_statement(kind, subtype, visible, key is not None, bool(values))
    params: dict[str, Any] = {"cloud": cloud_id, "limit": paging.page_size}
    if values:
        params["after"] = values[0]
    else:
        params["offset"] = offset
    if key is not None:
        params["view"] = key
    unsure, items, last, more = session.connection().execute(stmt, params).one()
    after = uuid.UUID(last) if more else None
    return Spliced(items or "", after, unsure == 0)
