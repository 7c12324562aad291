"""The operator's view of a tenant's task queue (``/v2/platform/tenants/{id}/tasks`` and
``.../task-history``) and the worker's pruning of that history, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interop_hub.kit.db import transaction
from interop_hub.platform.schemas import QueuedTaskOut
from interop_hub.runtime import Hub
from interop_hub.tasks.schemas import TaskAckOut
from interop_hub.worker import run_pending
from tests.clock import FakeClock
from tests.driver import Driver
from tests.factories import World, basic, data, error, install, make_world, token
from tests.repo_seed import seed_district

PLATFORM = "/v2/platform"


def queue_of(client: TestClient, world: World, tenant_id: str, **params: Any) -> Any:
    return client.get(
        f"{PLATFORM}/tenants/{tenant_id}/tasks", params=params, headers=world.operator.headers
    )


def history_of(client: TestClient, world: World, tenant_id: str, **params: Any) -> Any:
    return client.get(
        f"{PLATFORM}/tenants/{tenant_id}/task-history",
        params=params,
        headers=world.operator.headers,
    )


def every_page(client: TestClient, world: World, response: Any) -> list[dict[str, Any]]:
    """The items of a list and of every page its ``paging.next`` links lead to."""
    items: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["data"]
        if body["paging"]["next"] is None:
            return items
        response = client.get(body["paging"]["next"], headers=world.operator.headers)


def operator_post(client: TestClient, world: World, path: str) -> Any:
    return data(client.post(f"{PLATFORM}{path}", headers=world.operator.headers))


@pytest.fixture
def world(client: TestClient, hub: Hub) -> World:
    return make_world(client, hub)


def test_the_queue_of_a_tenant(
    client: TestClient, hub: Hub, clock: FakeClock, world: World
) -> None:
    with transaction(hub.sessions) as session:
        seed_district(session, world.cloud_id)
    tenant = install(client, world)
    other = install(client, world, cloud_id=world.other_cloud_id)  # not in the view

    [installed] = data(queue_of(client, world, tenant["id"]))
    assert set(installed) == set(QueuedTaskOut.model_fields)
    assert installed["tenant_id"] == tenant["id"]
    assert (installed["sequence"], installed["type"], installed["action"]) == (
        1,
        "lifecycle_event",
        "TENANT_INSTALLED",
    )
    assert (installed["deliveries"], installed["leased_until"], installed["available_at"]) == (
        0,
        None,
        None,
    )

    operator_post(client, world, f"/tenants/{tenant['id']}/activate")
    queued = every_page(client, world, queue_of(client, world, tenant["id"]))
    assert [t["sequence"] for t in queued] == list(range(1, len(queued) + 1))
    assert [t["action"] for t in queued[:3]] == [
        "TENANT_INSTALLED",
        "TENANT_ACTIVATED",
        "SYNC_START",
    ]
    students = [t for t in queued if t["object_type"] == "Student"]
    assert students
    assert all(s["label"] and s["data"] and s["origin"] == "initial" for s in students)
    assert len({t["group_id"] for t in queued if t["type"] != "lifecycle_event"}) == 1

    # Pages of 2, through the working links (a keyset cursor), give the same list.
    paged = every_page(client, world, queue_of(client, world, tenant["id"], page_size=2))
    assert paged == queued
    page1 = data(queue_of(client, world, tenant["id"], page=1, page_size=2))
    assert page1 == queued[2:4]

    # A driver's poll leases a batch: the view shows the lease, and leases nothing itself.
    lease = token(client, tenant["client_id"], tenant["client_secret"])
    polled = data(
        client.get(
            "/v2/interop/data/tasks",
            params={"page_size": 3},
            headers={"Authorization": f"Bearer {lease}"},
        )
    )
    assert len(polled) == 3
    until = clock() + dt.timedelta(seconds=hub.settings.task_lease_seconds)
    view = data(queue_of(client, world, tenant["id"]))
    assert len(polled) < len(view)
    for task in view[: len(polled)]:
        assert task["deliveries"] == 1
        assert dt.datetime.fromisoformat(task["leased_until"]) == until
    assert {t["deliveries"] for t in view[len(polled) :]} == {0}
    # The other tenant's queue is its own.
    [theirs] = data(queue_of(client, world, other["id"]))
    assert theirs["tenant_id"] == other["id"]

    # Data and app ids are those the driver receives: after it named the students in its acks,
    # a resend's events carry their app ids.
    driver = Driver(
        client,
        tenant["client_id"],
        tenant["client_secret"],
        app_id=lambda task: f"app-{task['data_event']['object_id'][:8]}",
    )
    clock.advance(seconds=hub.settings.task_lease_seconds)
    driver.drain()
    operator_post(client, world, f"/tenants/{tenant['id']}/resend")
    resent = data(queue_of(client, world, tenant["id"]))
    named = [t for t in resent if t["type"] == "data_event"]
    assert named
    assert all(t["app_id"] == f"app-{t['object_id'][:8]}" for t in named)
    assert all(t["data"] == driver.copy[t["object_id"]] for t in named)


def test_the_history_of_a_tenant(
    client: TestClient, hub: Hub, clock: FakeClock, world: World
) -> None:
    tenant = install(client, world)
    other = install(client, world, cloud_id=world.other_cloud_id)
    assert data(history_of(client, world, tenant["id"])) == []

    # The driver answers error to TENANT_INSTALLED, then (later) success to the rest.
    driver = Driver(
        client,
        tenant["client_id"],
        tenant["client_secret"],
        verdict=lambda task: "error",
    )
    driver.drain()
    clock.advance(minutes=1)
    operator_post(client, world, f"/tenants/{tenant['id']}/activate")
    driver.verdict = lambda task: None
    driver.drain()
    Driver(client, other["client_id"], other["client_secret"]).drain()

    # The operator deletes a task through the admin queue, and a retry keeps one queued.
    clock.advance(minutes=1)
    operator_post(client, world, f"/tenants/{tenant['id']}/suspend")
    operator_post(client, world, f"/tenants/{tenant['id']}/activate")
    suspended, activated = data(queue_of(client, world, tenant["id"]))
    response = client.delete(
        f"/v2/interop/data/tasks/admin/{suspended['id']}", headers=world.operator.headers
    )
    assert response.status_code == 204, response.text
    retried = client.put(
        f"/v2/interop/data/tasks/admin/{activated['id']}/ack",
        json={"status": "retry", "message": "later"},
        headers=world.operator.headers,
    )
    data(retried)
    [still] = data(queue_of(client, world, tenant["id"]))
    assert still["id"] == activated["id"]
    assert still["leased_until"] is None
    backoff = dt.timedelta(seconds=hub.settings.task_retry_backoff_seconds)
    assert dt.datetime.fromisoformat(still["available_at"]) == clock() + backoff

    history = every_page(client, world, history_of(client, world, tenant["id"]))
    assert all(set(h) == set(TaskAckOut.model_fields) for h in history)
    assert {h["tenant_id"] for h in history} == {tenant["id"]}
    assert [h["acked_at"] for h in history] == sorted(
        (h["acked_at"] for h in history), reverse=True
    )
    assert [(h["task_id"], h["status"]) for h in history[:2]] == [
        (activated["id"], "retry"),
        (suspended["id"], "deleted"),
    ]
    assert history[0]["message"] == "later"
    operator_subject = f"account:{world.operator.id}"
    assert {h["acked_by"] for h in history[:2]} == {operator_subject}
    oldest = history[-1]
    assert (oldest["action"], oldest["status"], oldest["sequence"]) == (
        "TENANT_INSTALLED",
        "error",
        1,
    )
    assert oldest["message"] == "told to answer error"
    assert {h["acked_by"] for h in history[2:]} == {f"actor:{tenant['actor_id']}"}
    assert {h["status"] for h in history[2:-1]} == {"success"}

    # Newest first, page after page.
    paged = every_page(client, world, history_of(client, world, tenant["id"], page_size=1))
    assert paged == history
    assert data(history_of(client, world, tenant["id"], page=1, page_size=2)) == history[2:4]
    [theirs] = data(history_of(client, world, other["id"]))
    assert theirs["tenant_id"] == other["id"]


def test_an_unknown_tenant(client: TestClient, world: World) -> None:
    missing = str(uuid.uuid4())
    for response in (queue_of(client, world, missing), history_of(client, world, missing)):
        failure = error(response, 404)
        assert failure["code"] == "not_found"
        assert missing in failure["message"]
    error(client.get(f"{PLATFORM}/tenants/not-a-uuid/tasks", headers=world.operator.headers), 400)


def test_only_operators_see_a_tenants_queue(client: TestClient, world: World) -> None:
    tenant = install(client, world)
    actor = {
        "Authorization": f"Bearer {token(client, tenant['client_id'], tenant['client_secret'])}"
    }
    paths = [
        f"{PLATFORM}/tenants/{tenant['id']}/tasks",
        f"{PLATFORM}/tenants/{tenant['id']}/task-history",
    ]
    # The integration's own vendor, the cloud's district and the tenant itself are no operators.
    for headers in (world.vendor.headers, world.district.headers, actor):
        for path in paths:
            failure = error(client.get(path, headers=headers), 403)
            assert failure["code"] == "forbidden"
    for path in paths:
        error(client.get(path), 401)
        error(client.get(path, headers=basic("ihk_nobody.secret")), 401)


def test_the_worker_prunes_the_history(
    client: TestClient, hub: Hub, clock: FakeClock, world: World
) -> None:
    tenant = install(client, world)
    driver = Driver(client, tenant["client_id"], tenant["client_secret"])
    assert driver.drain() == 1  # TENANT_INSTALLED, acknowledged now
    clock.advance(days=20)
    operator_post(client, world, f"/tenants/{tenant['id']}/suspend")
    assert driver.drain() == 1  # TENANT_SUSPENDED, twenty days later

    def kept() -> list[str | None]:
        return [h["action"] for h in data(history_of(client, world, tenant["id"]))]

    # Thirty days (INTEROP_HUB_TASK_HISTORY_DAYS) are kept, to the second.
    assert hub.settings.task_history_days == 30
    clock.advance(days=10)
    assert run_pending(hub) == 0
    assert kept() == ["TENANT_SUSPENDED", "TENANT_INSTALLED"]
    clock.advance(seconds=1)
    run_pending(hub)
    assert kept() == ["TENANT_SUSPENDED"]
    # Each iteration prunes by the setting of the moment (the other ack is now 10 days old).
    hub.settings = hub.settings.model_copy(update={"task_history_days": 11})
    run_pending(hub)
    assert kept() == ["TENANT_SUSPENDED"]
    hub.settings = hub.settings.model_copy(update={"task_history_days": 10})
    run_pending(hub)
    assert kept() == []
    # The queue itself is never pruned.
    operator_post(client, world, f"/tenants/{tenant['id']}/activate")
    clock.advance(days=365)
    run_pending(hub)
    assert [t["action"] for t in data(queue_of(client, world, tenant["id"]))] == [
        "TENANT_ACTIVATED",
        "SYNC_START",
        "SYNC_END",
    ]
