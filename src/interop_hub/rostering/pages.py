"""The statement of a page of a whole-cloud list, built once per shape (issue 3: latency).

A page is one statement (:func:`interop_hub.rostering.stored.with_current`), but building it
and computing its key in SQLAlchemy's compiled cache took ~0.4 ms of a ~2.8 ms page of 100
students, anew for every request. Its shape depends on little: the kind and subtype, which
subtypes the reader sees, whether a scope narrows it, whether it reads a stored projection, and
whether the page starts after a cursor or at an offset. Each shape is built once, with bound
parameters for everything else (the cloud, the tenant, the projection's key, the cursor, the
offset, the page's size), and a request only binds their values.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Row, Select, bindparam, exists, false
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


@lru_cache(maxsize=512)
def statement(
    kind: str, subtype: str | None, visible: Visible, scoped: bool, keyed: bool, after: bool
) -> Select[Any]:
    """The page's statement, by shape: ``visible`` narrows the list, ``scoped`` keeps the
    objects the tenant (``:tenant``) sees, ``keyed`` reads the projection ``:view``, ``after``
    starts after ``:after`` (otherwise at ``:offset``); ``:limit`` rows at most."""
    stmt = queries.objects(CLOUD, kind, subtype)
    if visible is False:
        stmt = stmt.where(false())
    elif visible is not True:
        stmt = stmt.where(RepoObject.subtype.in_(visible))
    if scoped:
        stmt = stmt.where(
            exists().where(TenantVisible.tenant_id == TENANT, TenantVisible.object_id == KEYS[0])
        )
    stmt = stored.with_current(stmt, CLOUD, keyed).order_by(*KEYS)
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
