"""The sync client through the operations the hub serves, against the app in-process: a
district's cloud, a vendor's integration and version, a tenant installed and activated by the
operator, its task queue drained and acknowledged, and its roster read page by page."""

from __future__ import annotations

import uuid
from pathlib import Path

from interop_hub.auth.tokens import LEEWAY_SECONDS
from interop_hub.client import InteropClient, Page
from interop_hub.client.models import DataEvent, LifecycleEvent, Org, Person, SyncEvent, Task
from interop_hub.runtime import Hub
from tests.client.conftest import STUDENTS, Accounts, Connect, Installation, install
from tests.clock import FakeClock


def drain(tenant: InteropClient, batch: int) -> list[Task]:
    """Poll and acknowledge until the queue is empty: the tasks, in the order received."""
    received: list[Task] = []
    while tasks := tenant.list_tasks(page_size=batch):
        assert tasks.next is None  # the managed queue has no pages
        result = tenant.ack_tasks(task.ack() for task in tasks)
        assert (result.acknowledged, result.failed) == (len(tasks), [])
        received += tasks
    return received


def test_district_vendor_operator_and_tenant(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir)

    with connect(api_key=accounts.district.api_key) as district:
        found = district.find_cloud(site.cloud.id)
        assert (found.id, found.name, found.userdata) == (
            site.cloud.id,
            "Springfield",
            "sis: oneroster",
        )
        assert [c.id for c in district.list_clouds()] == [site.cloud.id]
        assert [c.id for c in district.search_clouds(name="Springfield")] == [site.cloud.id]
        assert list(district.search_clouds(name="Shelbyville")) == []
        actors = district.list_cloud_actors(site.cloud.id, include_credentials=True)
        (actor,) = [a for a in actors if a.type == "integration"]
        assert actor.auth is not None
        assert actor.auth.client_id == site.client_id
        assert district.count_ingestions() == 1
        (ingestion,) = district.iter_ingestions()
        assert ingestion.state == "success"
        assert ingestion.counts is not None
        assert district.find_ingestion(ingestion.id) == ingestion

    with connect(api_key=accounts.vendor.api_key, exchange_api_key=True) as vendor:
        assert site.version.version == "1.0"
        assert "Student" in site.version.topics
        vendor.update_integration_version(site.integration.id, "1.0", release_state="released")
        (version,) = vendor.list_integration_versions(site.integration.id)
        assert version.release_state == "released"
        vendor.update_integration(site.integration.id, title="Acme LMS 2")
        assert vendor.find_integration(site.integration.id).title == "Acme LMS 2"
        assert [i.name for i in vendor.iter_integrations(name="acme-lms")] == ["acme-lms"]
        (info,) = vendor.list_tenants(integrations=["acme-lms"])
        assert info.id == site.tenant_id
        assert vendor.find_tenant(site.tenant_id) == info
        assert info.cloud is not None
        assert info.cloud.id == site.cloud.id

    with connect(client_id=site.client_id, client_secret=site.client_secret) as tenant:
        assert tenant.get_tenant().id == site.tenant_id
        state = tenant.get_tenant_state()
        assert not state.setup_mode_enabled
        assert not state.synchronization_suspended
        tasks = drain(tenant, batch=7)
        walk_the_tasks(tasks)
        walk_the_roster(tenant, tasks)
        walk_the_schedules(tenant)


def walk_the_tasks(tasks: list[Task]) -> None:
    sequences = [task.sequence for task in tasks]
    assert sequences == sorted(set(sequences))
    lifecycle = [t.event for t in tasks if isinstance(t.event, LifecycleEvent)]
    assert [e.action for e in lifecycle] == ["TENANT_INSTALLED", "TENANT_ACTIVATED"]
    syncs = [t.event for t in tasks if isinstance(t.event, SyncEvent)]
    assert [(s.action, s.origin) for s in syncs] == [
        ("SYNC_START", "initial"),
        ("SYNC_END", "initial"),
    ]
    events = [t.event for t in tasks if isinstance(t.event, DataEvent)]
    students = [e for e in events if e.object_type == "Student"]
    assert len(students) == STUDENTS
    person = students[0].object()
    assert isinstance(person, Person)
    assert person.name is not None
    assert person.email is None
    schools = [e.object() for e in events if e.object_type == "School"]
    assert schools
    assert all(isinstance(s, Org) and s.name for s in schools)


def walk_the_roster(tenant: InteropClient, tasks: list[Task]) -> None:
    first = tenant.list_students(page_size=5)
    assert isinstance(first, Page)
    assert len(first) == 5
    assert first.next is not None
    students = list(tenant.iter_students(page_size=5))  # three pages
    assert len(students) == STUDENTS == len({s.id for s in students})
    assert students[:5] == first.data
    assert students == tenant.list_students().data  # one page of the maximum size
    delivered = {
        uuid.UUID(t.event.object_id)
        for t in tasks
        if isinstance(t.event, DataEvent) and t.event.object_type == "Student"
    }
    assert {s.id for s in students} == delivered
    one = tenant.find_person(students[0].id)
    assert one == students[0]
    assert one.sys.person_type == "student"
    assert one.schools
    assert one.schools[0].org_type == "school"
    assert one.sections is None  # not in the blueprint: not projected
    school = tenant.find_org(one.schools[0].id)
    in_school = {s.id for s in tenant.iter_org_students(school.id, page_size=2)}
    assert one.id in in_school
    assert in_school <= {s.id for s in students}


def walk_the_schedules(tenant: InteropClient) -> None:
    schedule = tenant.create_schedule(3)
    assert (schedule.hour, schedule.enabled) == (3, True)
    assert tenant.count_schedules() == 1
    tenant.update_schedule(schedule.id, enabled=False)
    assert tenant.find_schedule(schedule.id).enabled is False
    assert [s.id for s in tenant.iter_schedules()] == [schedule.id]
    tenant.delete_schedule(schedule.id)
    assert tenant.count_schedules() == 0


def test_an_expired_token_is_refreshed_once(
    connect: Connect,
    accounts: Accounts,
    hub: Hub,
    clock: FakeClock,
    district_dir: Path,
) -> None:
    """The hub's clock passes the token's lifetime while the SDK's does not: the hub answers
    401, the SDK fetches one new token and the call succeeds."""
    site: Installation = install(connect, accounts, hub, district_dir)
    with connect(client_id=site.client_id, client_secret=site.client_secret) as tenant:
        assert tenant.get_tenant().id == site.tenant_id
        clock.advance(seconds=hub.settings.token_lifetime_seconds + LEEWAY_SECONDS + 1)
        assert tenant.get_tenant_state() is not None
        assert tenant.auth.fetched == 2  # type: ignore[attr-defined]


def test_ack_one_task_and_the_admin_queue(
    connect: Connect, accounts: Accounts, hub: Hub, district_dir: Path
) -> None:
    site = install(connect, accounts, hub, district_dir)
    with connect(client_id=site.client_id, client_secret=site.client_secret) as tenant:
        queued = list(tenant.iter_tasks_admin(page_size=10))
        assert len(queued) > 10
        assert queued[0].type == "lifecycle_event"
        assert tenant.find_task(queued[1].id) == queued[1]
        flat = tenant.find_task(queued[1].id, schema="flat")
        assert flat.task_schema == "flat"
        assert flat.event == queued[1].event
        (task,) = tenant.list_tasks(page_size=1)
        assert task == queued[0]
        outcome = tenant.ack_task(task.id, "error", message="cannot handle it")
        assert (outcome.task_id, outcome.status) == (task.id, 200)
        tenant.delete_task(queued[-1].id)
        outcome = tenant.ack_task_admin(queued[-2].id)
        assert outcome.status == 200
        result = tenant.ack_tasks_admin([queued[-3].ack(), queued[-2].ack()])
        assert result.acknowledged == 1
        assert [f.task_id for f in result.failed] == [queued[-2].id]
        left = {t.id for t in tenant.iter_tasks_admin()}
        assert left == {t.id for t in queued[1:-3]}
