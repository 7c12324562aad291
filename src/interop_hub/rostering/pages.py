"""The statement of a page of a whole-cloud list, built once per shape (issue 3: latency).

A page is one statement (:func:`interop_hub.rostering.stored.with_current`), but building it
and computing its key in SQLAlchemy's compiled cache took ~0.4 ms of a ~2.8 ms page of 100
students, anew for every request. Its shape depends on little: the kind and subtype, which
subtypes the reader sees, whether a scope narrows it, whether it reads a stored projection, and
whether the page starts after a cursor or at an offset. Each shape is built once, with bound
parameters for everything else (the cloud, the tenant, the projection's key, the cursor, the
offset, the page's size), and a request only binds their values.

A page of an unscoped reader that is served each object's stored text as it is (its topic's
stored projection, or the renderings it sees whole) reads only the id and the text of each row
(:func:`spliced`): the driver and SQLAlchemy spent more than a third of the CPU of a page of
1,000 projections on the columns the other readers need.
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
    bindparam,
    exists,
    false,
    select,
)
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
    params = _params(cloud_id, paging, scoped, key)
    after = "after" in params
    stmt = statement(kind, subtype, visible, scoped is not None, key is not None, after)
    # Core rows: the ORM's result processing is of no use to plain columns.
    return page_of(list(session.connection().execute(stmt, params)), KEYS, paging)


@dataclass(frozen=True)
class Spliced:
    """A page of :func:`spliced`: its items' stored texts, in order, and the id its next page
    starts after (None: it is the last); or, when one of them has none or one that does not
    start a JSON object, None (the caller serves the page another way)."""

    texts: list[str] | None
    after: uuid.UUID | None


@lru_cache(maxsize=256)
def spliced_statement(
    kind: str, subtype: str | None, visible: Visible, keyed: bool, after: bool
) -> Select[Any]:
    """The unscoped page of :func:`statement` as only what :func:`spliced` reads of each row:
    its id and its stored text (``viewed`` when ``keyed``, else ``stored``), in id order.

    Joining the texts in the database (``string_agg``, one row) would cost the driver less
    still, but PostgreSQL builds a large value slowly: ~1 ms more than sending the rows for
    1,000 texts of 350 bytes, ~8 ms more for 1,000 of 3 KB."""
    cut = statement(kind, subtype, visible, False, keyed, after).subquery("cut")
    item = cut.c.viewed if keyed else cut.c.stored
    return select(cut.c.id, item.label("item")).order_by(cut.c.id)


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
    objects and texts), else the current rendering."""
    params = _params(cloud_id, paging, None, key)
    stmt = spliced_statement(kind, subtype, visible, key is not None, "after" in params)
    size = paging.page_size
    found = session.connection().execute(stmt, params).all()
    texts = [row[1] for row in found[:size]]
    if None in texts or not all(text.startswith("{") for text in texts):
        return Spliced(None, None)
    return Spliced(texts, found[size - 1][0] if len(found) > size else None)


def _params(
    cloud_id: uuid.UUID, paging: PageRequest, scoped: uuid.UUID | None, key: str | None
) -> dict[str, Any]:
    """The values a page's statement binds: ``after`` (a cursor) or ``offset``, one more row
    than the page holds (is there a next page?), the tenant when scoped, the projection."""
    values, offset = page_start(KEYS, paging)
    params: dict[str, Any] = {"cloud": cloud_id, "limit": paging.page_size + 1}
    if values:
        params["after"] = values[0]
    else:
        params["offset"] = offset
    if scoped is not None:
        params["tenant"] = scoped
    if key is not None:
        params["view"] = key
    return params
