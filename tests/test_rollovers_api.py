"""School-year rollovers (Interop API #36–#41, DESIGN §3.9) and the worker that starts and
completes them, on SQLite and PostgreSQL: every operation, sorting and paging, overlaps,
concurrent modification, not-yours and bad-input cases; rollover mode holding a tenant's data
events, the full sync that ends it, failures and their retries, several workers at once, and a
driver's copy through a rollover."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district, generate_nightly
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from interop_hub.accounts.models import Account
from interop_hub.app import create_app
from interop_hub.clouds.models import Cloud
from interop_hub.ingest.models import Ingestion
from interop_hub.integrations.models import Integration
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import make_sessionmaker, transaction, write_transaction
from interop_hub.kit.settings import Settings
from interop_hub.rollovers import service as rollovers
from interop_hub.rollovers.models import Rollover
from interop_hub.runtime import Hub
from interop_hub.tasks.models import Task
from interop_hub.tenants.models import Tenant
from interop_hub.worker import run_pending
from tests.clock import FakeClock
from tests.conftest import TEST_SECRET, Database
from tests.driver import Driver
from tests.factories import (
    World,
    add_version,
    bearer,
    data,
    error,
    full_blueprint,
    install,
    make_world,
    token,
)
from tests.test_collection_property import BundleSpec, _minimal_bundle, write_bundle
from tests.test_driver_e2e import MEMBERSHIPS, collect
from tests.test_schedules_api import actor_basic, in_threads
from tests.test_tasks_api import renamed

BASE = "/v2/interop/tenant/rollovers"
STATE = "/v2/interop/tenant/state"
TASKS = "/v2/interop/data/tasks"
START = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)  # the FakeClock's start
SORTS = ["name", "type", "start_date", "end_date", "status", "created_at", "updated_at"]


def day(days: float, hours: float = 0) -> str:
    """A moment ``days`` (and ``hours``) after the clock's start, as a client writes it."""
    return (START + dt.timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


def moment(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


@dataclass
class Env:
    client: TestClient
    hub: Hub
    clock: FakeClock
    world: World
    tenant: dict[str, Any]  # installed in world.cloud_id, with its credentials
    headers: dict[str, str]  # the tenant's actor (Basic: survives the clock moving days on)
    other_headers: dict[str, str]  # a tenant of world.other_cloud_id
    tmp: Path

    def create(self, name: str, start: str, end: str, **extra: Any) -> Any:
        body = {"name": name, "start_date": start, "end_date": end, **extra}
        return data(self.client.post(BASE, json=body, headers=self.headers), 201)

    def get(self, rollover_id: str) -> Any:
        return data(self.client.get(f"{BASE}/{rollover_id}", headers=self.headers))

    def put(self, rollover: dict[str, Any], **changes: Any) -> Any:
        """PUT the rollover as read, with ``changes``: the response, unchecked."""
        return self.client.put(
            f"{BASE}/{rollover['id']}", json={**rollover, **changes}, headers=self.headers
        )

    def count(self, headers: dict[str, str] | None = None) -> Any:
        response = self.client.get(f"{BASE}/count", headers=headers or self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> Any:
        return data(self.client.get(STATE, headers=self.headers))

    def operator(self, path: str) -> Any:
        return data(self.client.post(f"/v2/platform{path}", headers=self.world.operator.headers))

    def activate(self, bundle: BundleSpec | None = None) -> None:
        """A first collection, then activation (the initial sync), the queue drained."""
        self.collect(bundle or _minimal_bundle())
        self.operator(f"/tenants/{self.tenant['id']}/activate")
        self.drain()

    def collect(self, bundle: BundleSpec) -> Ingestion:
        return collect(
            self.hub, self.world.cloud_id, write_bundle(self.tmp / uuid.uuid4().hex, bundle)
        )

    def drain(self, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        everything: list[dict[str, Any]] = []
        while batch := data(self.client.get(TASKS, headers=headers or self.headers)):
            acks = [{"task_id": t[t["type"]]["id"], "status": "success"} for t in batch]
            data(self.client.put(f"{TASKS}/ack", json=acks, headers=headers or self.headers))
            everything += batch
        return everything

    def run(self, **advance: float) -> None:
        """Move the clock on, then let the worker run."""
        self.clock.advance(**advance)
        run_pending(self.hub)


def syncs(tasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (t["sync_event"]["action"], t["sync_event"]["origin"])
        for t in tasks
        if t["type"] == "sync_event"
    ]


@pytest.fixture
def env(client: TestClient, hub: Hub, clock: FakeClock, tmp_path: Path) -> Env:
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0"))
    mine = install(client, world, version="2.0")
    theirs = install(client, world, world.other_cloud_id)
    return Env(client, hub, clock, world, mine, actor_basic(mine), actor_basic(theirs), tmp_path)


@pytest.fixture
def active(env: Env) -> Env:
    """``env`` with its tenant activated after a first collection, its queue drained."""
    env.activate()
    return env


# --- create, find, list, count --------------------------------------------------------------


def test_create_returns_the_rollover(env: Env) -> None:
    created = env.create(
        "2026-27",
        day(1),
        day(3),
        type="new_year",
        # What the hub owns, and what a client echoes back, is ignored.
        status="active",
        failure_reason="alreadyInRolloverMode",
        status_change_failure_count=7,
        metadata={"created": None, "updated": None},
        cloud_id=env.world.cloud_id,
        actor_id=env.tenant["actor_id"],
    )
    now = env.clock()
    assert set(created) == {
        "id",
        "cloud_id",
        "actor_id",
        "name",
        "type",
        "start_date",
        "end_date",
        "status",
        "status_change_failure_count",
        "failure_reason",
        "version",
        "metadata",
        "created_at",
        "updated_at",
    }
    assert created["name"] == "2026-27"
    assert created["type"] == "new_year"
    assert (created["status"], created["failure_reason"]) == ("upcoming", None)
    assert created["status_change_failure_count"] == 0
    assert created["version"] == 1
    assert created["cloud_id"] == env.world.cloud_id
    assert created["actor_id"] == env.tenant["actor_id"]
    assert moment(created["start_date"]) == moment(day(1))
    assert moment(created["end_date"]) == moment(day(3))
    assert {k: moment(v) for k, v in created["metadata"].items()} == {
        "created": now,
        "updated": now,
    }
    assert moment(created["created_at"]) == moment(created["updated_at"]) == now
    assert env.get(created["id"]) == created


def test_times_without_an_offset_are_utc_and_others_are_converted(env: Env) -> None:
    created = env.create("x", "2026-09-05T08:00:00", "2026-09-06T10:00:00+02:00")
    assert moment(created["start_date"]) == dt.datetime(2026, 9, 5, 8, tzinfo=dt.UTC)
    assert moment(created["end_date"]) == dt.datetime(2026, 9, 6, 8, tzinfo=dt.UTC)


def test_a_rollover_may_start_in_the_past(env: Env) -> None:
    assert env.create("late", day(-1), day(1))["status"] == "upcoming"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"start_date": day(1), "end_date": day(2)}, "name"),
        ({"name": "  ", "start_date": day(1), "end_date": day(2)}, "name"),
        ({"name": "x" * 201, "start_date": day(1), "end_date": day(2)}, "name"),
        ({"name": "x", "type": "old_year", "start_date": day(1), "end_date": day(2)}, "type"),
        ({"name": "x", "end_date": day(2)}, "start_date"),
        ({"name": "x", "start_date": "soon", "end_date": day(2)}, "start_date"),
        ({"name": "x", "start_date": day(2), "end_date": day(1)}, "end_date must be after"),
        ({"name": "x", "start_date": day(2), "end_date": day(2)}, "end_date must be after"),
        ({"name": "x", "start_date": day(-3), "end_date": day(-1)}, "has passed"),
    ],
)
def test_create_rejects_a_bad_body(env: Env, body: dict[str, Any], where: str) -> None:
    err = error(env.client.post(BASE, json=body, headers=env.headers), 400)
    assert where in err["message"]
    assert env.count() == 0


def test_create_refuses_another_cloud_or_actor(env: Env) -> None:
    body = {"name": "x", "start_date": day(1), "end_date": day(2)}
    theirs = {"cloud_id": env.world.other_cloud_id}
    err = error(env.client.post(BASE, json=body | theirs, headers=env.headers), 400)
    assert err["code"] == "not_your_cloud"
    other_actor = {"actor_id": str(uuid.uuid4())}
    err = error(env.client.post(BASE, json=body | other_actor, headers=env.headers), 400)
    assert err["code"] == "not_your_actor"
    error(env.client.post(BASE, content=b"name=x", headers=env.headers), 400)
    assert env.count() == 0


def test_list_count_and_find(env: Env) -> None:
    made = [env.create(f"r{i}", day(10 * i + 1), day(10 * i + 2)) for i in (2, 0, 1)]
    data(
        env.client.post(
            BASE,
            json={"name": "theirs", "start_date": day(1), "end_date": day(2)},
            headers=env.other_headers,
        ),
        201,
    )
    body = env.client.get(BASE, headers=env.headers).json()
    # By start_date unless told otherwise.
    assert [item["name"] for item in body["data"]] == ["r0", "r1", "r2"]
    assert body["paging"] == {"next": None}
    assert env.count() == 3
    assert env.count(env.other_headers) == 1
    assert env.get(made[0]["id"]) == made[0]
    # The same with a bearer token for the tenant's credentials.
    tenant_bearer = bearer(token(env.client, env.tenant["client_id"], env.tenant["client_secret"]))
    assert data(env.client.get(f"{BASE}/{made[1]['id']}", headers=tenant_bearer)) == made[1]


def walk(env: Env, **params: Any) -> list[str]:
    """The names of every page of the list, following ``paging.next``."""
    names: list[str] = []
    body = env.client.get(BASE, params=params, headers=env.headers).json()
    for _ in range(100):
        names += [item["name"] for item in body["data"]]
        if body["paging"]["next"] is None:
            return names
        body = env.client.get(body["paging"]["next"], headers=env.headers).json()
    raise AssertionError(f"paging does not end: {names[:12]}")


def test_sort_and_page(env: Env) -> None:
    # Created in this order, a minute apart; windows in another order; names in a third.
    for name, start in (("bravo", 30), ("delta", 10), ("alpha", 20), ("charlie", 40)):
        env.create(name, day(start), day(start + 1))
        env.clock.advance(minutes=1)
    by_start = ["delta", "alpha", "bravo", "charlie"]
    created = ["bravo", "delta", "alpha", "charlie"]
    expected = {
        None: by_start,
        "start_date": by_start,
        "-start_date": by_start[::-1],
        "end_date": by_start,
        "name": ["alpha", "bravo", "charlie", "delta"],
        "-name": ["delta", "charlie", "bravo", "alpha"],
        "created_at": created,
        "-created_at": created[::-1],
        "-updated_at": created[::-1],
    }
    for sort, names in expected.items():
        params = {"sort": sort} if sort else {}
        assert walk(env, **params) == names, sort
        # Page by page: the keyset cursor carries the sort key (a text, a timestamp).
        assert walk(env, page_size=1, **params) == names, sort
        assert walk(env, page_size=3, **params) == names, sort
    # Ties (one type, one status) are broken by id: creation order.
    assert walk(env, sort="type", page_size=1) == created
    assert walk(env, sort="-status", page_size=2) == created[::-1]


@pytest.mark.parametrize("sort", ["colour", "-", "--name", "metadata.created"])
def test_an_unknown_sort_field_is_400_naming_the_valid_ones(env: Env, sort: str) -> None:
    env.create("x", day(1), day(2))
    err = error(env.client.get(BASE, params={"sort": sort}, headers=env.headers), 400)
    assert err["code"] == "invalid_sort"
    for field in SORTS:
        assert field in err["message"]
    assert err["details"]["valid"] == SORTS


def test_a_cursor_that_is_not_ours_is_400(env: Env) -> None:
    env.create("x", day(1), day(2))
    err = error(
        env.client.get(BASE, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=env.headers), 400
    )
    assert err["code"] == "invalid_cursor"


# --- overlaps -------------------------------------------------------------------------------


def test_overlapping_windows_are_409(env: Env) -> None:
    first = env.create("first", day(10), day(20))
    for start, end in (
        (day(15), day(25)),
        (day(5), day(11)),
        (day(12), day(13)),
        (day(1), day(30)),
    ):
        body = {"name": "second", "start_date": start, "end_date": end}
        err = error(env.client.post(BASE, json=body, headers=env.headers), 409)
        assert err["code"] == "rollover_overlap"
        assert err["details"]["rollover_id"] == first["id"]
        assert "overlaps" in err["message"]
    # A window is [start, end): touching ones do not overlap.
    env.create("before", day(5), day(10))
    env.create("after", day(20), day(25))
    # Another tenant's windows are its own.
    data(
        env.client.post(
            BASE,
            json={"name": "theirs", "start_date": day(10), "end_date": day(20)},
            headers=env.other_headers,
        ),
        201,
    )
    assert env.count() == 3


def test_an_update_that_overlaps_is_409(env: Env) -> None:
    env.create("first", day(10), day(20))
    second = env.create("second", day(30), day(40))
    err = error(env.put(second, start_date=day(19)), 409)
    assert err["code"] == "rollover_overlap"
    # Its own old window does not count.
    assert data(env.put(second, start_date=day(25), end_date=day(35)))["version"] == 2


def test_a_completed_rollover_no_longer_holds_its_window(active: Env) -> None:
    done = active.create("done", day(0, 1), day(0, 2))
    active.run(hours=2)
    assert active.get(done["id"])["status"] == "completed"
    # A new window may start in the past, over the completed one's.
    active.create("again", day(0, 1), day(1))


def test_a_failed_rollover_holds_its_window_until_it_is_deleted(env: Env) -> None:
    failed = env.create("failed", day(0, 1), day(2))
    env.run(hours=1)  # the tenant is not active: it fails, and may be tried again
    assert env.get(failed["id"])["status"] == "failed"
    body = {"name": "new", "start_date": day(1), "end_date": day(3)}
    details = error(env.client.post(BASE, json=body, headers=env.headers), 409)["details"]
    assert (details["rollover_id"], details["status"]) == (failed["id"], "failed")
    assert moment(details["start_date"]) == moment(day(0, 1))
    assert moment(details["end_date"]) == moment(day(2))
    assert env.client.delete(f"{BASE}/{failed['id']}", headers=env.headers).status_code == 204
    data(env.client.post(BASE, json=body, headers=env.headers), 201)


# --- update ---------------------------------------------------------------------------------


def test_update_with_the_version_read(env: Env) -> None:
    made = env.create("2026-27", day(10), day(20))
    env.clock.advance(minutes=5)
    updated = data(env.put(made, name="2026/27", start_date=day(11), end_date=day(21)))
    assert (updated["name"], updated["version"], updated["status"]) == ("2026/27", 2, "upcoming")
    assert moment(updated["start_date"]) == moment(day(11))
    assert moment(updated["end_date"]) == moment(day(21))
    assert moment(updated["updated_at"]) == moment(updated["metadata"]["updated"]) == env.clock()
    assert moment(updated["created_at"]) == moment(made["created_at"])
    assert env.get(made["id"]) == updated
    # A client that echoes what it read back, with the version it read.
    again = data(env.put(updated, name="Next year"))
    assert (again["name"], again["version"]) == ("Next year", 3)


def test_an_update_with_a_stale_version_is_409_and_changes_nothing(env: Env) -> None:
    made = env.create("2026-27", day(10), day(20))
    first = data(env.put(made, name="one"))
    err = error(env.put(made, name="two"), 409)  # still version 1
    assert err["code"] == "version_mismatch"
    assert err["details"] == {"version": 2}
    assert "changed since it was read" in err["message"]
    assert env.get(made["id"]) == first


@pytest.mark.parametrize("version", [None, "1", 0, 1.5])
def test_an_update_needs_a_version(env: Env, version: Any) -> None:
    made = env.create("2026-27", day(10), day(20))
    body = {k: v for k, v in made.items() if k != "version"}
    if version is not None:
        body["version"] = version
    err = error(env.client.put(f"{BASE}/{made['id']}", json=body, headers=env.headers), 400)
    assert "version" in err["message"]
    assert env.get(made["id"]) == made


def test_an_update_rejects_a_bad_window(env: Env) -> None:
    made = env.create("2026-27", day(10), day(20))
    assert "end_date must be after" in error(env.put(made, end_date=day(9)), 400)["message"]
    assert error(env.put(made, start_date=day(-2), end_date=day(-1)), 400)["code"] == (
        "window_over"
    )
    assert error(env.put(made, cloud_id=env.world.other_cloud_id), 400)["code"] == (
        "not_your_cloud"
    )
    assert env.get(made["id"]) == made


def test_the_version_check_is_atomic(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another transaction changes the rollover after this update read it and before it writes:
    the conditional update matches nothing, and the update is refused (no lost update)."""
    made = env.create("2026-27", day(10), day(20))
    refuse_overlap = rollovers._refuse_overlap

    def meanwhile(session: Any, tenant: Any, body: Any, itself: Any) -> None:
        refuse_overlap(session, tenant, body, itself)
        session.execute(
            update(Rollover)
            .where(Rollover.id == itself)
            .values(name="theirs", version=Rollover.version + 1)
            .execution_options(synchronize_session=False)  # as another transaction's would
        )

    monkeypatch.setattr(rollovers, "_refuse_overlap", meanwhile)
    err = error(env.put(made, name="mine"), 409)
    assert (err["code"], err["details"]) == ("version_mismatch", {"version": 2})
    monkeypatch.undo()
    # The request's transaction was rolled back, the other change with it here; what counts
    # is that "mine" was never written over "theirs".
    assert env.get(made["id"])["name"] == "2026-27"


def test_an_active_rollover_keeps_its_start(active: Env) -> None:
    made = active.create("2026-27", day(0, 1), day(5))
    active.run(hours=1)
    current = active.get(made["id"])
    assert (current["status"], current["version"]) == ("active", 2)
    err = error(active.put(current, start_date=day(0, 2)), 409)
    assert err["code"] == "rollover_started"
    assert moment(err["details"]["start_date"]) == moment(current["start_date"])
    # Its name and end can change; the update does not touch its status.
    updated = data(active.put(current, name="renamed", end_date=day(6)))
    assert (updated["status"], updated["version"], updated["name"]) == ("active", 3, "renamed")
    # Moving the end to the past ends it at the worker's next run.
    active.clock.advance(minutes=30)
    ended = data(active.put(updated, end_date=day(0, 1.25)))
    assert ended["status"] == "active"
    active.run(minutes=1)
    assert active.get(made["id"])["status"] == "completed"


def test_a_completed_rollover_cannot_change(active: Env) -> None:
    made = active.create("2026-27", day(0, 1), day(0, 2))
    active.run(hours=2)
    done = active.get(made["id"])
    assert done["status"] == "completed"
    err = error(active.put(done, name="again"), 409)
    assert err["code"] == "rollover_completed"
    assert active.get(made["id"]) == done


def test_updating_a_failed_rollover_rearms_it(env: Env) -> None:
    made = env.create("2026-27", day(0, 1), day(5))
    env.run(hours=1)
    failed = env.get(made["id"])
    assert (failed["status"], failed["status_change_failure_count"]) == ("failed", 1)
    rearmed = data(env.put(failed, start_date=day(1)))
    assert rearmed["status"] == "upcoming"
    assert (rearmed["failure_reason"], rearmed["status_change_failure_count"]) == (None, 0)


# --- delete ---------------------------------------------------------------------------------


def test_delete(env: Env) -> None:
    made = env.create("2026-27", day(10), day(20))
    response = env.client.delete(f"{BASE}/{made['id']}", headers=env.headers)
    assert response.status_code == 204
    assert response.content == b""
    error(env.client.get(f"{BASE}/{made['id']}", headers=env.headers), 404)
    error(env.client.delete(f"{BASE}/{made['id']}", headers=env.headers), 404)
    assert env.count() == 0
    env.create("again", day(10), day(20))  # the window is free again


def test_deleting_an_active_rollover_is_409(active: Env) -> None:
    made = active.create("2026-27", day(0, 1), day(0, 3))
    active.run(hours=1)
    err = error(active.client.delete(f"{BASE}/{made['id']}", headers=active.headers), 409)
    assert err["code"] == "rollover_active"
    assert active.get(made["id"])["status"] == "active"
    # Once completed it may go; the tenant stays out of rollover mode.
    active.run(hours=2)
    assert active.client.delete(f"{BASE}/{made['id']}", headers=active.headers).status_code == 204
    assert active.state()["rollover_mode_enabled"] is False


# --- not yours, not allowed, not found ------------------------------------------------------


def test_another_tenants_rollover_is_404(env: Env) -> None:
    theirs = data(
        env.client.post(
            BASE,
            json={"name": "theirs", "start_date": day(1), "end_date": day(2)},
            headers=env.other_headers,
        ),
        201,
    )
    path = f"{BASE}/{theirs['id']}"
    for response in (
        env.client.get(path, headers=env.headers),
        env.client.put(path, json={**theirs, "name": "mine"}, headers=env.headers),
        env.client.delete(path, headers=env.headers),
    ):
        assert "not found" in error(response, 404)["message"]
    assert data(env.client.get(BASE, headers=env.headers)) == []
    assert env.count() == 0
    assert data(env.client.get(path, headers=env.other_headers)) == theirs


def test_an_unknown_or_malformed_id(env: Env) -> None:
    error(env.client.get(f"{BASE}/{uuid.uuid4()}", headers=env.headers), 404)
    error(env.client.delete(f"{BASE}/{uuid.uuid4()}", headers=env.headers), 404)
    body = {"name": "x", "start_date": day(1), "end_date": day(2), "version": 1}
    error(env.client.put(f"{BASE}/{uuid.uuid4()}", json=body, headers=env.headers), 404)
    error(env.client.get(f"{BASE}/not-a-uuid", headers=env.headers), 400)


def operations(rollover: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    path = f"{BASE}/{rollover['id']}"
    return [
        ("GET", BASE, None),
        ("POST", BASE, {"name": "x", "start_date": day(30), "end_date": day(31)}),
        ("GET", f"{BASE}/count", None),
        ("GET", path, None),
        ("PUT", path, {**rollover, "name": "changed"}),
        ("DELETE", path, None),
    ]


def test_account_credentials_are_403(env: Env) -> None:
    made = env.create("2026-27", day(10), day(20))
    for account in (env.world.district, env.world.operator, env.world.vendor):
        for method, path, body in operations(made):
            response = env.client.request(method, path, json=body, headers=account.headers)
            assert error(response, 403)["code"] == "actor_required", (method, path)
    assert env.get(made["id"]) == made


def test_no_credentials_are_401(env: Env) -> None:
    made = env.create("2026-27", day(10), day(20))
    for method, path, body in operations(made):
        error(env.client.request(method, path, json=body), 401)
        wrong = {"Authorization": "Bearer not-a-token"}
        error(env.client.request(method, path, json=body, headers=wrong), 401)


def test_the_openapi_documents_the_concurrency_check(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    put = spec["paths"][f"{BASE}/{{id}}"]["put"]
    assert "version" in put["description"]
    assert "409" in put["responses"]
    assert "409" in spec["paths"][BASE]["post"]["responses"]
    assert "409" in spec["paths"][f"{BASE}/{{id}}"]["delete"]["responses"]


# --- the worker -----------------------------------------------------------------------------


def test_the_worker_starts_and_completes_a_rollover(active: Env) -> None:
    made = active.create("2026-27", day(1), day(3))
    active.run(hours=23)  # not yet
    assert active.get(made["id"])["status"] == "upcoming"
    assert active.state()["rollover_mode_enabled"] is False
    active.run(hours=1)
    started = active.get(made["id"])
    assert (started["status"], started["version"], started["failure_reason"]) == ("active", 2, None)
    assert moment(started["updated_at"]) == active.clock()
    state = active.state()
    assert state["rollover_mode_enabled"] is True
    assert "rollover is active" in state["reason"]
    assert state["synchronization_suspended"] is False
    assert active.drain() == []  # starting sends nothing
    active.run(days=1)
    assert active.get(made["id"])["status"] == "active"
    active.run(days=1)
    done = active.get(made["id"])
    assert (done["status"], done["version"]) == ("completed", 3)
    assert active.state()["rollover_mode_enabled"] is False
    assert active.state()["reason"] is None
    # One full sync brings the tenant to the state of now.
    tasks = active.drain()
    assert syncs(tasks) == [("SYNC_START", "rollover"), ("SYNC_END", "rollover")]
    types = [t["data_event"]["object_type"] for t in tasks if t["type"] == "data_event"]
    assert types == ["LEA", "School", "Term", "Course", "Student", "Section"]
    # Nothing more happens.
    active.run(days=30)
    assert active.get(made["id"]) == done
    assert active.drain() == []


def test_a_collection_during_a_rollover_sends_the_tenant_nothing(active: Env) -> None:
    active.create("2026-27", day(0, 1), day(2))
    active.run(hours=1)
    held = active.collect(renamed(_minimal_bundle(), given="Zed"))
    assert held.details.get("tasks_queued", 0) == 0
    assert active.drain() == []
    # The Repository moved all the same: the query API shows it.
    students = data(
        active.client.get("/v2/interop/data/rostering/students", headers=active.headers)
    )
    assert [s["name"]["first"] for s in students] == ["Zed"]
    active.run(days=2)
    tasks = active.drain()
    assert syncs(tasks) == [("SYNC_START", "rollover"), ("SYNC_END", "rollover")]
    [student] = [
        t["data_event"]
        for t in tasks
        if t["type"] == "data_event" and t["data_event"]["object_type"] == "Student"
    ]
    assert (student["action"], student["data"]["name"]["first"]) == ("ADD", "Zed")
    # After it, collections are sent again.
    active.collect(renamed(_minimal_bundle(), given="Ann"))
    after = active.drain()
    assert syncs(after) == [("SYNC_START", "ingestion"), ("SYNC_END", "ingestion")]


def second_tenant(env: Env) -> dict[str, str]:
    """Another integration installed and activated in the same cloud: the Basic headers of its
    actor."""
    integration = data(
        env.client.post(
            "/v2/interop/integrations",
            json={"name": "globex-sis", "title": "Globex"},
            headers=env.world.vendor.headers,
        )
    )
    data(
        env.client.post(
            f"/v2/interop/integrations/{integration['id']}/versions",
            content=full_blueprint("1.0"),
            headers={**env.world.vendor.headers, "Content-Type": "application/xml"},
        )
    )
    installed = data(
        env.client.post(
            "/v2/platform/tenants",
            json={"cloud_id": env.world.cloud_id, "integration_id": integration["id"]},
            headers=env.world.operator.headers,
        ),
        201,
    )
    env.operator(f"/tenants/{installed['id']}/activate")
    headers = actor_basic(installed)
    env.drain(headers)
    return headers


def test_only_the_tenant_in_rollover_is_held(active: Env) -> None:
    other = second_tenant(active)
    active.create("2026-27", day(0, 1), day(2))
    active.run(hours=1)
    active.collect(renamed(_minimal_bundle()))
    assert active.drain() == []
    assert syncs(active.drain(other)) == [("SYNC_START", "ingestion"), ("SYNC_END", "ingestion")]
    assert data(active.client.get(STATE, headers=other))["rollover_mode_enabled"] is False


def test_a_rollover_of_a_tenant_that_is_not_active_fails_and_is_retried(env: Env) -> None:
    settings = env.hub.settings
    made = env.create("2026-27", day(0, 1), day(5))
    env.run(hours=1)  # installed, in setup: not active
    failed = env.get(made["id"])
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "tenantNotActive"
    assert (failed["status_change_failure_count"], failed["version"]) == (1, 2)
    assert env.state()["rollover_mode_enabled"] is False
    # The next runs wait for the retry delay.
    env.run(seconds=settings.rollover_retry_seconds - 1)
    assert env.get(made["id"]) == failed
    env.run(seconds=1)
    assert env.get(made["id"])["status_change_failure_count"] == 2
    # Once the tenant is active, the next attempt starts it.
    env.activate()
    env.run(seconds=settings.rollover_retry_seconds)
    started = env.get(made["id"])
    assert (started["status"], started["failure_reason"]) == ("active", None)
    assert started["status_change_failure_count"] == 2  # the failed attempts stay counted
    assert env.state()["rollover_mode_enabled"] is True


def test_a_failed_rollover_stays_failed_after_the_last_attempt(env: Env) -> None:
    settings = env.hub.settings
    made = env.create("2026-27", day(0, 1), day(30))
    env.run(hours=1)
    for _ in range(settings.rollover_max_attempts + 3):
        env.run(seconds=settings.rollover_retry_seconds)
    failed = env.get(made["id"])
    assert failed["status"] == "failed"
    assert failed["status_change_failure_count"] == settings.rollover_max_attempts
    env.activate()
    env.run(days=1)
    assert env.get(made["id"]) == failed
    assert env.state()["rollover_mode_enabled"] is False


def test_a_failed_rollover_is_not_retried_after_its_window(env: Env) -> None:
    made = env.create("2026-27", day(0, 1), day(0, 2))
    env.run(hours=1)
    env.activate()
    env.run(hours=5)
    failed = env.get(made["id"])
    assert (failed["status"], failed["status_change_failure_count"]) == ("failed", 1)


def test_a_tenant_already_in_rollover_mode_fails_the_start(active: Env) -> None:
    """The tenant found in rollover mode when a rollover is due (set by other means here: the
    hub's own rules keep two rollovers of a tenant from overlapping): the start fails."""
    made = active.create("2026-27", day(0, 1), day(5))
    with write_transaction(active.hub.sessions) as session:
        session.execute(
            update(Tenant)
            .where(Tenant.id == uuid.UUID(active.tenant["id"]))
            .values(rollover_mode_enabled=True)
        )
    active.run(hours=1)
    failed = active.get(made["id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "alreadyInRolloverMode")
    assert failed["status_change_failure_count"] == 1


def test_a_window_missed_by_the_worker_starts_and_completes_in_one_run(active: Env) -> None:
    first = active.create("first", day(1), day(2))
    second = active.create("second", day(3), day(4))
    active.clock.advance(days=10)
    assert rollovers.run_due_rollovers(active.hub) == 4
    assert [active.get(r["id"])["status"] for r in (first, second)] == ["completed"] * 2
    assert active.state()["rollover_mode_enabled"] is False
    # One full sync for both.
    assert syncs(active.drain()) == [("SYNC_START", "rollover"), ("SYNC_END", "rollover")]


def test_back_to_back_rollovers_hand_over_in_one_run(active: Env) -> None:
    first = active.create("first", day(1), day(2))
    second = active.create("second", day(2), day(3))
    active.run(days=1)
    assert active.get(first["id"])["status"] == "active"
    active.run(days=1)
    assert [active.get(r["id"])["status"] for r in (first, second)] == ["completed", "active"]
    assert active.get(second["id"])["failure_reason"] is None
    assert active.state()["rollover_mode_enabled"] is True
    assert syncs(active.drain()) == [("SYNC_START", "rollover"), ("SYNC_END", "rollover")]


def test_completion_sends_nothing_to_an_uninstalled_tenant(active: Env) -> None:
    made = active.create("2026-27", day(0, 1), day(1))
    active.run(hours=1)
    active.operator(f"/tenants/{active.tenant['id']}/uninstall")
    active.run(days=1)
    assert rollovers.run_due_rollovers(active.hub) == 0
    with transaction(active.hub.sessions) as session:
        rollover = session.get(Rollover, uuid.UUID(made["id"]))
        assert rollover is not None
        assert rollover.status == "completed"
        tenant = session.get(Tenant, uuid.UUID(active.tenant["id"]))
        assert tenant is not None
        assert tenant.rollover_mode_enabled is False
        origins = session.scalars(
            select(Task.origin).where(Task.tenant_id == tenant.id, Task.origin == "rollover")
        ).all()
    assert origins == []


def test_a_suspended_tenant_gets_its_sync_queued(active: Env) -> None:
    made = active.create("2026-27", day(0, 1), day(1))
    active.run(hours=1)
    active.operator(f"/tenants/{active.tenant['id']}/suspend")
    active.run(days=1)
    assert active.get(made["id"])["status"] == "completed"
    active.operator(f"/tenants/{active.tenant['id']}/activate")
    assert syncs(active.drain()) == [("SYNC_START", "rollover"), ("SYNC_END", "rollover")]


def test_a_rollover_deleted_while_a_worker_holds_it_is_left_alone(
    active: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker read the rollover due; a client deletes it before the worker's claim: the
    conditional update matches nothing and the tenant is not put in rollover mode."""
    made = active.create("2026-27", day(0, 1), day(5))
    active.clock.advance(hours=1)
    cannot_start = rollovers._cannot_start

    def meanwhile(tenant: Tenant) -> str | None:
        session = Session.object_session(tenant)
        assert session is not None
        session.execute(delete(Rollover).where(Rollover.id == uuid.UUID(made["id"])))
        return cannot_start(tenant)

    monkeypatch.setattr(rollovers, "_cannot_start", meanwhile)
    assert rollovers.run_due_rollovers(active.hub) == 0
    assert active.state()["rollover_mode_enabled"] is False


# --- several workers at once (committed data, cleaned up) -----------------------------------


@dataclass
class Committed:
    hub: Hub
    client: TestClient
    headers: dict[str, str]
    tenant_id: str


@pytest.fixture
def committed(database: Database, tmp_path: Path) -> Iterator[Committed]:
    """An active tenant with a rollover from 13:00 to 14:00, committed on the shared test
    database (the ``db`` fixture's rolled-back transaction would hide one worker's rows from
    another), and deleted afterwards."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url="sqlite://", secret_key=TEST_SECRET
    )
    keyring = Keyring.from_secret(TEST_SECRET)
    hub = Hub(settings, keyring, database.engine, make_sessionmaker(database.engine), FakeClock())
    with TestClient(create_app(hub), base_url="http://testserver") as client:
        world = make_world(client, hub)
        try:
            tenant = install(client, world)
            path = write_bundle(tmp_path / "bundle", _minimal_bundle())
            collect(hub, world.cloud_id, path)
            data(
                client.post(
                    f"/v2/platform/tenants/{tenant['id']}/activate",
                    headers=world.operator.headers,
                )
            )
            headers = actor_basic(tenant)
            data(
                client.post(
                    BASE,
                    json={"name": "2026-27", "start_date": day(0, 1), "end_date": day(0, 2)},
                    headers=headers,
                ),
                201,
            )
            yield Committed(hub, client, headers, tenant["id"])
        finally:
            with write_transaction(hub.sessions) as session:
                clouds = [uuid.UUID(world.cloud_id), uuid.UUID(world.other_cloud_id)]
                session.execute(delete(Cloud).where(Cloud.id.in_(clouds)))
                session.execute(
                    delete(Integration).where(Integration.id == uuid.UUID(world.integration_id))
                )
                accounts = [
                    a.id
                    for a in (
                        world.operator,
                        world.vendor,
                        world.other_vendor,
                        world.district,
                        world.other_district,
                    )
                ]
                session.execute(delete(Account).where(Account.id.in_(accounts)))


def rollover_syncs(hub: Hub, tenant_id: str) -> int:
    with transaction(hub.sessions) as session:
        return len(
            session.scalars(
                select(Task.id).where(
                    Task.tenant_id == uuid.UUID(tenant_id),
                    Task.origin == "rollover",
                    Task.action == "SYNC_START",
                )
            ).all()
        )


def test_concurrent_workers_move_a_rollover_once(committed: Committed) -> None:
    hub, clock = committed.hub, committed.hub.clock
    assert isinstance(clock, FakeClock)
    barrier = threading.Barrier(4)

    def worker() -> int:
        barrier.wait()
        return rollovers.run_due_rollovers(hub)

    clock.advance(hours=1)
    assert sorted(in_threads(4, worker)) == [0, 0, 0, 1]
    [rollover] = data(committed.client.get(BASE, headers=committed.headers))
    assert (rollover["status"], rollover["version"]) == ("active", 2)
    clock.advance(hours=1)
    assert sorted(in_threads(4, worker)) == [0, 0, 0, 1]
    [rollover] = data(committed.client.get(BASE, headers=committed.headers))
    assert (rollover["status"], rollover["version"]) == ("completed", 3)
    assert rollover_syncs(hub, committed.tenant_id) == 1


def test_concurrent_requests_one_wins(committed: Committed) -> None:
    """Two clients update the rollover from the same version at once: one is applied, the other
    is refused (409), never both. Two clients create overlapping rollovers at once: one is
    created, the other is refused."""
    client, headers = committed.client, committed.headers
    [rollover] = data(client.get(BASE, headers=headers))
    barrier = threading.Barrier(2)
    names = iter(("first", "second"))
    lock = threading.Lock()

    def put() -> tuple[int, str]:
        with lock:
            name = next(names)
        barrier.wait()
        response = client.put(
            f"{BASE}/{rollover['id']}", json={**rollover, "name": name}, headers=headers
        )
        return response.status_code, name

    results = in_threads(2, put)
    assert sorted(status for status, _ in results) == [200, 409]
    [winner] = [name for status, name in results if status == 200]
    assert data(client.get(f"{BASE}/{rollover['id']}", headers=headers))["name"] == winner

    windows = iter(((day(3), day(5)), (day(4), day(6))))

    def post() -> int:
        with lock:
            start, end = next(windows)
        barrier.wait()
        body = {"name": "next", "start_date": start, "end_date": end}
        status: int = client.post(BASE, json=body, headers=headers).status_code
        return status

    assert sorted(in_threads(2, post)) == [201, 409]
    assert client.get(f"{BASE}/count", headers=headers).json() == 2


def test_two_workers_that_both_saw_a_rollover_due_move_it_once(
    committed: Committed, database: Database
) -> None:
    """Both workers find the tenant due, then race inside open transactions: on PostgreSQL the
    loser waits for the winner's locks, then finds nothing left to do."""
    if database.backend != "postgresql":
        pytest.skip("SQLite serializes writers at BEGIN IMMEDIATE; no interleaving to force")
    hub = committed.hub
    assert isinstance(hub.clock, FakeClock)
    hub.clock.advance(hours=2)  # the whole window has passed: start and complete
    barrier = threading.Barrier(2)

    def worker() -> int:
        with transaction(hub.sessions) as session:
            [tenant_id] = rollovers.due_tenants(session, hub.now(), hub.settings)
        with write_transaction(hub.sessions) as session:
            barrier.wait()
            return rollovers.advance_tenant(session, tenant_id, hub.now(), hub.settings)

    assert sorted(in_threads(2, worker)) == [0, 2]
    assert rollover_syncs(hub, committed.tenant_id) == 1


# --- a driver through a rollover ------------------------------------------------------------


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rollover")
    generate_district(root / "night1", students=30, seed=21)
    generate_nightly(root / "night1", root / "night2", seed=22, change_rate=0.05)
    return root / "night1", root / "night2"


def test_a_driver_copy_through_a_rollover(
    client: TestClient, hub: Hub, clock: FakeClock, nights: tuple[Path, Path]
) -> None:
    """A collection during an active rollover sends nothing (the driver's copy keeps the old
    year while the query API shows the new one); the rollover's completion brings the copy to
    exactly what the query API returns."""
    night1, night2 = nights
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0", extra=MEMBERSHIPS))
    tenant = install(client, world, version="2.0")
    driver = Driver(client, tenant["client_id"], tenant["client_secret"])
    headers = actor_basic(tenant)
    collect(hub, world.cloud_id, night1)
    data(
        client.post(f"/v2/platform/tenants/{tenant['id']}/activate", headers=world.operator.headers)
    )
    driver.drain()
    assert driver.objects() == driver.query_api()

    rollover = data(
        client.post(
            BASE,
            json={"name": "2026-27", "start_date": day(0, 1), "end_date": day(2)},
            headers=headers,
        ),
        201,
    )
    clock.advance(hours=1)
    run_pending(hub)
    assert data(client.get(STATE, headers=headers))["rollover_mode_enabled"] is True

    before = len(driver.seen)
    done = collect(hub, world.cloud_id, night2)
    assert done.objects_updated + done.objects_deleted > 0
    assert driver.drain() == 0
    assert driver.objects() != driver.query_api()  # held: the copy is last year's

    clock.advance(days=2)
    run_pending(hub)
    assert data(client.get(f"{BASE}/{rollover['id']}", headers=headers))["status"] == "completed"
    assert driver.drain() > 0
    rolled = driver.seen[before:]
    assert syncs(rolled) == [("SYNC_START", "rollover"), ("SYNC_END", "rollover")]
    assert {t["data_event"]["action"] for t in rolled if t["type"] == "data_event"} == {"ADD"}
    assert driver.objects() == driver.query_api()
    types = set(driver.types.values())
    assert {"StudentSectionEnrollment", "TeacherSectionEnrollment"} <= types
