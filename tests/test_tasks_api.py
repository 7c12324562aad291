"""The task queue over HTTP (Interop Data API #52–#59, Interop API #20–#21), on SQLite and
PostgreSQL: shapes, leasing and ordering, acknowledgements, the admin queue, who may see what,
lifecycle states, and what a collection sends to each tenant."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.runtime import Hub
from interop_hub.tasks.models import Task, TaskAck, TaskPayload
from interop_hub.tasks.schemas import plain_successes
from interop_hub.worker import run_pending
from tests.clock import FakeClock
from tests.factories import (
    World,
    add_version,
    basic,
    bearer,
    data,
    error,
    full_blueprint,
    install,
    make_account,
    make_world,
    token,
)
from tests.test_collection_property import BundleSpec, _minimal_bundle, write_bundle

TASKS = "/v2/interop/data/tasks"
ADMIN = f"{TASKS}/admin"
EVENT_KEYS = {"id", "tenant_id", "sequence", "created_at"}


@dataclass
class Env:
    client: TestClient
    hub: Hub
    world: World
    tenant: dict[str, Any]
    headers: dict[str, str]
    tmp: Path

    def collect(self, bundle: BundleSpec, cloud_id: str | None = None) -> Ingestion:
        folder = write_bundle(self.tmp / uuid.uuid4().hex, bundle)
        with write_transaction(self.hub.sessions) as session:
            queued = ingest.queue_ingestion(
                session, uuid.UUID(cloud_id or self.world.cloud_id), str(folder), now=self.hub.now()
            )
            assert ingest.claim(session, queued.id, self.hub.now())
        done = ingest.run(self.hub, queued.id)
        assert done.state == "success", done.message
        return done

    def operator(self, path: str) -> Any:
        return data(self.client.post(f"/v2/platform{path}", headers=self.world.operator.headers))

    def poll(self, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = data(
            self.client.get(TASKS, headers=headers or self.headers, params=params)
        )
        return found

    def ack(self, tasks: list[dict[str, Any]], status: str = "success", **extra: Any) -> Any:
        body = [{"task_id": event(t)["id"], "status": status, **extra} for t in tasks]
        return data(self.client.put(f"{TASKS}/ack", json=body, headers=self.headers))

    def drain(self) -> list[dict[str, Any]]:
        everything = []
        while batch := self.poll():
            self.ack(batch)
            everything += batch
        return everything


def event(task: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = task[task["type"]]
    return found


def ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [event(t)["id"] for t in tasks]


def kinds(tasks: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(t["type"], event(t).get("action")) for t in tasks]


@pytest.fixture
def env(client: TestClient, hub: Hub, tmp_path: Path) -> Env:
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0"))
    tenant = install(client, world, version="2.0")
    headers = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    return Env(client, hub, world, tenant, headers, tmp_path)


@pytest.fixture
def active(env: Env) -> Env:
    """The tenant activated after a first collection, its queue drained."""
    env.collect(_minimal_bundle())
    env.operator(f"/tenants/{env.tenant['id']}/activate")
    env.drain()
    return env


def renamed(bundle: BundleSpec, user: str = "u1", given: str = "Zed") -> BundleSpec:
    changed = copy.deepcopy(bundle)
    for row in changed["users"]:
        if row["sourcedId"] == user:
            row["givenName"] = given
    return changed


def more_users(count: int) -> BundleSpec:
    bundle = _minimal_bundle()
    template = bundle["users"][0]
    bundle["users"] += [
        {**template, "sourcedId": f"x{i:03d}", "username": f"x{i:03d}"} for i in range(count)
    ]
    return bundle


# --- lifecycle, state, shapes -------------------------------------------------------------------


def test_setup_mode_delivers_the_lifecycle_task_only(env: Env) -> None:
    env.collect(_minimal_bundle())
    state = data(env.client.get("/v2/interop/tenant/state", headers=env.headers))
    assert state["setup_mode_enabled"] is True
    assert "setup mode" in state["reason"]
    batch = env.poll()
    assert kinds(batch) == [("lifecycle_event", "TENANT_INSTALLED")]
    assert set(event(batch[0])) == EVENT_KEYS | {"action"}
    assert event(batch[0])["sequence"] == 1
    assert event(batch[0])["tenant_id"] == env.tenant["id"]
    assert batch[0]["schema"] == "nested"


def test_activation_sends_the_initial_sync_in_dependency_order(env: Env) -> None:
    env.collect(_minimal_bundle())
    env.operator(f"/tenants/{env.tenant['id']}/activate")
    tasks = env.drain()
    assert kinds(tasks)[:3] == [
        ("lifecycle_event", "TENANT_INSTALLED"),
        ("lifecycle_event", "TENANT_ACTIVATED"),
        ("sync_event", "SYNC_START"),
    ]
    assert kinds(tasks)[-1] == ("sync_event", "SYNC_END")
    sequences = [event(t)["sequence"] for t in tasks]
    assert sequences == list(range(1, len(tasks) + 1))
    types = [event(t)["object_type"] for t in tasks if t["type"] == "data_event"]
    assert types == ["LEA", "School", "Term", "Course", "Student", "Section"]
    data_event = next(event(t) for t in tasks if t["type"] == "data_event")
    assert set(data_event) == EVENT_KEYS | {
        "action",
        "object_id",
        "object_type",
        "group_id",
        "origin",
        "app_id",
        "label",
        "data",
        "changes",
    }
    assert data_event["origin"] == "initial"
    assert data_event["data"]["$sys"]["id"] == data_event["object_id"]
    groups = {event(t)["group_id"] for t in tasks if t["type"] != "lifecycle_event"}
    assert len(groups) == 1
    state = data(env.client.get("/v2/interop/tenant/state", headers=env.headers))
    assert state == {
        "rollover_mode_enabled": False,
        "synchronization_suspended": False,
        "setup_mode_enabled": False,
        "mass_change_pending": False,
        "delivery_paused": None,
        "reason": None,
    }


def test_flat_schema_puts_the_event_at_the_top_level(active: Env) -> None:
    active.collect(renamed(_minimal_bundle()))
    flat = active.poll(schema="flat")
    # The student's new name, and the section that lists it under its new label.
    assert [t["type"] for t in flat] == ["sync_event", "data_event", "data_event", "sync_event"]
    assert flat[2]["object_type"] == "Section"
    update = flat[1]
    assert update["schema"] == "flat"
    assert update["action"] == "UPDATE"
    assert update["object_type"] == "Student"
    assert update["changes"]["name"]["first"] == "A"
    assert update["data"]["name"]["first"] == "Zed"


@pytest.mark.parametrize(("param", "valid"), [("schema", "nested, flat"), ("driver", "rostering")])
def test_unknown_schema_or_driver_is_400_listing_the_valid_ones(
    active: Env, param: str, valid: str
) -> None:
    for path in (TASKS, ADMIN):
        body = error(active.client.get(path, headers=active.headers, params={param: "x"}), 400)
        assert valid in body["message"]
        assert body["details"]["valid"]


def test_driver_restricts_to_the_tasks_routed_to_it(env: Env) -> None:
    env.collect(_minimal_bundle())
    env.operator(f"/tenants/{env.tenant['id']}/activate")
    lifecycle = env.poll(driver="lifecycle")
    assert kinds(lifecycle) == [
        ("lifecycle_event", "TENANT_INSTALLED"),
        ("lifecycle_event", "TENANT_ACTIVATED"),
    ]
    env.ack(lifecycle)
    rostering = env.poll(driver="rostering")
    assert {t["type"] for t in rostering} == {"sync_event", "data_event"}


def test_tenant_by_actor_credentials(env: Env) -> None:
    found = data(env.client.get("/v2/interop/tenant", headers=env.headers))
    assert found["id"] == env.tenant["id"]
    assert found["auth"]["client_secret"] == env.tenant["client_secret"]
    for path in ("/v2/interop/tenant", "/v2/interop/tenant/state"):
        error(env.client.get(path, headers=env.world.vendor.headers), 403)
        error(env.client.get(path), 401)


# --- leases and order ---------------------------------------------------------------------------


def test_a_lease_blocks_newer_tasks_until_it_expires(
    active: Env, hub: Hub, clock: FakeClock
) -> None:
    hub.settings.task_batch_size = 3
    active.collect(more_users(10))
    first = active.poll()
    assert len(first) == 3
    assert active.poll() == []  # leased, unacknowledged: nothing newer comes
    clock.advance(seconds=hub.settings.task_lease_seconds - 1)
    assert active.poll() == []
    clock.advance(seconds=2)
    again = active.poll()
    assert ids(again) == ids(first)  # the same tasks, in the same order
    active.ack(again[:2])
    assert active.poll() == []  # the third is still leased
    active.ack(again[2:])
    nxt = active.poll()
    assert event(nxt[0])["sequence"] == event(first[-1])["sequence"] + 1


def test_page_size_caps_the_batch(active: Env) -> None:
    active.collect(more_users(10))
    assert len(active.poll(page_size=2)) == 2


def test_retry_comes_back_first_after_its_backoff(active: Env, hub: Hub, clock: FakeClock) -> None:
    active.collect(more_users(5))
    batch = active.poll()
    head = batch[:1]
    outcome = active.ack(head, "retry", message="app busy")
    assert outcome == {"acknowledged": 1, "failed": []}
    active.client.put(f"{TASKS}/ack", json=[{"task_id": i} for i in ids(batch[1:])])
    assert active.poll() == []  # the retried task blocks its tenant's queue
    clock.advance(seconds=hub.settings.task_retry_backoff_seconds + 1)
    again = active.poll()
    assert ids(again) == ids(head)


def test_reauthenticate_pauses_delivery_of_data(active: Env) -> None:
    active.collect(renamed(_minimal_bundle()))
    batch = active.poll()
    active.ack(batch[:1], "reauthenticate")
    state = data(active.client.get("/v2/interop/tenant/state", headers=active.headers))
    assert state["delivery_paused"] == "reauthenticate"
    assert state["synchronization_suspended"] is True
    assert active.poll() == []
    active.operator(f"/tenants/{active.tenant['id']}/suspend")
    assert kinds(active.poll()) == [("lifecycle_event", "TENANT_SUSPENDED")]


# --- acknowledgements ---------------------------------------------------------------------------


def test_ack_one_task(active: Env, other_tenant_task: str) -> None:
    active.collect(renamed(_minimal_bundle()))
    batch = active.poll()
    first = event(batch[0])["id"]
    done = data(
        active.client.put(
            f"{TASKS}/{first}/ack", json={"status": "success"}, headers=active.headers
        )
    )
    assert done["task_id"] == first
    body = error(active.client.put(f"{TASKS}/{first}/ack", json={}, headers=active.headers), 404)
    assert "not an outstanding task" in body["message"]
    error(
        active.client.put(f"{TASKS}/{other_tenant_task}/ack", json={}, headers=active.headers),
        404,
    )
    second = event(batch[1])["id"]
    error(
        active.client.put(
            f"{TASKS}/{second}/ack", json={"task_id": str(uuid.uuid4())}, headers=active.headers
        ),
        400,
    )
    error(
        active.client.put(f"{TASKS}/{second}/ack", json={"status": "ok"}, headers=active.headers),
        400,
    )


def test_an_undelivered_task_is_not_outstanding(active: Env, hub: Hub) -> None:
    hub.settings.task_batch_size = 1
    active.collect(renamed(_minimal_bundle()))
    active.poll()
    queued = data(active.client.get(ADMIN, headers=active.headers))
    never_delivered = event(queued[1])["id"]
    error(active.client.put(f"{TASKS}/{never_delivered}/ack", json={}, headers=active.headers), 404)


def test_a_batch_applies_what_it_can_and_says_what_failed(
    active: Env, hub: Hub, other_tenant_task: str
) -> None:
    active.collect(renamed(_minimal_bundle()))
    batch = active.poll()
    good, dup = ids(batch)[0], ids(batch)[1]
    unknown = str(uuid.uuid4())
    body = [
        {"task_id": good, "status": "error", "message": "no such class", "params": {"x": "1"}},
        {"task_id": unknown},
        {"task_id": other_tenant_task},
        {"task_id": dup},
        {"task_id": dup},
    ]
    result = data(active.client.put(f"{TASKS}/ack", json=body, headers=active.headers))
    assert result["acknowledged"] == 2
    assert [(f["task_id"], f["status"]) for f in result["failed"]] == [
        (unknown, 404),
        (other_tenant_task, 404),
        (dup, 404),
    ]
    with transaction(hub.sessions) as session:
        history = session.scalars(select(TaskAck).where(TaskAck.task_id == uuid.UUID(good))).one()
    assert (history.status, history.message, history.params) == (
        "error",
        "no such class",
        {"x": "1"},
    )
    missing = error(
        active.client.put(f"{TASKS}/ack", json=[{"status": "success"}], headers=active.headers),
        400,
    )
    assert missing["details"] == {"indexes": [0]}


def test_an_app_id_given_in_an_ack_comes_back_in_later_events(active: Env) -> None:
    active.collect(renamed(_minimal_bundle()))
    batch = active.poll()
    update = next(t for t in batch if t["type"] == "data_event")
    rest = [t for t in batch if t is not update]
    active.ack([update], **{"$sys.app_id": "app-42"})
    active.ack(rest)
    active.collect(renamed(_minimal_bundle(), given="Yan"))
    later = {event(t)["object_type"]: event(t) for t in active.drain() if t["type"] == "data_event"}
    assert later["Student"]["object_id"] == event(update)["object_id"]
    assert later["Student"]["app_id"] == "app-42"
    assert later["Section"]["app_id"] is None


# --- who polls what -----------------------------------------------------------------------------


@pytest.fixture
def other_tenant_task(client: TestClient, hub: Hub) -> str:
    """A queued task of another vendor's tenant."""
    world = make_world(client, hub)
    tenant = install(client, world)
    headers = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    return str(event(data(client.get(TASKS, headers=headers))[0])["id"])


def test_a_vendor_polls_all_its_tenants_and_may_restrict_to_one(env: Env) -> None:
    second = install(env.client, env.world, env.world.other_cloud_id, version="2.0")
    vendor = env.world.vendor.headers
    both = env.poll(vendor)
    assert {event(t)["tenant_id"] for t in both} == {env.tenant["id"], second["id"]}
    env.client.put(
        f"{TASKS}/ack", json=[{"task_id": i} for i in ids(both)], headers=vendor
    ).raise_for_status()
    env.operator(f"/tenants/{second['id']}/activate")
    only = env.poll(vendor, tenant_id=env.tenant["id"])
    assert only == []
    assert {event(t)["tenant_id"] for t in env.poll(vendor, tenant_id=second["id"])} == {
        second["id"]
    }
    # Another vendor sees none of them; a tenant id that is not yours is 404.
    assert env.poll(env.world.other_vendor.headers) == []
    error(
        env.client.get(
            TASKS, params={"tenant_id": second["id"]}, headers=env.world.other_vendor.headers
        ),
        404,
    )
    error(env.client.get(TASKS, params={"tenant_id": second["id"]}, headers=env.headers), 404)


def test_districts_operators_and_connectors_do_not_poll(env: Env, hub: Hub) -> None:
    assert (
        "vendor" in error(env.client.get(TASKS, headers=env.world.district.headers), 403)["message"]
    )
    error(env.client.get(TASKS, headers=env.world.operator.headers), 403)
    error(env.client.get(ADMIN, headers=env.world.district.headers), 403)
    error(env.client.get(TASKS), 401)
    stranger = make_account(hub, "education_agency")
    error(env.client.get(TASKS, headers=basic(stranger.api_key)), 403)


# --- the admin queue ----------------------------------------------------------------------------


def test_admin_queue_lists_finds_acks_and_deletes_without_leasing(active: Env, hub: Hub) -> None:
    active.collect(more_users(6))
    page = active.client.get(ADMIN, headers=active.headers, params={"page_size": 4}).json()
    assert len(page["data"]) == 4
    rest = active.client.get(page["paging"]["next"], headers=active.headers).json()
    listed = page["data"] + rest["data"]
    sequences = [event(t)["sequence"] for t in listed]
    assert sequences == sorted(sequences)
    assert len(active.poll()) == len(listed)  # listing leased nothing
    first, second, third = ids(listed)[:3]
    found = data(active.client.get(f"{ADMIN}/{first}", headers=active.headers))
    assert event(found)["id"] == first
    flat = data(
        active.client.get(f"{ADMIN}/{first}", headers=active.headers, params={"schema": "flat"})
    )
    assert flat["id"] == first
    data(active.client.put(f"{ADMIN}/{first}/ack", json={}, headers=active.headers))
    result = data(
        active.client.put(
            f"{ADMIN}/ack", json=[{"task_id": second}, {"task_id": first}], headers=active.headers
        )
    )
    assert result["acknowledged"] == 1
    assert active.client.delete(f"{ADMIN}/{third}", headers=active.headers).status_code == 204
    error(active.client.get(f"{ADMIN}/{third}", headers=active.headers), 404)
    error(active.client.delete(f"{ADMIN}/{third}", headers=active.headers), 404)
    with transaction(hub.sessions) as session:
        statuses = dict(
            session.execute(
                select(TaskAck.task_id, TaskAck.status).where(
                    TaskAck.task_id.in_([uuid.UUID(i) for i in (first, second, third)])
                )
            ).all()
        )
    assert statuses == {
        uuid.UUID(first): "success",
        uuid.UUID(second): "success",
        uuid.UUID(third): "deleted",
    }
    # The operator reads every tenant's admin queue; the page size is capped.
    hub.settings.max_task_page_size = 2
    capped = active.client.get(ADMIN, headers=active.world.operator.headers).json()
    assert len(capped["data"]) == 2
    assert capped["paging"]["next"]


def test_admin_queue_of_another_tenant_is_404(active: Env, other_tenant_task: str) -> None:
    for method, path in (
        ("GET", f"{ADMIN}/{other_tenant_task}"),
        ("DELETE", f"{ADMIN}/{other_tenant_task}"),
        ("PUT", f"{ADMIN}/{other_tenant_task}/ack"),
    ):
        error(active.client.request(method, path, headers=active.headers, json={}), 404)


# --- what a collection sends --------------------------------------------------------------------


def test_a_change_no_tenant_sees_sends_nothing(env: Env) -> None:
    """The factories' blueprint sees School (name), Student (name, $schools) and sections."""
    basic_tenant_world = env.world
    narrow = install(env.client, basic_tenant_world, basic_tenant_world.other_cloud_id)
    headers = bearer(token(env.client, narrow["client_id"], narrow["client_secret"]))
    cloud = basic_tenant_world.other_cloud_id
    env.collect(_minimal_bundle(), cloud)
    env.operator(f"/tenants/{narrow['id']}/activate")
    initial = []
    while batch := env.poll(headers):
        initial += batch
        env.client.put(
            f"{TASKS}/ack", json=[{"task_id": i} for i in ids(batch)], headers=headers
        ).raise_for_status()
    objects = {event(t)["object_type"]: event(t) for t in initial if t["type"] == "data_event"}
    assert set(objects) == {"School", "Student", "CourseSection"}
    assert set(objects["School"]["data"]) == {"$sys", "name"}
    assert set(objects["Student"]["data"]) == {"$sys", "name", "$schools"}
    assert "$students" not in objects["CourseSection"]["data"]  # a roll-up not asked for
    changed = copy.deepcopy(_minimal_bundle())
    changed["users"][0]["email"] = "new@example.org"  # not an attribute it sees
    changed["orgs"][0]["name"] = "Renamed District"  # not a topic it sees
    env.collect(changed, cloud)
    assert env.poll(headers) == []
    changed["users"][0]["givenName"] = "Zed"
    env.collect(changed, cloud)
    update = [t for t in env.poll(headers) if t["type"] == "data_event"]
    assert [(event(t)["action"], event(t)["object_type"]) for t in update] == [
        ("UPDATE", "Student")
    ]
    assert event(update[0])["changes"] == {"name": {"first": "A", "last": "B", "middle": None}}


def test_a_suspended_tenant_gets_lifecycle_tasks_and_later_what_it_missed(active: Env) -> None:
    active.operator(f"/tenants/{active.tenant['id']}/suspend")
    active.collect(renamed(_minimal_bundle()))
    state = data(active.client.get("/v2/interop/tenant/state", headers=active.headers))
    assert state["synchronization_suspended"] is True
    assert kinds(active.drain()) == [("lifecycle_event", "TENANT_SUSPENDED")]
    active.operator(f"/tenants/{active.tenant['id']}/activate")
    assert kinds(active.drain()) == [
        ("sync_event", "SYNC_START"),
        ("data_event", "UPDATE"),
        ("data_event", "UPDATE"),
        ("sync_event", "SYNC_END"),
        ("lifecycle_event", "TENANT_ACTIVATED"),
    ]


def test_a_held_collection_shows_in_the_state_and_sends_nothing(active: Env, hub: Hub) -> None:
    hub.settings.mass_change_threshold = 0.01
    hub.settings.mass_change_min_changes = 1
    folder = write_bundle(active.tmp / "held", renamed(_minimal_bundle()))
    with write_transaction(hub.sessions) as session:
        queued = ingest.queue_ingestion(
            session, uuid.UUID(active.world.cloud_id), str(folder), now=hub.now()
        )
        assert ingest.claim(session, queued.id, hub.now())
    assert ingest.run(hub, queued.id).state == "scheduled"
    state = data(active.client.get("/v2/interop/tenant/state", headers=active.headers))
    assert state["mass_change_pending"] is True
    assert "mass change" in state["reason"]
    assert active.poll() == []
    with transaction(hub.sessions) as session:
        assert session.scalars(select(Task)).all() == []


def test_what_showed_a_deleted_person_is_updated(active: Env) -> None:
    """The user goes but its enrollment row stays (and is rejected): the membership goes with
    the person, and the section that listed the student no longer does."""
    bundle = _minimal_bundle()
    bundle["users"] = []
    folder = write_bundle(active.tmp / "gone", bundle)
    with write_transaction(active.hub.sessions) as session:
        queued = ingest.queue_ingestion(
            session, uuid.UUID(active.world.cloud_id), str(folder), now=active.hub.now()
        )
        assert ingest.claim(session, queued.id, active.hub.now())
    assert ingest.run(active.hub, queued.id).rows_rejected == 1
    tasks = [event(t) for t in active.drain() if t["type"] == "data_event"]
    assert [(e["action"], e["object_type"]) for e in tasks] == [
        ("UPDATE", "Section"),
        ("DELETE", "Student"),
    ]
    assert tasks[0]["data"]["$students"] == []
    assert [s["label"] for s in tasks[0]["changes"]["$students"]] == ["A B"]


def test_the_worker_drops_payloads_nothing_needs(active: Env, hub: Hub) -> None:
    """Acknowledged updates leave payloads behind: the superseded ones go, those of queued
    tasks and those that render objects as they are now stay (a later full sync reuses them)."""
    active.collect(renamed(_minimal_bundle()))
    active.collect(renamed(_minimal_bundle(), given="Yan"))
    first = active.poll()  # the first rename's sync: acknowledged, its payloads are history
    active.ack(first)
    with transaction(hub.sessions) as session:
        before = set(session.scalars(select(TaskPayload.id)))
        queued = {
            i
            for task in session.scalars(select(Task))
            for i in (task.payload_id, task.prior_payload_id)
            if i is not None
        }
    run_pending(hub)
    with transaction(hub.sessions) as session:
        after = set(session.scalars(select(TaskPayload.id)))
    assert queued <= after
    assert after < before
    # The full sync of a resend still finds every object rendered as it is now.
    queued_tasks = active.operator(f"/tenants/{active.tenant['id']}/resend")["tasks_queued"]
    with transaction(hub.sessions) as session:
        assert set(session.scalars(select(TaskPayload.id))) == after
    resent = active.drain()
    assert len(resent) >= queued_tasks
    student = next(
        event(t)
        for t in resent
        if t["type"] == "data_event" and event(t)["object_type"] == "Student"
    )
    assert student["data"]["name"]["first"] == "Yan"


# --- the fast paths of a driver's poll and acks (tasks.routes.FastPathRoute): the answers of
# the declared routes, which every other request still takes ------------------------------------


def mixed(batch: list[str], other: str) -> list[str]:
    """Two of the batch's ids, one named twice, an unknown id and another tenant's task."""
    return [batch[0], str(uuid.uuid4()), other, batch[1], batch[1]]


def ack_ids(active: Env, task_ids: list[str], **extra: Any) -> Any:
    body = [{"task_id": task_id, "status": "success", **extra} for task_id in task_ids]
    return data(active.client.put(f"{TASKS}/ack", json=body, headers=active.headers))


def failures(result: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(f["task_id"].lower(), f["status"], f["message"].lower()) for f in result["failed"]]


def test_plain_successes_are_what_a_driver_sends() -> None:
    task_id = str(uuid.uuid4())
    plain = [
        [{"task_id": task_id, "status": "success"}],
        [{"task_id": task_id}],
        [{"status": None, "task_id": task_id}],
    ]
    for body in plain:
        assert plain_successes(orjson.dumps(body), 10) == [task_id]
    other = [
        b"{",
        b"[]",
        b"{}",
        orjson.dumps([{"task_id": task_id.upper()}]),  # valid, but not as the hub writes it
        orjson.dumps([{"task_id": task_id, "status": "retry"}]),
        orjson.dumps([{"task_id": task_id, "message": "done"}]),
        orjson.dumps([{"task_id": task_id, "$sys.app_id": "a1"}]),
        orjson.dumps([{"task_id": 7}]),
        orjson.dumps([{"status": "success"}]),
        orjson.dumps([[task_id]]),
        orjson.dumps([{"task_id": task_id}] * 11),  # more than the most
    ]
    for raw in other:
        assert plain_successes(raw, 10) is None, raw


@pytest.mark.parametrize("declared", [False, True], ids=["fast", "declared"])
def test_a_batch_of_successes_says_what_failed_either_way(
    active: Env, hub: Hub, other_tenant_task: str, declared: bool
) -> None:
    """The same batch as a driver writes it (fast path) or with the ids in capitals (valid
    UUIDs, but not plain: the declared route): the same outcomes and history."""
    active.collect(renamed(_minimal_bundle()))
    batch = ids(active.poll())
    sent = mixed(batch, other_tenant_task)
    result = ack_ids(active, [i.upper() for i in sent] if declared else sent)
    assert result["acknowledged"] == 2
    assert failures(result) == [
        (task_id, 404, f"task {task_id} is not an outstanding task of yours.")
        for task_id in sent[1:3] + sent[4:]
    ]
    with transaction(hub.sessions) as session:
        statuses = session.scalars(
            select(TaskAck.status).where(TaskAck.task_id.in_([uuid.UUID(i) for i in batch[:2]]))
        ).all()
    assert statuses == ["success", "success"]


def test_what_is_not_plain_is_validated_as_before(active: Env) -> None:
    active.collect(renamed(_minimal_bundle()))
    batch = ids(active.poll())
    body = error(
        active.client.put(
            f"{TASKS}/ack",
            content=b"[{",
            headers={**active.headers, "Content-Type": "application/json"},
        ),
        400,
    )
    assert body["details"][0]["type"] == "json_invalid"
    wrong = error(
        active.client.put(
            f"{TASKS}/ack", json=[{"task_id": "nope", "status": "success"}], headers=active.headers
        ),
        400,
    )
    assert wrong["details"][0]["location"] == "body.0.task_id"
    assert ack_ids(active, batch, message="done")["acknowledged"] == len(batch)


def test_a_poll_with_parameters_is_validated_as_before(active: Env) -> None:
    body = error(active.client.get(TASKS, headers=active.headers, params={"page_size": 0}), 400)
    assert body["details"][0]["location"] == "query.page_size"
    unauthenticated = active.client.get(TASKS)
    assert unauthenticated.status_code == 401
    assert "Bearer" in unauthenticated.headers["WWW-Authenticate"]
