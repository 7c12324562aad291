"""The managed queue's hot path (#52): lease a tenant's next tasks and write them as its driver
receives them.

Leasing is one statement on PostgreSQL: a CTE takes the tenant's oldest tasks ``FOR UPDATE``,
the ``UPDATE`` leases those older than the first one that is leased or backing off — the prefix
rule: nothing newer goes out before an older task is done — and the leased rows are joined to
their payloads (as stored text) and to the app ids the tenant's app gave their objects. The
lease commits without waiting for its WAL flush (see ``_ASYNC_COMMIT``). SQLite (no ``UPDATE
... FROM``) selects the same rows with their data and updates them in a second statement.

A payload's JSON is spliced into the response as stored (:class:`orjson.Fragment`) whenever the
tenant's projection of it is provably the identity (:func:`projected`); only the other
payloads, an ``UPDATE``'s two versions (for ``changes``) and sealed data are decoded. On
PostgreSQL the leasing statement goes one step further for such a data event: it writes the
whole task's JSON itself (:func:`_whole_task`, the ``task`` column), so that the poll does no
work per task in Python but splice that text (a batch of 1,000 students is ~3 MB of JSON).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from interop_hub.integrations.blueprint import ROLLUP_ATTRIBUTES
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import is_postgresql
from interop_hub.tasks import sealed
from interop_hub.tasks.models import Task, TaskPayload, TenantAppId
from interop_hub.tasks.projection import TenantView, Topic, changed
from interop_hub.tasks.shapes import data_event_frame, task_json

tasks_t = cast(Table, Task.__table__)
payloads_t = cast(Table, TaskPayload.__table__)
app_ids_t = cast(Table, TenantAppId.__table__)

COLUMNS = (
    "id",
    "tenant_id",
    "sequence",
    "type",
    "action",
    "group_id",
    "origin",
    "object_id",
    "object_type",
    "label",
    "session_id",
    "created_at",
    "payload_id",
    "prior_payload_id",
)
"""The task columns a delivered task is written from."""
NO_CUT = 2**62  # above any sequence: no task blocks the batch


@dataclass(frozen=True, slots=True)
class Whole:
    """What the leasing statement needs to write a data event's JSON itself (PostgreSQL): the
    task's JSON around its fields in the poll's schema (``head``, ``tail``), the object types
    whose topic's projection keeps the stored body as it is (:func:`projected`), and for each
    roll-up (:data:`ROLLUPS`) those of the types that drop it: a body that names it needs a
    projection."""

    head: str
    tail: str
    types: tuple[str, ...]
    drops: tuple[tuple[str, ...], ...]  # by roll-up, as ROLLUPS

    @classmethod
    def of(cls, view: TenantView, schema: str) -> Whole:
        head, tail = data_event_frame(schema)
        seen: dict[str, frozenset[str] | None] = {}
        for topic in (*view.objects.values(), *view.memberships.values()):
            seen.setdefault(topic.object_type, topic.dropped())  # the first, as ``named``
        kept = {name: dropped for name, dropped in seen.items() if dropped is not None}
        drops = tuple(tuple(n for n, dropped in kept.items() if key in dropped) for key in ROLLUPS)
        return cls(head, tail, tuple(kept), drops)

    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = {"head": self.head, "tail": self.tail}
        found["whole_types"] = list(self.types)
        found.update((f"drop_{index}", list(types)) for index, types in enumerate(self.drops))
        return found


ROLLUPS = tuple(sorted(ROLLUP_ATTRIBUTES))
NOTHING_WHOLE = Whole("", "", (), ((),) * len(ROLLUPS))
"""No data event is written by the database (a poll whose tenant has no view)."""


def lease(
    session: Session,
    tenant_id: uuid.UUID,
    types: Iterable[tuple[str, ...] | None],
    limit: int,
    now: dt.datetime,
    until: dt.datetime,
    whole: Whole = NOTHING_WHOLE,
) -> list[Row[Any]]:
    """Lease up to ``limit`` of the tenant's oldest tasks of ``types`` (each a restriction, None:
    none) until ``until``; returns them in sequence order with ``body``, ``prior_body`` (stored
    JSON text), ``app_id`` and ``task``: on PostgreSQL, the whole task's JSON text for the data
    events ``whole`` says the database can write (their ``body`` is then None), else None. The
    caller serializes pollers of the tenant."""
    restrictions = tuple(types_ for types_ in types if types_ is not None)
    params = {"tenant": tenant_id, "limit": limit, "now": now, "until": until}
    if is_postgresql(session):
        params.update(whole.params())
        found = list(session.execute(_leasing(restrictions), params).all())
        found.sort(key=lambda row: row.sequence)  # here: the database need not sort the bodies
        if found:
            session.execute(_ASYNC_COMMIT)
        return found
    batch: list[Row[Any]] = []
    for row in session.execute(_candidates(restrictions), params):
        if row.blocked:
            break  # the queue is blocked here: nothing newer goes out before it
        batch.append(row)
    if batch:
        session.execute(_LEASE_IDS, {"ids": [row.id for row in batch], "until": until})
    return batch


# The statements are built once per shape (building one costs about a millisecond of Python,
# as much as running it); the values are bound at each execution.


@cache
def _candidates(restrictions: tuple[tuple[str, ...], ...]) -> Select[Any]:
    """The tenant's oldest ``:limit`` tasks of the types of every restriction, with their data
    and whether each blocks the queue at ``:now``."""
    queue = _queue(restrictions).subquery("queue")
    return _with_data(queue, queue.c.blocked).order_by(queue.c.sequence)


def _queue(restrictions: tuple[tuple[str, ...], ...]) -> Select[Any]:
    """The tenant's oldest ``:limit`` tasks of the types of every restriction, and whether each
    blocks the queue at ``:now``."""
    now = bindparam("now", type_=tasks_t.c.leased_until.type)
    blocked = or_(tasks_t.c.leased_until > now, tasks_t.c.available_at > now)
    stmt = select(*(tasks_t.c[name] for name in COLUMNS), blocked.label("blocked")).where(
        tasks_t.c.tenant_id == bindparam("tenant", type_=tasks_t.c.tenant_id.type)
    )
    for restriction in restrictions:
        stmt = stmt.where(tasks_t.c.type.in_(restriction))
    # The limit is written into the SQL: as a parameter, a generic plan of the prepared statement
    # (psycopg prepares a statement run five times) expects 10% of the table and leases by a
    # sequential scan and a hash join of the whole queue, ~95 ms instead of ~2 ms per batch.
    limit = bindparam("limit", type_=Integer, literal_execute=True)
    return stmt.order_by(tasks_t.c.sequence).limit(limit)


def _with_data(tasks: Any, *more: Any, detoasted: bool = False) -> Select[Any]:
    """``tasks`` (a subquery or CTE of task columns) with their payloads as stored text and the
    app ids of their objects (and ``more`` columns). ``detoasted``: each body decompressed into
    a value of its own (see :func:`_leasing`)."""
    body = payloads_t.alias("body")
    prior = payloads_t.alias("prior")
    app = app_ids_t.alias("app")
    joined = (
        tasks.outerjoin(body, body.c.id == tasks.c.payload_id)
        .outerjoin(prior, prior.c.id == tasks.c.prior_payload_id)
        .outerjoin(
            app, and_(app.c.tenant_id == tasks.c.tenant_id, app.c.object_id == tasks.c.object_id)
        )
    )
    stored: ColumnElement[Any] = sql_cast(body.c.body, Text)
    if detoasted:
        stored = stored + literal("", Text)  # a new text, not the stored (compressed) datum
    return select(
        *(tasks.c[name] for name in COLUMNS),
        stored.label("body"),
        sql_cast(prior.c.body, Text).label("prior_body"),
        app.c.app_id,
        null().label("task"),
        *more,
    ).select_from(joined)


def _writable(tasks: Any, body: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether the database writes a task's JSON: a data event without ``changes`` whose
    topic's projection is the identity for its body (:func:`projected`, with the topics of the
    bound :class:`Whole`)."""
    named = [  # the type drops the roll-up, and the body names it
        and_(
            tasks.c.object_type == any_(bindparam(f"drop_{index}", type_=ARRAY(Text))),
            func.strpos(body, f'"{key}"') > 0,
        )
        for index, key in enumerate(ROLLUPS)
    ]
    return and_(
        tasks.c.type == "data_event",
        tasks.c.prior_payload_id.is_(None),
        tasks.c.object_type == any_(bindparam("whole_types", type_=ARRAY(Text))),
        func.starts_with(body, "{"),
        ~or_(*named),
    )


def _whole_task(tasks: Any, body: ColumnElement[str], app_id: Any) -> ColumnElement[str]:
    """A data event's JSON as :func:`encode` writes it (``shapes.task_json``, serialized by
    orjson with ``OPT_UTC_Z``): ``:head``, the event's fields, ``:tail``."""
    c = tasks.c
    created = func.timezone("UTC", c.created_at)  # a timestamp without zone, in UTC
    fields: list[tuple[str, Any]] = [
        ("id", _as_string(c.id)),
        ("tenant_id", _as_string(c.tenant_id)),
        ("sequence", c.sequence),
        (  # orjson: seconds, then microseconds only when there are some, then Z
            "created_at",
            _as_string(_utc_text(func.to_char(created, 'YYYY-MM-DD"T"HH24:MI:SS.US'))),
        ),
        ("action", _json_text(c.action)),
        ("object_id", _as_string(c.object_id)),
        ("object_type", _json_text(c.object_type)),
        ("group_id", _as_string(c.group_id)),
        ("origin", _json_text(c.origin)),
        ("app_id", _json_text(app_id)),
        ("label", _json_text(c.label)),
        ("data", body),
        ("changes", literal("null")),
    ]
    parts: list[Any] = [bindparam("head", type_=Text)]
    for index, (name, value) in enumerate(fields):
        parts += [("," if index else "") + f'"{name}":', value]
    parts.append(bindparam("tail", type_=Text))
    return func.concat(*parts)


def _utc_text(formatted: Any) -> ColumnElement[str]:
    return func.replace(formatted, ".000000", "") + literal("Z", Text)


def _as_string(value: Any) -> ColumnElement[str]:
    """A value whose text needs no escaping (a UUID's is as orjson writes it, a timestamp) as a
    JSON string, or null."""
    return func.coalesce(literal('"', Text) + sql_cast(value, Text) + '"', "null")


def _json_text(value: Any) -> ColumnElement[str]:
    """A string as a JSON string (PostgreSQL escapes as orjson does), or null."""
    return func.coalesce(sql_cast(func.to_json(value), Text), "null")


@cache
def _leasing(restrictions: tuple[tuple[str, ...], ...]) -> Select[Any]:
    """PostgreSQL: lease the tasks before the first blocking one and read their data, in one
    statement (the payloads are joined after the ``UPDATE``, not carried through it)."""
    queue = _queue(restrictions).with_for_update(of=tasks_t).cte("candidates")
    cut = select(func.min(queue.c.sequence)).where(queue.c.blocked).scalar_subquery()
    leased = (
        update(tasks_t)
        .where(tasks_t.c.id == queue.c.id, queue.c.sequence < func.coalesce(cut, NO_CUT))
        .values(leased_until=_UNTIL, deliveries=tasks_t.c.deliveries + 1)
        .returning(*(tasks_t.c[name] for name in COLUMNS))
        .cte("leased")
    )
    # Each step is a fenced subquery, each value computed once per row: bodies over ~2 KB are
    # stored compressed and every function reading one would decompress it again (~12 µs for a
    # 3 KB student); the check decides two columns.
    data = _fenced(_with_data(leased, detoasted=True), "data")
    checked = _fenced(select(data, _writable(data, data.c.body).label("whole")), "checked")
    whole = checked.c.whole

    def unless_whole(value: Any, name: str) -> Any:
        """What a task written by the database does not need (decoding it costs the poll)."""
        return case((whole, null()), else_=value).label(name)

    return select(
        checked.c.tenant_id,
        checked.c.sequence,
        *(unless_whole(checked.c[name], name) for name in COLUMNS if name not in WHOLE_NEEDS),
        unless_whole(checked.c.body, "body"),
        checked.c.prior_body,
        unless_whole(checked.c.app_id, "app_id"),
        case((whole, _whole_task(checked, checked.c.body, checked.c.app_id))).label("task"),
    )


WHOLE_NEEDS = ("tenant_id", "sequence")
"""What the poll reads of a task the database wrote: its tenant (metrics) and its order."""


def _fenced(query: Select[Any], name: str) -> Any:
    """``query`` as a subquery that PostgreSQL runs as written (``OFFSET 0``) rather than
    merges into the query around it, which would repeat its expressions where they are used."""
    return query.offset(literal_column("0")).subquery(name)


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
"""A lease need not wait for its commit to reach the disk (~1.5 ms on the benchmark's machine,
as long as the rest of a poll). A lease is a promise not to deliver the task again before it
ends; should the database crash before the lease's commit is flushed (within
``wal_writer_delay``), the lease is lost as a whole and the task is deliverable again — what
happens anyway when a lease ends unacknowledged. The next synchronous commit (an ack's) flushes
it with its own."""
_UNTIL = bindparam("until", type_=tasks_t.c.leased_until.type)
_LEASE_IDS = (
    update(tasks_t)
    .where(tasks_t.c.id.in_(bindparam("ids", expanding=True)))
    .values(leased_until=_UNTIL, deliveries=tasks_t.c.deliveries + 1)
)


def encode(
    rows: Sequence[Row[Any]],
    views: Mapping[uuid.UUID, TenantView],
    schema: str,
    keyring: Keyring | None,
) -> list[Any]:
    """The leased tasks as their driver receives them (``views``: each data-event tenant's)."""
    found: list[Any] = []
    for row in rows:
        if row.task is not None:  # written by the database
            found.append(orjson.Fragment(row.task))
            continue
        data: Any = None
        changes = None
        if row.type == "data_event":
            topic = views[row.tenant_id].named(row.object_type or "")
            if row.prior_payload_id is not None:
                data = project(topic, _load(row.body))
                changes = changed(project(topic, _load(row.prior_body)), data)
            else:
                data = projected(topic, row.body)
        elif row.type == "authenticate":
            data = sealed.unseal(_load(row.body), keyring)
        elif row.body is not None:
            data = orjson.Fragment(row.body)
        app_id = row.app_id if row.object_id is not None else None
        found.append(task_json(row, schema, data=data, changes=changes, app_id=app_id))
    return found


def projected(topic: Topic | None, raw: str | None) -> Any:
    """A data event's ``data``: the stored JSON as it is when the projection would return it
    unchanged — the topic keeps every key but some roll-ups, and none of those is in the body.
    A body that held one would name it as a quoted key (``"$sections"``; the hub writes
    payloads with orjson or ``json.dumps``, neither escapes ASCII), so a body without the quoted
    name has no such key; the rare body that holds the name elsewhere is simply decoded."""
    if raw is not None and topic is not None and raw.startswith("{"):
        dropped = topic.dropped()
        if dropped is not None and not names_any(dropped, raw):
            return orjson.Fragment(raw)
    return project(topic, _load(raw))


def names_any(keys: frozenset[str], raw: str) -> bool:
    """Whether the JSON text ``raw`` names one of ``keys`` as a quoted key (see
    :func:`projected`)."""
    return bool(keys) and _quoted(keys).search(raw) is not None


@cache
def _quoted(keys: frozenset[str]) -> re.Pattern[str]:
    """Any of ``keys`` in double quotes (one regex pass: about twice as fast as a substring
    search per key on bodies of a few KB)."""
    return re.compile("|".join(re.escape(f'"{key}"') for key in sorted(keys)))


def _load(raw: str | None) -> Any:
    return None if raw is None else orjson.loads(raw)


def project(topic: Topic | None, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    if topic is None:  # the blueprint no longer has the topic: identity only
        return {"$sys": body.get("$sys")}
    return topic.project(body)
