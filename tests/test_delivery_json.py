"""A polled task is the same JSON whoever writes it: on PostgreSQL the leasing statement writes
the whole JSON of a data event whose projection keeps its stored body
(``tasks.delivery._whole_task``), elsewhere Python does (``shapes.task_json``, as the admin
queue always does). Both backends, both schemas, with the values whose text is easy to get
wrong: labels to escape, timestamps with and without microseconds, app ids, missing group
ids, and topics whose projection is not the identity. The JSON values are equal (a stored
body's keys may come in another order than a projection's: JSON objects are unordered)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from typing import cast as cast_as

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Text, cast, select, update

from interop_hub.demo.quickstart import full_blueprint
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.db import write_transaction
from interop_hub.runtime import Hub
from interop_hub.tasks import delivery
from interop_hub.tasks.models import Task, TaskPayload, TenantAppId
from interop_hub.tasks.projection import TenantView
from interop_hub.tasks.shapes import SCHEMAS
from interop_hub.tenants.models import Tenant
from interop_hub.worker import run_pending
from tests.factories import add_version, bearer, data, install, make_world, token
from tests.test_collection_property import _minimal_bundle
from tests.test_tasks_api import TASKS, Env, event

# Every attribute of most topics (the stored body as it is); Term without <Attributes> (every
# ordinary attribute: the body as it is when it has no roll-up); Course listing what it sees.
BLUEPRINT = full_blueprint(
    "2.0",
    topics=("LEA", "School", "Section", "Student", "Teacher"),
    extra=(
        '<Topic Name="Term"/>'
        '<Topic Name="Course"><Attributes><Attribute Name="title"/></Attributes></Topic>'
    ),
)
LABELS = ['Zoë "the \\ one"\n\t\x01', "plain", None]
STAMPS = [
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=dt.UTC),
    dt.datetime(1999, 12, 31, 23, 59, 59, 7, tzinfo=dt.UTC),
]


@pytest.fixture
def queued(client: TestClient, hub: Hub, tmp_path: Path) -> Env:
    """A tenant activated after a collection, its initial sync queued, with odd labels, times,
    app ids and group ids."""
    world = make_world(client, hub)
    add_version(client, world, BLUEPRINT)
    tenant = install(client, world, version="2.0")
    headers = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    env = Env(client, hub, world, tenant, headers, tmp_path)
    env.collect(_minimal_bundle())
    env.operator(f"/tenants/{tenant['id']}/activate")
    run_pending(hub)
    tenant_id = uuid.UUID(tenant["id"])
    with write_transaction(hub.sessions) as session:
        rows = session.execute(
            select(Task.id, Task.object_id)
            .where(Task.tenant_id == tenant_id, Task.type == "data_event")
            .order_by(Task.sequence)
        ).all()
        assert len(rows) >= 6
        for index, (task_id, object_id) in enumerate(rows):
            values: dict[str, Any] = {
                "label": LABELS[index % len(LABELS)],
                "created_at": STAMPS[index % len(STAMPS)],
            }
            if index % 4 == 0:
                values["group_id"] = None
            session.execute(update(Task).where(Task.id == task_id).values(**values))
            if index % 2 == 0:
                session.add(
                    TenantAppId(
                        tenant_id=tenant_id,
                        object_id=object_id,
                        app_id=f'app-{index}-\u00e9"',
                        updated_at=hub.now(),
                    )
                )
    return env


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_polled_task_is_the_task_the_admin_queue_renders(queued: Env, schema: str) -> None:
    polled = queued.poll(schema=schema, page_size=1000)
    assert [t["type"] for t in polled].count("data_event") >= 6
    for task in polled:
        task_id = task["id"] if schema == "flat" else event(task)["id"]
        rendered = data(
            queued.client.get(
                f"{TASKS}/admin/{task_id}", headers=queued.headers, params={"schema": schema}
            )
        )
        assert task == rendered


def test_postgresql_writes_the_data_events_whose_body_is_kept(queued: Env, hub: Hub) -> None:
    """Only data events of topics that keep the stored body come whole from the database, and
    as Python writes them; the others (Course lists attributes; lifecycle and sync events) are
    written in Python."""
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("SQLite leases without the database writing JSON")
    tenant_id = uuid.UUID(queued.tenant["id"])
    now = hub.now()
    with write_transaction(hub.sessions) as session:
        (version_id,) = session.execute(
            select(Tenant.version_id).where(Tenant.id == tenant_id)
        ).one()
        blueprint = session.scalar(
            select(IntegrationVersion.blueprint).where(IntegrationVersion.id == version_id)
        )
        view = TenantView.from_json(blueprint or {})
        whole = delivery.Whole.of(view, "nested")
        rows = delivery.lease(
            session, tenant_id, [None], 1000, now, now + dt.timedelta(minutes=1), whole
        )
        tasks = {
            task.sequence: SimpleNamespace(
                **{name: getattr(task, name) for name in delivery.COLUMNS}
            )
            for task in session.scalars(select(Task).where(Task.tenant_id == tenant_id))
        }
        stored = dict(session.execute(select(TaskPayload.id, cast(TaskPayload.body, Text))).all())
        app_ids = dict(session.execute(select(TenantAppId.object_id, TenantAppId.app_id)).all())
        session.rollback()
    written = {tasks[row.sequence].object_type for row in rows if row.task is not None}
    by_python = {row.object_type for row in rows if row.task is None and row.type == "data_event"}
    assert {"School", "Student", "Term"} <= written
    assert by_python == {"Course"}
    for row in rows:
        if row.task is None:
            continue
        assert row.body is None  # only what the poll reads
        assert row.id is None
        task = tasks[row.sequence]
        as_python = SimpleNamespace(
            **vars(task),
            body=stored[task.payload_id],
            prior_body=None,
            app_id=app_ids.get(task.object_id),
            task=None,
        )
        python = delivery.encode([cast_as(Any, as_python)], {tenant_id: view}, "nested", None)
        assert row.task.encode() == orjson.dumps(python[0], option=orjson.OPT_UTC_Z)
