"""Issue 4, acceptance: a driver that behaves like the drivers in the wild keeps a copy of its
tenant's roster that equals what the query API returns — after install, activation, a
collection, a nightly change, a resend and an uninstall — on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.generate_district import generate_district, generate_nightly
from fastapi.testclient import TestClient

from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import write_transaction
from interop_hub.runtime import Hub
from tests.clock import FakeClock
from tests.driver import Driver
from tests.factories import (
    World,
    add_version,
    data,
    full_blueprint,
    install,
    make_world,
)

STUDENTS = 40
MEMBERSHIPS = (
    '<Topic Name="StudentSectionEnrollment"/>'
    '<Topic Name="TeacherSectionEnrollment"><Attributes><Attribute Name="role"/>'
    '<Attribute Name="$person"/><Attribute Name="$section"/></Attributes></Topic>'
)


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("e2e")
    generate_district(root / "night1", students=STUDENTS, seed=11)
    generate_nightly(root / "night1", root / "night2", seed=12, change_rate=0.04)
    return root / "night1", root / "night2"


def collect(hub: Hub, cloud_id: str, source: Path) -> Ingestion:
    with write_transaction(hub.sessions) as session:
        queued = ingest.queue_ingestion(session, uuid.UUID(cloud_id), str(source), now=hub.now())
        assert ingest.claim(session, queued.id, hub.now())
    done = ingest.run(hub, queued.id)
    assert done.state == "success", done.message
    return done


def operator(client: TestClient, world: World, path: str) -> Any:
    return data(client.post(f"/v2/platform{path}", headers=world.operator.headers))


def actions(tasks: list[dict[str, Any]], kind: str) -> list[str]:
    return [t[kind]["action"] for t in tasks if t["type"] == kind]


def test_a_driver_copy_equals_the_query_api_through_the_tenant_lifecycle(
    client: TestClient, hub: Hub, clock: FakeClock, nights: tuple[Path, Path]
) -> None:
    night1, night2 = nights
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0", extra=MEMBERSHIPS))
    tenant = install(client, world, version="2.0")
    retried: set[str] = set()

    def verdict(task: dict[str, Any]) -> str | None:
        event = task[task["type"]]
        if task["type"] == "lifecycle_event" and event["action"] == "TENANT_INSTALLED":
            return "error"  # the driver cannot handle it; the task is done all the same
        is_section = task["type"] == "data_event" and event["object_type"] == "Section"
        if is_section and event["object_id"] not in retried and len(retried) < 2:
            retried.add(event["object_id"])
            return "retry"
        return None

    driver = Driver(
        client,
        tenant["client_id"],
        tenant["client_secret"],
        verdict=verdict,
        app_id=lambda task: f"app-{task['data_event']['object_id'][:8]}",
    )

    # Installed: setup mode delivers the lifecycle task only; a collection sends it nothing.
    collect(hub, world.cloud_id, night1)
    assert driver.drain() == 1
    assert driver.acked == [(driver.acked[0][0], "error")]
    assert driver.copy == {}

    # Activated: TENANT_ACTIVATED, then the initial sync of everything it sees.
    operator(client, world, f"/tenants/{tenant['id']}/activate")
    driver.drain()
    assert driver.lifecycle == ["TENANT_ACTIVATED"]
    assert retried, "two sections were answered with retry"
    clock.advance(seconds=hub.settings.task_retry_max_backoff_seconds + 1)
    driver.drain()  # the retried tasks come back after their backoff
    copy = driver.objects()
    assert copy == driver.query_api()
    types = set(driver.types.values())
    assert {"LEA", "School", "Student", "Teacher", "Course", "Section", "Term"} <= types
    assert {"StudentSectionEnrollment", "TeacherSectionEnrollment"} <= types
    syncs = [t["sync_event"] for t in driver.seen if t["type"] == "sync_event"]
    assert [(s["action"], s["origin"]) for s in syncs] == [
        ("SYNC_START", "initial"),
        ("SYNC_END", "initial"),
    ]
    assert len({s["group_id"] for s in syncs}) == 1

    # A nightly change: one sync with the changes, prior values in `changes`.
    before = len(driver.seen)
    collect(hub, world.cloud_id, night2)
    driver.drain()
    nightly = driver.seen[before:]
    assert actions(nightly, "sync_event") == ["SYNC_START", "SYNC_END"]
    assert {t["sync_event"]["origin"] for t in nightly if t["type"] == "sync_event"} == {
        "ingestion"
    }
    data_events = [t["data_event"] for t in nightly if t["type"] == "data_event"]
    assert {e["action"] for e in data_events} >= {"UPDATE", "DELETE"}
    assert all(e["changes"] for e in data_events if e["action"] == "UPDATE")
    assert driver.objects() == driver.query_api()
    # Events about objects the app named carry its id.
    named = [e for e in data_events if e["action"] == "UPDATE" and e["object_type"] == "Student"]
    assert named
    assert all(e["app_id"] == f"app-{e['object_id'][:8]}" for e in named)

    # Collecting the same night again changes nothing: nothing is sent.
    collect(hub, world.cloud_id, night2)
    assert driver.drain() == 0

    # A resend: the whole state again, with origin "resend".
    driver.copy["not-in-the-hub"] = {"$sys": {"id": "not-in-the-hub"}}
    driver.types["not-in-the-hub"] = "Student"
    queued = operator(client, world, f"/tenants/{tenant['id']}/resend")["tasks_queued"]
    assert driver.drain() == queued
    assert driver.objects() == driver.query_api()

    # Uninstalled: the tenant's credentials stop working at once; its vendor's driver still
    # receives TENANT_UNINSTALLED, after which the copy is empty and nothing more comes.
    operator(client, world, f"/tenants/{tenant['id']}/uninstall")
    with pytest.raises(httpx.HTTPStatusError) as refused:
        driver.poll()  # its token is refused, and so is getting a new one
    assert refused.value.response.status_code == 401
    vendor = Driver(
        client,
        headers=world.vendor.headers,
        tenant_id=tenant["id"],
        copy=driver.copy,
        types=driver.types,
    )
    vendor.drain()
    assert vendor.lifecycle == ["TENANT_UNINSTALLED"]
    assert vendor.copy == {}
    collect(hub, world.cloud_id, night1)
    assert vendor.drain() == 0


AUTHENTICATION = (
    '<Authentication Type="basic"><Property Name="username"/>'
    '<Property Name="password" Secret="true"/></Authentication>'
)


def test_the_authentication_workflow_with_the_driver_answering_the_authenticate_task(
    client: TestClient, hub: Hub, nights: tuple[Path, Path]
) -> None:
    """DESIGN §3.7 end to end: the district enters credentials, the driver checks them (refused,
    then confirmed); a reauthenticate ack pauses delivery until new credentials are confirmed,
    and the paused task comes back first."""
    night1, night2 = nights
    world = make_world(client, hub)
    document = full_blueprint("2.0").replace("</Integration>", f"{AUTHENTICATION}</Integration>")
    add_version(client, world, document)
    tenant = install(client, world, version="2.0")
    collect(hub, world.cloud_id, night1)
    app_password = {"value": "correct horse"}
    paused: list[str] = []

    def check(event: dict[str, Any]) -> tuple[str, str | None]:
        """The app signs in with the credentials of the task."""
        assert set(event["data"]) == {"username", "password"}
        if event["data"]["password"] == app_password["value"]:
            return "confirmed", f"signed in as {event['data']['username']}"
        return "error", "the app refused the password"

    def verdict(task: dict[str, Any]) -> str | None:
        event = task[task["type"]]
        if task["type"] == "data_event" and event["action"] == "UPDATE" and not paused:
            paused.append(event["id"])  # the app's session expired: it needs new credentials
            return "reauthenticate"
        return None

    driver = Driver(
        client, tenant["client_id"], tenant["client_secret"], verdict=verdict, authenticator=check
    )

    def district_enters(username: str, password: str) -> str:
        shown = data(
            client.post(
                f"/v2/platform/tenants/{tenant['id']}/application/sessions",
                json={"auth_props": {"username": username, "password": password}},
                headers=world.operator.headers,
            ),
            201,
        )
        assert shown["auth_props_pending"] == {"username": username, "password": "********"}
        session_id: str = shown["auth_session_id_pending"]
        return session_id

    # Set up before activation: a wrong password, refused by the driver, then the right one.
    wrong = district_enters("district-7", "Tr0ub4dor&3")
    operator(client, world, f"/tenants/{tenant['id']}/activate")
    driver.drain()
    assert driver.sessions == [(wrong, "error")]
    refused = driver.application()
    assert (refused["auth_state"], refused["auth_state_pending"]) == ("unspecified", "error")
    assert refused["auth_message"] == "the app refused the password"
    assert refused["auth_props"] == {}
    right = district_enters("district-7", "correct horse")
    driver.drain()
    assert driver.sessions[1:] == [(right, "confirmed")]
    signed_in = driver.application()
    assert signed_in["auth_type"] == "basic"
    assert signed_in["auth_state"] == "confirmed"
    assert signed_in["auth_props"] == {"username": "district-7", "password": "correct horse"}
    assert signed_in["auth_message"] == "signed in as district-7"
    assert driver.objects() == driver.query_api()

    # A nightly change: the app's session has expired, the driver answers reauthenticate and
    # delivery pauses (the rest of that batch was handled; nothing newer comes).
    app_password["value"] = "a new password"
    collect(hub, world.cloud_id, night2)
    driver.drain()
    assert paused
    assert (paused[0], "reauthenticate") in driver.acked
    state = data(driver.call("GET", "/v2/interop/tenant/state"))
    assert state["delivery_paused"] == "reauthenticate"
    assert driver.drain() == 0
    # Still held: the district collects again meanwhile, and nothing arrives.
    collect(hub, world.cloud_id, night1)
    assert driver.drain() == 0

    # The district enters the new password; the driver confirms and delivery resumes with the
    # paused task first, then everything queued since.
    before = len(driver.seen)
    renewed = district_enters("district-7", "a new password")
    driver.drain()
    assert driver.sessions[2:] == [(renewed, "confirmed")]
    resumed = [t for t in driver.seen[before:] if t["type"] != "authenticate"]
    assert resumed[0]["data_event"]["id"] == paused[0]
    assert (paused[0], "success") in driver.acked
    sequences = [t[t["type"]]["sequence"] for t in resumed]
    assert sequences == sorted(sequences)
    state = data(driver.call("GET", "/v2/interop/tenant/state"))
    assert state["delivery_paused"] is None
    assert driver.application()["auth_props"]["password"] == "a new password"
    assert driver.objects() == driver.query_api()

    trail = data(
        client.get(
            f"/v2/platform/tenants/{tenant['id']}/application/sessions",
            headers=world.operator.headers,
        )
    )
    assert [(s["id"], s["state"]) for s in trail] == [
        (renewed, "confirmed"),
        (right, "confirmed"),
        (wrong, "error"),
    ]
