"""Issue 6: the driver runtime (``interop_hub.client.Driver``) and the example driver
(``examples/roster_mirror.py``, i.e. :mod:`interop_hub.demo.roster_mirror`), against the app
in-process, on SQLite and PostgreSQL.

The mirror database ends equal to what the query API shows the tenant; the runtime
acknowledges as its handlers say (success, error with the message, retry, ``$sys.app_id``),
runs a vendor's tenants concurrently, and a stop leaves what was not handled unacknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from interop_hub.client import RETRY, AppId, Context, Driver, Retry
from interop_hub.client.models import AuthenticateEvent, DataEvent, LifecycleEvent, SyncEvent
from interop_hub.demo.district import generate_district
from interop_hub.demo.roster_mirror import RosterMirror, is_membership
from interop_hub.runtime import Hub
from tests.clock import FakeClock
from tests.driver import Driver as HttpDriver
from tests.driver import comparable
from tests.factories import World, add_version, data, full_blueprint, install, make_world
from tests.test_driver_e2e import AUTHENTICATION, MEMBERSHIPS, collect, operator

BASE_URL = "http://testserver"


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example") / "district"
    generate_district(root, students=15, seed=31)
    return root


@pytest.fixture
def transport(client: TestClient) -> httpx.MockTransport:
    """The app in-process, one request at a time: the test database is one connection, which
    the runtime's tenant threads must not use at once."""
    lock = threading.Lock()

    def send(request: httpx.Request) -> httpx.Response:
        with lock:
            response: httpx.Response = client.send(request)
            return response

    return httpx.MockTransport(send)


def activated(client: TestClient, hub: Hub, world: World, cloud_id: str, district: Path) -> Any:
    collect(hub, cloud_id, district)
    tenant = install(client, world, cloud_id=cloud_id, version="2.0")
    operator(client, world, f"/tenants/{tenant['id']}/activate")
    return tenant


def query_api(client: TestClient, tenant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return HttpDriver(client, tenant["client_id"], tenant["client_secret"]).query_api()


def mirrored(mirror: RosterMirror, tenant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    objects = mirror.objects(tenant["id"])
    return {k: comparable(data) for k, (topic, data) in objects.items() if not is_membership(topic)}


def test_the_example_driver_mirrors_the_query_api(
    client: TestClient,
    hub: Hub,
    transport: httpx.MockTransport,
    district: Path,
    tmp_path: Path,
) -> None:
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0", extra=MEMBERSHIPS))
    tenant = activated(client, hub, world, world.cloud_id, district)
    mirror = RosterMirror(tmp_path / "mirror.db")
    credentials = {"client_id": tenant["client_id"], "client_secret": tenant["client_secret"]}
    driver = mirror.register(Driver(BASE_URL, transport=transport, **credentials))

    stats = driver.drain()[next(iter(driver.stats))]
    assert stats.delivered == sum(stats.acknowledged.values()) == stats.acknowledged["success"]
    assert mirrored(mirror, tenant) == query_api(client, tenant)
    counts = mirror.counts(tenant["id"])
    assert counts["Student"] == 15
    assert counts["StudentSectionEnrollment"] > 0
    assert counts["TeacherSectionEnrollment"] > 0

    # A resend is a full sync: what the mirror holds and it does not send is gone; handling
    # it again (idempotent handlers) changes nothing else.
    with mirror.connect() as db:
        db.execute(
            "INSERT INTO objects VALUES (?, 'stale', 'Student', '{\"$sys\": {}}', NULL)",
            (tenant["id"],),
        )
    operator(client, world, f"/tenants/{tenant['id']}/resend")
    driver.drain()
    assert mirrored(mirror, tenant) == query_api(client, tenant)
    assert mirror.counts(tenant["id"]) == counts

    # Uninstalled: the tenant's credentials stop working, its vendor's key still polls it (a
    # vendor driver keeps polling a tenant it found until its TENANT_UNINSTALLED is handled).
    vendor = mirror.register(Driver(BASE_URL, transport=transport, api_key=world.vendor.api_key))
    assert [s.delivered for s in vendor.drain().values()] == [0]
    operator(client, world, f"/tenants/{tenant['id']}/uninstall")
    (uninstalled,) = vendor.drain().values()
    assert (uninstalled.delivered, uninstalled.acknowledged["success"]) == (1, 1)
    assert mirror.objects(tenant["id"]) == {}
    assert vendor.drain() == vendor.stats  # no longer polled, nor listed
    assert vendor._known == {}


def test_a_vendor_driver_runs_its_tenants_concurrently_and_acks_as_handlers_say(
    client: TestClient, hub: Hub, clock: FakeClock, transport: httpx.MockTransport, district: Path
) -> None:
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0"))
    tenants = [
        activated(client, hub, world, c, district) for c in (world.cloud_id, world.other_cloud_id)
    ]
    driver = Driver(BASE_URL, transport=transport, api_key=world.vendor.api_key, page_size=7)
    done: dict[str, list[int]] = {t["id"]: [] for t in tenants}  # sequences handled, in order
    threads: dict[str, set[int]] = {t["id"]: set() for t in tenants}
    retried: set[str] = set()
    rounds: list[int] = []

    def handled(event: DataEvent | SyncEvent | LifecycleEvent, ctx: Context) -> None:
        done[str(ctx.tenant_id)].append(event.sequence)
        if not rounds:
            threads[str(ctx.tenant_id)].add(threading.get_ident())

    @driver.on_data("School", "ADD")
    def school(event: DataEvent, ctx: Context) -> object:
        if event.object_id not in retried:
            retried.add(event.object_id)
            return RETRY
        handled(event, ctx)
        return AppId(f"school-{event.object_id[:6]}")

    @driver.on_data("Section")
    def section(event: DataEvent, ctx: Context) -> None:
        if event.object_id not in retried and len(retried) < 6:
            retried.add(event.object_id)
            raise Retry("the app is busy")
        handled(event, ctx)

    @driver.on_data("Student")
    def student(event: DataEvent, ctx: Context) -> str:
        handled(event, ctx)
        if event.sequence % 5 == 0:
            raise ValueError(f"no room for {event.label}")
        return f"student-{event.object_id[:6]}"

    @driver.on_data()
    @driver.on_sync()
    @driver.on_lifecycle()
    def anything_else(event: DataEvent | SyncEvent | LifecycleEvent, ctx: Context) -> None:
        handled(event, ctx)

    for _ in range(20):  # until the retried tasks have come back and everything is handled
        driver.drain()
        rounds.append(1)
        clock.advance(seconds=hub.settings.task_retry_max_backoff_seconds + 1)
        if not any(_pending(client, world, t) for t in tenants):
            break
    assert {str(t) for t in driver.stats} == {t["id"] for t in tenants}
    for tenant in tenants:
        stats = driver.stats[uuid.UUID(tenant["id"])]
        assert stats.acknowledged["retry"] >= 1
        assert stats.refused == 0
        assert not _pending(client, world, tenant)
        # Each tenant in order: a retried task came back before anything after it was applied.
        assert done[tenant["id"]] == sorted(done[tenant["id"]])
        history = data(
            client.get(
                f"/v2/platform/tenants/{tenant['id']}/task-history",
                params={"page_size": 1000},
                headers=world.operator.headers,
            )
        )
        errors = [h for h in history if h["status"] == "error"]
        assert errors
        assert all(h["message"].startswith("ValueError: no room for ") for h in errors)
    # One worker (thread) per tenant.
    assert all(len(found) == 1 for found in threads.values())
    assert threads[tenants[0]["id"]] != threads[tenants[1]["id"]]
    # The apps' ids are remembered: a resend carries them.
    tenant = tenants[0]
    operator(client, world, f"/tenants/{tenant['id']}/resend")
    queued = data(
        client.get(
            f"/v2/platform/tenants/{tenant['id']}/tasks",
            params={"page_size": 1000},
            headers=world.operator.headers,
        )
    )
    schools = [t for t in queued if t["object_type"] == "School"]
    assert schools
    assert all(t["app_id"] == f"school-{t['object_id'][:6]}" for t in schools)


def _pending(client: TestClient, world: World, tenant: dict[str, Any]) -> int:
    queued = data(
        client.get(f"/v2/platform/tenants/{tenant['id']}/tasks", headers=world.operator.headers)
    )
    return len(queued)


def test_a_stop_leaves_what_was_not_handled_unacknowledged(
    client: TestClient, hub: Hub, transport: httpx.MockTransport, district: Path
) -> None:
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0"))
    tenant = activated(client, hub, world, world.cloud_id, district)
    credentials = {"client_id": tenant["client_id"], "client_secret": tenant["client_secret"]}
    driver = Driver(BASE_URL, transport=transport, page_size=10, **credentials)
    handled: list[int] = []

    @driver.on_data()
    def handle(event: DataEvent, ctx: Context) -> None:
        handled.append(event.sequence)
        if len(handled) == 3:
            driver.stop()  # as SIGTERM does: the task in hand is finished

    (stats,) = driver.drain().values()
    assert stats.delivered == 10
    acked = sum(stats.acknowledged.values())
    assert len(handled) == 3
    assert acked >= 3
    queued = data(
        client.get(
            f"/v2/platform/tenants/{tenant['id']}/tasks",
            params={"page_size": 1000},
            headers=world.operator.headers,
        )
    )
    leased = [t for t in queued if t["leased_until"] is not None]
    assert len(leased) == 10 - acked  # handed out, not handled: they come back after the lease
    assert max(handled) < min(t["sequence"] for t in leased)


def test_the_example_script_stops_cleanly_on_sigterm_against_a_server(
    tmp_path: Path, district: Path
) -> None:
    """``python examples/roster_mirror.py`` against a server process: SIGTERM mid-queue ends it
    with exit code 0, every handled task acknowledged once and nothing else; a second run picks
    up the rest (after the lease) and the mirror equals the query API."""
    from bench import bench_collection as bench

    from interop_hub.demo import quickstart
    from interop_hub.kit import migrate
    from interop_hub.kit.db import transaction
    from interop_hub.runtime import build_hub
    from interop_hub.tasks.models import Task, TaskAck
    from interop_hub.tenants import lifecycle

    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = build_hub(bench.bench_settings(database_url, tmp_path / "hub-data"))
    migrate.upgrade(hub.engine)
    demo = quickstart.run(hub, tmp_path / "demo", students=15)
    with transaction(hub.sessions) as session:
        queued = lifecycle.resend(session, demo.tenant_id, hub.now())

    def history() -> list[uuid.UUID]:
        with hub.sessions() as session:
            return list(
                session.scalars(
                    select(TaskAck.task_id).where(
                        TaskAck.tenant_id == demo.tenant_id, TaskAck.status == "success"
                    )
                )
            )

    done_before = len(history())
    settings = {"INTEROP_HUB_TASK_BATCH_SIZE": "5", "INTEROP_HUB_TASK_LEASE_SECONDS": "2"}
    mirror_db = tmp_path / "mirror.db"
    script = Path(__file__).parents[1] / "examples" / "roster_mirror.py"
    try:
        with bench.serve(database_url, tmp_path, tmp_path / "server.log", env=settings) as url:
            command = [
                sys.executable,
                str(script),
                "--hub", url,
                "--client-id", demo.client_id,
                "--client-secret", demo.client_secret,
                "--db", str(mirror_db),
                "--poll-interval", "0.2",
            ]  # fmt: skip
            driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while len(history()) - done_before < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            driver.send_signal(signal.SIGTERM)
            _, err = driver.communicate(timeout=60)
            assert driver.returncode == 0, err.decode()
            assert b"stopping (SIGTERM)" in err
            acked = history()[done_before:]
            assert acked, err.decode()
            assert len(acked) == len(set(acked))  # none twice
            assert 20 <= len(acked) < queued  # stopped mid-queue
            with hub.sessions() as session:
                left = session.scalar(
                    select(func.count()).select_from(Task).where(Task.tenant_id == demo.tenant_id)
                )
            assert left == queued - len(acked)  # nothing acknowledged without being handled

            time.sleep(2.5)  # the lease of the batch it was holding expires
            again = subprocess.run(
                [*command, "--once"], capture_output=True, timeout=120, check=False
            )
            assert again.returncode == 0, again.stderr.decode()
            with httpx.Client(base_url=url, timeout=30) as http:
                shown = HttpDriver(http, demo.client_id, demo.client_secret).query_api()
    finally:
        hub.engine.dispose()
    acked = history()[done_before:]
    assert len(acked) == len(set(acked)) == queued
    mirror = RosterMirror(mirror_db)
    assert mirrored(mirror, {"id": str(demo.tenant_id)}) == shown


def test_handlers_by_specificity_and_the_authenticate_handler(
    client: TestClient, hub: Hub, transport: httpx.MockTransport, district: Path
) -> None:
    """The most specific handler wins; an ``authenticate`` handler refuses a session by raising
    and confirms the next by returning, and the runtime answers each session."""
    world = make_world(client, hub)
    document = full_blueprint("2.0").replace("</Integration>", f"{AUTHENTICATION}</Integration>")
    add_version(client, world, document)
    tenant = install(client, world, version="2.0")
    credentials = {"client_id": tenant["client_id"], "client_secret": tenant["client_secret"]}
    driver = Driver(BASE_URL, transport=transport, **credentials)
    calls: list[str] = []

    @driver.on_data("Student", "ADD")
    def student_add(event: DataEvent, ctx: Context) -> None:
        calls.append("Student ADD")

    @driver.on_data("Student")
    def student(event: DataEvent, ctx: Context) -> None:
        calls.append("Student")

    @driver.on_data(action="ADD")
    def any_add(event: DataEvent, ctx: Context) -> None:
        calls.append(f"ADD {event.object_type}")

    @driver.on_authenticate
    def check(event: AuthenticateEvent, ctx: Context) -> str:
        assert event.data is not None
        if event.data["password"] != "correct horse":
            raise PermissionError("the app refused the password")
        return f"signed in as {event.data['username']}"

    def district_enters(password: str) -> None:
        body = {"auth_props": {"username": "district-7", "password": password}}
        sessions = f"/v2/platform/tenants/{tenant['id']}/application/sessions"
        data(client.post(sessions, json=body, headers=world.operator.headers), 201)

    district_enters("Tr0ub4dor&3")
    collect(hub, world.cloud_id, district)
    operator(client, world, f"/tenants/{tenant['id']}/activate")
    driver.drain()
    application = driver_application(client, tenant)
    assert (application["auth_state_pending"], application["auth_message"]) == (
        "error",
        "the app refused the password",
    )
    district_enters("correct horse")
    driver.drain()
    application = driver_application(client, tenant)
    assert application["auth_state"] == "confirmed"
    assert application["auth_message"] == "signed in as district-7"
    assert calls.count("Student ADD") == 15
    assert "Student" not in calls  # no Student UPDATE came
    assert {"ADD School", "ADD Section"} <= set(calls)


def driver_application(client: TestClient, tenant: dict[str, Any]) -> dict[str, Any]:
    return HttpDriver(client, tenant["client_id"], tenant["client_secret"]).application()
