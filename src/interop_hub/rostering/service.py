"""Rules of the rostering query API: who may read which cloud, lists, finds and per-org lists.

A tenant's actor reads its cloud as its blueprint lets it (DESIGN §3.4): only the topics it lists
(others are empty lists and 404s), each object projected to the topic's attributes — the same
projection its data events carry, so a driver's copy built from events equals these answers. A
connector's actor reads the whole Repository.

A page is one query, the objects with their stored renderings
(:mod:`interop_hub.rostering.stored`); only objects without a current rendering are rendered
live, at a fixed number of queries whatever their number: (only for the kinds that show them)
the outgoing links, the incoming links and the memberships of all of them at once — never one
query per object.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy import Row, Select, Text, bindparam, cast, exists, false, select
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.auth.service import ACTOR_AND_TENANT, TENANTS, actor_principal
from interop_hub.auth.tokens import TokenClaims
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.errors import Forbidden, NotFound
from interop_hub.kit.gc import paused_gc
from interop_hub.kit.paging import Page, PageRequest, paginate_rows
from interop_hub.repository.models import RepoObject
from interop_hub.rostering import pages, projections, queries, stored
from interop_hub.rostering.queries import ORG, PERSON, SECTION
from interop_hub.rostering.serialize import (
    IN_RELS,
    OUT_RELS,
    SECTION_ROLES,
    ObjectRow,
    Relations,
    render,
)
from interop_hub.scoping.models import TenantScoping, TenantVisible
from interop_hub.scoping.queries import visible_among
from interop_hub.scoping.visibility import Scope, references
from interop_hub.tasks.delivery import names_any, projected
from interop_hub.tasks.projection import TenantView
from interop_hub.tenants.models import Tenant

OrgList = Literal["students", "teachers", "courses", "sections", "terms"]

NOT_FOUND = {
    queries.ORG: "No such Org.",
    queries.PERSON: "No such Person.",
    queries.COURSE: "No such Course.",
    queries.SECTION: "No such Section.",
    queries.TERM: "No such Term.",
}


@dataclass(frozen=True)
class Reader:
    """Whose Repository is read, and through which tenant's view (None: all of it)."""

    cloud_id: uuid.UUID
    view: TenantView | None = None
    scoped: uuid.UUID | None = None
    """The tenant, when scoping narrows what it sees (DESIGN §3.6)."""

    def sees(self, kind: str, subtype: str | None) -> bool:
        return self.view is None or self.view.topic(kind, subtype) is not None

    def within(self, stmt: Select[Any]) -> Select[Any]:
        """Narrow a list of objects to the tenant's scope."""
        if self.scoped is None:
            return stmt
        return stmt.where(
            exists().where(
                TenantVisible.tenant_id == self.scoped, TenantVisible.object_id == RepoObject.id
            )
        )

    def filter(self, session: Session, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The bodies without references to objects outside the tenant's scope."""
        if self.scoped is None or not bodies:
            return bodies
        referenced = {ref for body in bodies for ref in references(body)}
        ids = {i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in referenced}
        scope = Scope(visible_among(session, self.scoped, ids))
        return [scope.filter(body) for body in bodies]

    def subtypes(self, kind: str) -> list[str] | None:
        """The subtypes of ``kind`` the reader sees (None: all)."""
        if self.view is None:
            return None
        found = self.view.subtypes(kind)
        return None if found is None else [s for s in found if s is not None]

    def project(self, kind: str, subtype: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if self.view is None:
            return body
        projected = self.view.project(kind, subtype, body)
        assert projected is not None  # the queries return only objects the reader sees
        return projected[1]

    def view_key(self, kind: str, subtype: str | None) -> str | None:
        """The stored projection (:mod:`interop_hub.rostering.projections`) that serves every
        object of a list of ``kind`` (and ``subtype``) as the reader sees it; None when the
        reader sees the bodies whole, or its topics of the kind project them differently."""
        if self.view is None:
            return None
        if subtype is not None:
            topic = self.view.topic(kind, subtype)
            return None if topic is None else projections.view_key(topic, kind)
        keys = {projections.view_key(t, k) for (k, _), t in self.view.objects.items() if k == kind}
        return keys.pop() if len(keys) == 1 else None

    def whole_but(self, kind: str, subtype: str | None) -> frozenset[str] | None:
        """The roll-ups the reader's topics of a list of ``kind`` (and ``subtype``) drop when
        they keep every other key of a body (:meth:`Topic.dropped`): a stored rendering that
        names none of them is served as it is (:meth:`shape`). None when some topic keeps only
        the attributes it lists, or the reader sees every body whole (no view)."""
        if self.view is None:
            return None
        if subtype is not None:
            topic = self.view.topic(kind, subtype)
            topics = [] if topic is None else [topic]
        else:
            topics = [t for (k, _), t in self.view.objects.items() if k == kind]
        dropped = frozenset[str]()
        for topic in topics:
            found = topic.dropped()
            if found is None:
                return None
            dropped |= found
        return dropped

    def shape(self, kind: str, subtype: str | None, text: str) -> orjson.Fragment | dict[str, Any]:
        """A stored rendering (JSON text) as the unscoped reader sees it: the text itself
        when the projection keeps it whole (:func:`interop_hub.tasks.delivery.projected`
        decides as a poll does), the projected dict otherwise."""
        if self.view is None:
            return orjson.Fragment(text)
        topic = self.view.topic(kind, subtype)
        assert topic is not None  # the queries return only objects the reader sees
        shaped: orjson.Fragment | dict[str, Any] = projected(topic, text)
        return shaped


def reader_of(session: Session, principal: Principal) -> Reader:
    """The cloud whose Repository the caller reads: only an installed actor has one."""
    cloud_id = _actor_cloud(principal)
    if principal.tenant_id is None:
        return Reader(cloud_id)
    found = session.execute(_TENANT_READER, {"tenant": principal.tenant_id}).first()
    if found is None:
        raise NotFound("The tenant of these credentials no longer exists.")
    blueprint, scoped = found
    view = projections.view_of(blueprint)
    return Reader(cloud_id, view, principal.tenant_id if scoped else None)


def actor_reader(session: Session, claims: TokenClaims) -> tuple[Principal, Reader]:
    """The principal of an actor's token and what it reads: :func:`principal_for_claims`
    then :func:`reader_of`, in one round trip (every page of a driver runs it)."""
    # Core execution: the ORM's handling of a statement of plain columns is of no use here
    row = session.connection().execute(_ACTOR_READER, {"actor": claims.ident}).first()
    principal = actor_principal(claims, row)
    cloud_id = _actor_cloud(principal)
    if row is None or principal.tenant_id is None:
        return principal, Reader(cloud_id)
    blueprint, scoped = row[4], row[5]
    view = projections.view_of(blueprint)
    return principal, Reader(cloud_id, view, principal.tenant_id if scoped else None)


def _actor_cloud(principal: Principal) -> uuid.UUID:
    if principal.kind != "actor" or principal.cloud_id is None:
        raise Forbidden(
            "The Data API is called with an installed actor's credentials (a token for the "
            "client id and secret of a tenant or connector), not with an account's.",
            code="actor_required",
        )
    return principal.cloud_id


# Any school or course selected: scoping narrows what it sees (see ``Selection``).
_SCOPED = exists().where(TenantScoping.tenant_id == Tenant.id)
_TENANT_READER = (
    select(cast(IntegrationVersion.blueprint, Text), _SCOPED)
    .join_from(Tenant, IntegrationVersion, IntegrationVersion.id == Tenant.version_id)
    .where(Tenant.id == bindparam("tenant", type_=Tenant.id.type))
)
"""A tenant's blueprint (as stored text) and whether it is scoped, in one round trip."""
_ACTOR_READER = ACTOR_AND_TENANT.add_columns(
    cast(IntegrationVersion.blueprint, Text),
    exists().where(TenantScoping.tenant_id == TENANTS.c.id),
).outerjoin(IntegrationVersion, IntegrationVersion.id == TENANTS.c.version_id)
""":data:`~interop_hub.auth.service.ACTOR_AND_TENANT`, with the tenant's blueprint and whether
it is scoped."""


@paused_gc()
def render_all(
    session: Session,
    cloud_id: uuid.UUID,
    objects: Sequence[ObjectRow],
    refs: queries.Refs | None = None,
) -> list[dict[str, Any]]:
    """The JSON of ``objects`` with their relationships, loaded for all of them at once (the
    objects they refer to through ``refs``, when one is kept across calls)."""
    relations = relations_of(session, cloud_id, objects, refs)
    return [render(obj, relations) for obj in objects]


@paused_gc()
def relations_of(
    session: Session,
    cloud_id: uuid.UUID,
    objects: Sequence[ObjectRow],
    refs: queries.Refs | None = None,
) -> Relations:
    """What the JSON of ``objects`` shows of others, loaded for all of them at once: then
    :func:`render` each (no query)."""
    page = refs is None and bool(objects)  # a page reads its references in one query
    refs = refs or queries.Refs(session, cloud_id)
    ids = [obj.id for obj in objects]
    kinds = {obj.kind for obj in objects}
    out_rels = {rel for kind in kinds for rel in OUT_RELS.get(kind, ())}
    in_rels = {rel for kind in kinds for rel in IN_RELS.get(kind, ())}
    members: list[queries.Member] = []
    if PERSON in kinds:
        members += queries.memberships(session, cloud_id, _ids(objects, PERSON), "person")
    if SECTION in kinds:
        members += queries.memberships(
            session, cloud_id, _ids(objects, SECTION), "section", SECTION_ROLES
        )
    out = queries.links_from(session, ids, out_rels)
    into = queries.links_to(session, ids, in_rels)
    refs.load((row.id for rows in (out, into, members) for row in rows), always=page)
    return Relations.of(out, into, members, refs)


def _ids(objects: Sequence[ObjectRow], kind: str) -> list[uuid.UUID]:
    return [obj.id for obj in objects if obj.kind == kind]


def _page(
    session: Session,
    reader: Reader,
    stmt: Select[Any],
    paging: PageRequest,
    kind: str,
    subtype: str | None,
) -> Page[Any]:
    """A page of ``stmt`` (a list of ``RepoObject``) as :func:`_items` makes it."""
    key = reader.view_key(kind, subtype)
    stmt = stored.with_current(reader.within(stmt), reader.cloud_id, key is not None)
    page = paginate_rows(
        session, stmt, [RepoObject.id], paging, wrap=lambda cut: stored.viewed(cut, key)
    )
    return _items(session, reader, page)


def _items(session: Session, reader: Reader, page: Page[Row[Any]]) -> Page[Any]:
    """A page's items, each the object's JSON as the reader sees it: its stored rendering or
    the projection of it stored for the reader's topic spliced as it is (an
    :class:`orjson.Fragment`) where the reader sees that whole, a dict otherwise (see
    :mod:`interop_hub.rostering.stored`)."""
    rows = page.items
    found = stored.texts(session, rows)
    unstored = [row.id for row, pair in zip(rows, found, strict=True) if pair == (None, None)]
    live = _rendered(session, reader.cloud_id, unstored)
    items: list[Any] = [None] * len(rows)
    pending: list[tuple[int, Row[Any], dict[str, Any]]] = []  # to filter by scope, project
    for index, (row, (viewed, text)) in enumerate(zip(rows, found, strict=True)):
        if viewed is not None and reader.scoped is None:
            items[index] = orjson.Fragment(viewed)
        elif viewed is not None:  # projecting it again is harmless: it keeps what it has
            pending.append((index, row, stored.parsed(viewed)))
        elif text is not None and reader.scoped is None:
            items[index] = reader.shape(row.kind, row.subtype, text)
        elif text is not None:
            pending.append((index, row, stored.parsed(text)))
        elif (body := live.get(row.id)) is not None:  # else deleted since the page was read
            pending.append((index, row, body))
    bodies = reader.filter(session, [body for _, _, body in pending])
    for (index, row, _), body in zip(pending, bodies, strict=True):
        items[index] = reader.project(row.kind, row.subtype, body)
    return Page(items=[item for item in items if item is not None], next=page.next)


def _rendered(
    session: Session, cloud_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The JSON of the objects ``ids`` (of a page: no rendering of them is stored), rendered."""
    rows = stored.live_rows(session, cloud_id, ids)
    return dict(zip([row.id for row in rows], render_all(session, cloud_id, rows), strict=True))


def plain(page: Page[Any]) -> Page[dict[str, Any]]:
    """A page whose items are all dicts (the spliced renderings parsed)."""
    items = [
        orjson.loads(orjson.dumps(item)) if isinstance(item, orjson.Fragment) else item
        for item in page.items
    ]
    return Page(items=items, next=page.next)


def _visible_of(reader: Reader, kind: str, subtype: str | None) -> pages.Visible:
    """Which objects of a list of ``kind`` (and ``subtype``) the reader sees."""
    if subtype is not None or kind not in queries.SUBTYPED:
        return reader.sees(kind, subtype)
    subtypes = reader.subtypes(kind)
    return True if subtypes is None else tuple(subtypes)


def _visible(reader: Reader, stmt: Select[Any], kind: str, subtype: str | None) -> Select[Any]:
    """Narrow a list of ``kind`` (and ``subtype``) to what the reader sees."""
    visible = _visible_of(reader, kind, subtype)
    if visible is True:
        return stmt
    return stmt.where(false()) if visible is False else stmt.where(RepoObject.subtype.in_(visible))


def list_page(
    session: Session,
    reader: Reader,
    paging: PageRequest,
    kind: str,
    subtype: str | None = None,
) -> Page[Any]:
    """A page of a list (items as :func:`_items` makes them, for the response's JSON), by a
    statement built once for its shape (:mod:`interop_hub.rostering.pages`)."""
    visible = _visible_of(reader, kind, subtype)
    key = reader.view_key(kind, subtype)
    found = pages.rows(session, reader.cloud_id, kind, subtype, visible, reader.scoped, key, paging)
    return _items(session, reader, found)


def page_json(page: Page[Any]) -> bytes:
    """A page of a list as the response's JSON (stored texts spliced as they are)."""
    return orjson.dumps(
        {"data": page.items, "paging": {"next": page.next}}, option=orjson.OPT_UTC_Z
    )


def list_json(
    session: Session,
    reader: Reader,
    paging: PageRequest,
    kind: str,
    subtype: str | None = None,
) -> bytes:
    """:func:`page_json` of :func:`list_page`, byte for byte. An unscoped reader's page that is
    all stored text served as it is (the projections of its topic, or the renderings it sees
    whole) reads only the rows' ids and texts (:func:`pages.spliced`); a page with anything else
    (an object without a stored text, a rendering its topic must project) is then served as
    :func:`list_page` makes it, from a statement of its own."""
    if reader.scoped is None:
        key = reader.view_key(kind, subtype)
        guarded = frozenset[str]() if key is not None else _guarded(reader, kind, subtype)
        if guarded is not None:
            visible = _visible_of(reader, kind, subtype)
            found = pages.spliced(session, reader.cloud_id, kind, subtype, visible, key, paging)
            texts = found.texts
            if texts is not None and not (guarded and _named(guarded, texts)):
                link = None if found.after is None else paging.next_link([found.after])
                return page_json(Page(items=[orjson.Fragment(t) for t in texts], next=link))
    return page_json(list_page(session, reader, paging, kind, subtype))


def _guarded(reader: Reader, kind: str, subtype: str | None) -> frozenset[str] | None:
    """The roll-ups a stored rendering must not name to be served as it is to a reader without
    a stored projection of the list (:meth:`Reader.whole_but`; none for a reader without a
    view); None when its renderings are parsed and projected."""
    return frozenset() if reader.view is None else reader.whole_but(kind, subtype)


def _named(keys: frozenset[str], texts: list[str]) -> bool:
    """Whether any of ``texts`` names one of ``keys``: the test
    :func:`interop_hub.tasks.delivery.projected` makes of each body before serving it as it
    is."""
    return any(names_any(keys, text) for text in texts)


def list_objects(
    session: Session,
    reader: Reader,
    paging: PageRequest,
    kind: str,
    subtype: str | None = None,
) -> Page[dict[str, Any]]:
    return plain(list_page(session, reader, paging, kind, subtype))


def _find(
    session: Session, reader: Reader, kind: str, object_id: uuid.UUID, subtype: str | None
) -> RepoObject:
    found = queries.find(session, reader.cloud_id, kind, object_id, subtype)
    scoped = reader.scoped
    if found is not None and scoped is not None and not visible_among(session, scoped, [found.id]):
        found = None  # outside the tenant's scope
    if found is None or not reader.sees(found.kind, found.subtype):
        message = "No such LEA." if subtype == "lea" else NOT_FOUND.get(kind, "No such object.")
        raise NotFound(message)
    return found


def find_object(
    session: Session,
    reader: Reader,
    kind: str,
    object_id: uuid.UUID,
    subtype: str | None = None,
) -> dict[str, Any]:
    found = _find(session, reader, kind, object_id, subtype)
    body = reader.filter(session, render_all(session, reader.cloud_id, [found]))[0]
    return reader.project(found.kind, found.subtype, body)


def _cursor_id(paging: PageRequest) -> uuid.UUID | None:
    """The id the page starts after, when the cursor is a well-formed one (otherwise
    :func:`paginate` refuses it)."""
    if paging.cursor is None or len(paging.cursor) != 1:
        return None
    try:
        return uuid.UUID(str(paging.cursor[0]))
    except ValueError:
        return None


ORG_LISTS: dict[str, tuple[str, str | None]] = {
    "students": (PERSON, "student"),
    "teachers": (PERSON, "teacher"),
    "courses": (queries.COURSE, None),
    "sections": (SECTION, None),
    "terms": (queries.TERM, None),
}


def list_of_org(
    session: Session, reader: Reader, org_id: uuid.UUID, what: OrgList, paging: PageRequest
) -> Page[Any]:
    """A per-org list: what belongs to the org or to one of its direct children (so an LEA
    lists its schools' students, courses, ...)."""
    org = _find(session, reader, ORG, org_id, None)
    scope = queries.org_scope(session, org)
    after = _cursor_id(paging)
    cloud_id = reader.cloud_id
    stmt: Select[Any]
    if what == "students":
        stmt = queries.persons_of(cloud_id, "student", scope, after)
    elif what == "teachers":
        stmt = queries.persons_of(cloud_id, "teacher", scope, after)
    elif what == "courses":
        stmt = queries.courses_of(cloud_id, scope, after)
    elif what == "sections":
        stmt = queries.sections_of(cloud_id, scope, after)
    elif org.subtype == "lea":
        stmt = queries.objects(cloud_id, queries.TERM)  # an LEA's terms are all of the cloud's
    else:
        stmt = queries.terms_of(cloud_id, scope)
    kind, subtype = ORG_LISTS[what]
    return _page(session, reader, _visible(reader, stmt, kind, subtype), paging, kind, subtype)
