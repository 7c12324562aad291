"""Collection schedules (Interop API #42–#48) and the worker that runs them, on SQLite and
PostgreSQL: every operation, not-yours and bad-input cases, the run rules, and ticks that run
exactly once even with several workers."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bench.generate_district import generate_district
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from interop_hub.accounts.models import Account
from interop_hub.clouds import service as clouds
from interop_hub.clouds.models import Cloud
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import make_sessionmaker, transaction, write_transaction
from interop_hub.kit.settings import Settings
from interop_hub.runtime import Hub
from interop_hub.schedules import service as schedules
from interop_hub.schedules.models import Schedule, ScheduleTick
from interop_hub.worker import run_pending
from tests.clock import FakeClock
from tests.conftest import TEST_SECRET, Database
from tests.factories import World, bearer, data, error, install, make_world, token

BASE = "/v2/interop/tenant/schedules"


@pytest.fixture(scope="session")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schedules") / "district"
    generate_district(out, students=60, seed=11)
    return out


@dataclass
class Env:
    world: World
    headers: dict[str, str]  # an actor (tenant) of world.cloud_id
    other_headers: dict[str, str]  # an actor (tenant) of world.other_cloud_id
    tenant: dict[str, Any]  # the installed tenant of world.cloud_id, with its credentials

    def create(self, client: TestClient, hour: int, headers: dict[str, str] | None = None) -> Any:
        return data(client.post(BASE, json={"hour": hour}, headers=headers or self.headers), 201)


def add_connector(client: TestClient, world: World, cloud_id: str, source: Path) -> None:
    data(
        client.post(
            f"/v2/platform/clouds/{cloud_id}/connectors",
            json={"type": "oneroster-csv", "source": str(source)},
            headers=world.operator.headers,
        ),
        201,
    )


def actor_basic(installed: dict[str, Any]) -> dict[str, str]:
    """Basic with the actor's client id and secret: unlike a token it does not expire when a
    test moves the clock a day on."""
    pair = f"{installed['client_id']}:{installed['client_secret']}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


@pytest.fixture
def env(client: TestClient, hub: Hub) -> Env:
    world = make_world(client, hub)
    mine = install(client, world)
    theirs = install(client, world, world.other_cloud_id)
    return Env(world, actor_basic(mine), actor_basic(theirs), mine)


@pytest.fixture
def connected(client: TestClient, env: Env, district: Path) -> Env:
    """``env`` whose cloud has a connector reading the generated district."""
    add_connector(client, env.world, env.world.cloud_id, district)
    return env


def count(client: TestClient, headers: dict[str, str]) -> Any:
    response = client.get(f"{BASE}/count", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ingestions(client: TestClient, env: Env) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = data(
        client.get("/v2/interop/ingestions", headers=env.world.district.headers)
    )
    return items


# --- create, list, count, find --------------------------------------------------------------


def test_create_takes_only_the_hour(client: TestClient, env: Env, hub: Hub) -> None:
    created = data(
        client.post(
            BASE,
            json={"hour": 3, "enabled": False, "days": "weekly", "type": "mirror"},
            headers=env.headers,
        ),
        201,
    )
    assert created["hour"] == 3
    assert created["type"] == "collection"
    assert created["days"] == "daily"
    assert created["enabled"] is True
    assert created["last_executed_at"] is None
    assert created["metadata"] is None
    assert created["cloud_id"] == env.world.cloud_id
    assert dt.datetime.fromisoformat(created["created_at"]) == hub.now()
    uuid.UUID(created["id"])


@pytest.mark.parametrize("hour", [0, 23])
def test_create_accepts_the_bounds(client: TestClient, env: Env, hour: int) -> None:
    assert env.create(client, hour)["hour"] == hour


@pytest.mark.parametrize(
    "body",
    [{"hour": 24}, {"hour": -1}, {"hour": "x"}, {"hour": "3"}, {"hour": 2.5}, {"hour": None}, {}],
)
def test_create_rejects_a_bad_hour(client: TestClient, env: Env, body: dict[str, Any]) -> None:
    err = error(client.post(BASE, json=body, headers=env.headers), 400)
    assert "hour" in err["message"]
    assert count(client, env.headers) == 0


def test_create_rejects_a_body_that_is_not_json(client: TestClient, env: Env) -> None:
    error(client.post(BASE, content=b"hour=3", headers=env.headers), 400)


def test_two_schedules_at_the_same_hour_are_a_conflict(client: TestClient, env: Env) -> None:
    first = env.create(client, 5)
    err = error(client.post(BASE, json={"hour": 5}, headers=env.headers), 409)
    assert "05:00 UTC" in err["message"]
    assert err["details"]["schedule_id"] == first["id"]
    # Another hour, and the same hour in another cloud, are fine.
    env.create(client, 6)
    env.create(client, 5, env.other_headers)


def test_list_count_and_find(client: TestClient, env: Env) -> None:
    made = [env.create(client, hour) for hour in (1, 2, 3)]
    env.create(client, 1, env.other_headers)
    body = client.get(BASE, headers=env.headers).json()
    assert [item["id"] for item in body["data"]] == [item["id"] for item in made]
    assert body["paging"] == {"next": None}
    page = client.get(BASE, params={"page_size": 2}, headers=env.headers).json()
    assert len(page["data"]) == 2
    assert page["paging"]["next"]
    rest = client.get(page["paging"]["next"], headers=env.headers).json()
    assert [item["id"] for item in rest["data"]] == [made[2]["id"]]
    assert count(client, env.headers) == 3
    assert data(client.get(f"{BASE}/{made[1]['id']}", headers=env.headers)) == made[1]
    # The same with a bearer token for the tenant's credentials.
    tenant_bearer = bearer(token(client, env.tenant["client_id"], env.tenant["client_secret"]))
    assert data(client.get(f"{BASE}/{made[1]['id']}", headers=tenant_bearer)) == made[1]


# --- update and delete ----------------------------------------------------------------------


def test_patch_enabled(client: TestClient, env: Env, clock: FakeClock) -> None:
    made = env.create(client, 4)
    clock.advance(minutes=5)
    response = client.patch(f"{BASE}/{made['id']}", json={"enabled": False}, headers=env.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    found = data(client.get(f"{BASE}/{made['id']}", headers=env.headers))
    assert found["enabled"] is False
    assert dt.datetime.fromisoformat(found["updated_at"]) == clock()
    assert found["hour"] == 4
    response = client.patch(f"{BASE}/{made['id']}", json={"enabled": True}, headers=env.headers)
    assert response.status_code == 204
    assert data(client.get(f"{BASE}/{made['id']}", headers=env.headers))["enabled"] is True
    # An empty body changes nothing.
    assert client.patch(f"{BASE}/{made['id']}", json={}, headers=env.headers).status_code == 204


@pytest.mark.parametrize(
    "body", [{"hour": 7}, {"enabled": True, "hour": 7}, {"enabled": "no"}, {"enabled": None}]
)
def test_patch_anything_but_enabled_is_400(
    client: TestClient, env: Env, body: dict[str, Any]
) -> None:
    made = env.create(client, 4)
    error(client.patch(f"{BASE}/{made['id']}", json=body, headers=env.headers), 400)
    found = data(client.get(f"{BASE}/{made['id']}", headers=env.headers))
    assert (found["hour"], found["enabled"]) == (4, True)


def test_delete(client: TestClient, env: Env) -> None:
    made = env.create(client, 8)
    response = client.delete(f"{BASE}/{made['id']}", headers=env.headers)
    assert response.status_code == 204
    assert response.content == b""
    error(client.get(f"{BASE}/{made['id']}", headers=env.headers), 404)
    error(client.delete(f"{BASE}/{made['id']}", headers=env.headers), 404)
    # The hour is free again.
    env.create(client, 8)


# --- not yours, not allowed, not found ------------------------------------------------------


def test_another_clouds_schedule_is_404(client: TestClient, connected: Env) -> None:
    theirs = connected.create(client, 9, connected.other_headers)
    path = f"{BASE}/{theirs['id']}"
    headers = connected.headers
    for response in (
        client.get(path, headers=headers),
        client.patch(path, json={"enabled": False}, headers=headers),
        client.delete(path, headers=headers),
        client.post(f"{path}/run", json={}, headers=headers),
    ):
        assert "not found" in error(response, 404)["message"]
    assert data(client.get(BASE, headers=headers)) == []
    assert count(client, headers) == 0
    # Untouched for its owner.
    assert data(client.get(path, headers=connected.other_headers))["enabled"] is True


def test_an_unknown_or_malformed_id(client: TestClient, env: Env) -> None:
    error(client.get(f"{BASE}/{uuid.uuid4()}", headers=env.headers), 404)
    error(client.post(f"{BASE}/{uuid.uuid4()}/run", headers=env.headers), 404)
    error(client.get(f"{BASE}/not-a-uuid", headers=env.headers), 400)


def operations(schedule_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    path = f"{BASE}/{schedule_id}"
    return [
        ("GET", BASE, None),
        ("POST", BASE, {"hour": 1}),
        ("GET", f"{BASE}/count", None),
        ("GET", path, None),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/run", {}),
    ]


def test_account_credentials_are_403(client: TestClient, env: Env) -> None:
    made = env.create(client, 10)
    for account in (env.world.district, env.world.operator, env.world.vendor):
        for method, path, body in operations(made["id"]):
            response = client.request(method, path, json=body, headers=account.headers)
            err = error(response, 403)
            assert err["code"] == "actor_required", (method, path)
            assert "installed actor's credentials" in err["message"]
    assert data(client.get(f"{BASE}/{made['id']}", headers=env.headers))["enabled"] is True


def test_no_credentials_are_401(client: TestClient, env: Env) -> None:
    made = env.create(client, 10)
    for method, path, body in operations(made["id"]):
        error(client.request(method, path, json=body), 401)
        wrong = {"Authorization": "Bearer not-a-token"}
        error(client.request(method, path, json=body, headers=wrong), 401)


# --- run on demand --------------------------------------------------------------------------


def test_run_queues_a_collection(client: TestClient, connected: Env, hub: Hub) -> None:
    made = connected.create(client, 11)
    response = client.post(f"{BASE}/{made['id']}/run", json={}, headers=connected.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    queued = ingestions(client, connected)
    assert len(queued) == 1
    assert queued[0]["type"] == "collection"
    assert queued[0]["state"] == "preparing"
    assert queued[0]["cloud_id"] == connected.world.cloud_id
    assert queued[0]["metadata"]["scheduled"] == {"schedule_id": made["id"], "on_demand": True}
    found = data(client.get(f"{BASE}/{made['id']}", headers=connected.headers))
    assert dt.datetime.fromisoformat(found["last_executed_at"]) == hub.now()
    # The worker runs it.
    assert run_pending(hub) == 1
    assert ingestions(client, connected)[0]["state"] == "success"


def test_run_without_a_body(client: TestClient, connected: Env) -> None:
    made = connected.create(client, 11)
    assert client.post(f"{BASE}/{made['id']}/run", headers=connected.headers).status_code == 204


def test_run_a_disabled_schedule_is_409(client: TestClient, connected: Env) -> None:
    made = connected.create(client, 12)
    client.patch(f"{BASE}/{made['id']}", json={"enabled": False}, headers=connected.headers)
    err = error(client.post(f"{BASE}/{made['id']}/run", headers=connected.headers), 409)
    assert err["code"] == "schedule_disabled"
    assert "disabled" in err["message"]
    assert ingestions(client, connected) == []


def test_run_while_an_ingestion_is_pending_is_409(client: TestClient, connected: Env) -> None:
    made = connected.create(client, 13)
    assert client.post(f"{BASE}/{made['id']}/run", headers=connected.headers).status_code == 204
    pending = ingestions(client, connected)[0]
    err = error(client.post(f"{BASE}/{made['id']}/run", headers=connected.headers), 409)
    assert err["code"] == "ingestion_pending"
    assert pending["id"] in err["message"]
    assert err["details"] == {"ingestion_id": pending["id"]}
    assert len(ingestions(client, connected)) == 1


@pytest.mark.parametrize("state", ["scheduled", "executing"])
def test_every_pending_state_blocks_a_run(
    client: TestClient, connected: Env, hub: Hub, state: str
) -> None:
    made = connected.create(client, 13)
    client.post(f"{BASE}/{made['id']}/run", headers=connected.headers)
    with write_transaction(hub.sessions) as session:
        for ingestion in session.scalars(select(Ingestion)):
            ingestion.state = state
    error(client.post(f"{BASE}/{made['id']}/run", headers=connected.headers), 409)
    with write_transaction(hub.sessions) as session:
        for ingestion in session.scalars(select(Ingestion)):
            ingestion.state = "failed"
    assert client.post(f"{BASE}/{made['id']}/run", headers=connected.headers).status_code == 204


def test_run_without_a_connector_is_400(client: TestClient, env: Env) -> None:
    made = env.create(client, 14)
    err = error(client.post(f"{BASE}/{made['id']}/run", headers=env.headers), 400)
    assert "has no connector with a source to collect" in err["message"]
    assert ingestions(client, env) == []


def test_run_a_type_that_cannot_run_on_demand_is_400(
    client: TestClient, connected: Env, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only collection schedules exist today; a type outside ON_DEMAND_TYPES is refused.
    made = connected.create(client, 15)
    monkeypatch.setattr(schedules, "ON_DEMAND_TYPES", frozenset())
    err = error(client.post(f"{BASE}/{made['id']}/run", headers=connected.headers), 400)
    assert err["code"] == "not_runnable"
    assert "cannot be run on demand" in err["message"]
    assert ingestions(client, connected) == []


# --- the worker -----------------------------------------------------------------------------


def ticks(hub: Hub) -> list[ScheduleTick]:
    with transaction(hub.sessions) as session:
        return list(session.scalars(select(ScheduleTick).order_by(ScheduleTick.tick)))


def test_a_due_tick_queues_once_and_again_the_next_day(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 2, 30, tzinfo=dt.UTC)
    made = connected.create(client, 3)
    assert schedules.run_due_schedules(hub) == 0  # 02:30: not yet
    clock.current = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    assert schedules.run_due_schedules(hub) == 1
    queued = ingestions(client, connected)
    assert len(queued) == 1
    assert queued[0]["metadata"]["scheduled"] == {
        "schedule_id": made["id"],
        "tick": "2026-09-01T03:00:00+00:00",
        "on_demand": False,
    }
    found = data(client.get(f"{BASE}/{made['id']}", headers=connected.headers))
    assert dt.datetime.fromisoformat(found["last_executed_at"]) == clock()
    # Same tick again (a second call, or a second worker), even after the run finished.
    assert schedules.run_due_schedules(hub) == 0
    assert run_pending(hub) == 1
    clock.advance(hours=5)
    assert schedules.run_due_schedules(hub) == 0
    assert len(ingestions(client, connected)) == 1
    # The next day's tick runs.
    clock.current = dt.datetime(2026, 9, 2, 3, 10, tzinfo=dt.UTC)
    assert schedules.run_due_schedules(hub) == 1
    assert len(ingestions(client, connected)) == 2
    assert [(t.tick.day, t.outcome) for t in ticks(hub)] == [(1, "queued"), (2, "queued")]


def test_a_missed_tick_runs_later_the_same_day(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)
    connected.create(client, 3)
    clock.current = dt.datetime(2026, 9, 1, 22, 45, tzinfo=dt.UTC)
    assert schedules.run_due_schedules(hub) == 1
    assert ticks(hub)[0].tick == dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)


def test_a_schedule_created_after_its_hour_first_runs_the_next_day(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 15, 0, tzinfo=dt.UTC)
    connected.create(client, 3)
    assert schedules.run_due_schedules(hub) == 0
    clock.current = dt.datetime(2026, 9, 2, 3, 0, tzinfo=dt.UTC)
    assert schedules.run_due_schedules(hub) == 1


def test_a_schedule_created_in_its_hour_runs_at_once(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 3, 20, tzinfo=dt.UTC)
    connected.create(client, 3)
    assert schedules.run_due_schedules(hub) == 1


def test_the_worker_runs_due_schedules_before_ingestions(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    connected.create(client, 3)
    assert run_pending(hub) == 1
    [done] = ingestions(client, connected)
    assert done["state"] == "success", done["message"]
    assert run_pending(hub) == 0


def test_disabled_schedules_do_not_run(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    made = connected.create(client, 3)
    client.patch(f"{BASE}/{made['id']}", json={"enabled": False}, headers=connected.headers)
    assert schedules.run_due_schedules(hub) == 0
    assert ticks(hub) == []
    assert ingestions(client, connected) == []


def test_a_tick_is_skipped_when_an_ingestion_is_pending_or_no_connector(
    client: TestClient, env: Env, hub: Hub, clock: FakeClock, district: Path
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    env.create(client, 3)
    # No connector: the tick is taken and skipped with the reason.
    assert schedules.run_due_schedules(hub) == 0
    [skipped] = ticks(hub)
    assert skipped.outcome == "skipped"
    assert skipped.message is not None
    assert "no connector" in skipped.message
    # A pending ingestion: skipped too, and the pending one is the only one.
    add_connector(client, env.world, env.world.cloud_id, district)
    other = env.create(client, 4)
    client.post(f"{BASE}/{other['id']}/run", headers=env.headers)
    clock.current = dt.datetime(2026, 9, 1, 4, 0, tzinfo=dt.UTC)
    assert schedules.run_due_schedules(hub) == 0
    later = ticks(hub)[-1]
    assert (later.outcome, later.tick.hour) == ("skipped", 4)
    assert later.message is not None
    assert "still pending" in later.message
    assert len(ingestions(client, env)) == 1


def test_deleting_a_schedule_deletes_its_ticks(
    client: TestClient, connected: Env, hub: Hub, clock: FakeClock
) -> None:
    clock.current = dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC)
    made = connected.create(client, 3)
    assert schedules.run_due_schedules(hub) == 1
    client.delete(f"{BASE}/{made['id']}", headers=connected.headers)
    assert ticks(hub) == []
    assert len(ingestions(client, connected)) == 1


# --- several workers at once (committed data, cleaned up) -----------------------------------


@dataclass
class Committed:
    hub: Hub
    cloud_id: uuid.UUID
    schedule_id: uuid.UUID


@pytest.fixture
def committed(database: Database, tmp_path: Path, district: Path) -> Iterator[Committed]:
    """A cloud with a connector and a schedule at 03:00, committed on the shared test database
    (the ``db`` fixture's rolled-back transaction would hide one worker's rows from another),
    and deleted afterwards."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url="sqlite://", secret_key=TEST_SECRET
    )
    clock = FakeClock(dt.datetime(2026, 9, 1, 3, 0, tzinfo=dt.UTC))
    keyring = Keyring.from_secret(TEST_SECRET)
    hub = Hub(settings, keyring, database.engine, make_sessionmaker(database.engine), clock)
    with write_transaction(hub.sessions) as session:
        account = Account(
            name="Concurrent USD", type="education_agency", public_id=uuid.uuid4().hex
        )
        session.add(account)
        session.flush()
        cloud = Cloud(account_id=account.id, name="Concurrent")
        session.add(cloud)
        session.flush()
        clouds.create_connector(
            session, keyring, cloud.id, connector_type="oneroster-csv", source=str(district)
        )
        schedule = Schedule(cloud_id=cloud.id, hour=3, created_at=clock(), updated_at=clock())
        session.add(schedule)
        session.flush()
        account_id, cloud_id, schedule_id = account.id, cloud.id, schedule.id
    try:
        yield Committed(hub, cloud_id, schedule_id)
    finally:
        with write_transaction(hub.sessions) as session:
            session.execute(delete(Cloud).where(Cloud.id == cloud_id))
            session.execute(delete(Account).where(Account.id == account_id))


def queued_count(hub: Hub, cloud_id: uuid.UUID) -> int:
    with transaction(hub.sessions) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Ingestion).where(Ingestion.cloud_id == cloud_id)
            )
            or 0
        )


def in_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def target(index: int) -> None:
        try:
            results[index] = work()
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return results


def test_concurrent_workers_take_a_tick_once(committed: Committed) -> None:
    barrier = threading.Barrier(4)

    def worker() -> int:
        barrier.wait()
        return schedules.run_due_schedules(committed.hub)

    assert sorted(in_threads(4, worker)) == [0, 0, 0, 1]
    assert queued_count(committed.hub, committed.cloud_id) == 1
    with transaction(committed.hub.sessions) as session:
        rows = session.scalars(
            select(ScheduleTick).where(ScheduleTick.schedule_id == committed.schedule_id)
        ).all()
    assert [(row.outcome, row.ingestion_id is not None) for row in rows] == [("queued", True)]


def test_two_workers_that_both_saw_the_tick_due_take_it_once(
    committed: Committed, database: Database
) -> None:
    """Both workers find the tick due, then race to claim it inside open transactions: on
    PostgreSQL the loser's insert waits for the winner's commit and then inserts nothing."""
    if database.backend != "postgresql":
        pytest.skip("SQLite serializes writers at BEGIN IMMEDIATE; no interleaving to force")
    hub = committed.hub
    barrier = threading.Barrier(2)

    def worker() -> uuid.UUID | None:
        with transaction(hub.sessions) as session:
            [(schedule_id, tick)] = schedules.due_schedules(session, hub.now())
        with write_transaction(hub.sessions) as session:
            barrier.wait()
            ingestion = schedules.run_tick(session, schedule_id, tick, hub.now())
            return ingestion.id if ingestion is not None else None

    results = in_threads(2, worker)
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert queued_count(hub, committed.cloud_id) == 1
    # The loser left the winner's tick alone (it did not record it as skipped).
    with transaction(hub.sessions) as session:
        [row] = session.scalars(
            select(ScheduleTick).where(ScheduleTick.schedule_id == committed.schedule_id)
        ).all()
    assert (row.outcome, row.ingestion_id, row.message) == ("queued", winners[0], None)
