"""Issue 4, acceptance: the managed task queue over real HTTP, on PostgreSQL.

- Two server processes (``uvicorn``, each with its own connection pool) and two drivers, one
  per server and each in its own thread, poll the same tenant with small batches until its
  queue is empty: every queued task is delivered and acknowledged once, none is lost, and each
  driver receives the tenant's tasks in sequence order.
- A driver process is killed (SIGKILL) holding a batch: while its lease lasts the tenant's
  queue is blocked (another driver gets nothing, and nothing newer); once the lease expires the
  same tasks come back in the same order, then the rest.

The queue is filled the way it is in production: a generated district is collected into a
cloud, a tenant is installed and activated, and its initial sync queues one task per object it
sees. PostgreSQL only (pollers of one tenant are serialized by an advisory lock there); the
database comes from ``conftest``'s factory, so an unreachable PostgreSQL skips these tests
locally and fails them under ``CI=true``.

The driver that dies is ``tests.driver`` run as a script (:func:`tests.driver.hold_a_batch`).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench import bench_collection as bench
from bench.generate_district import generate_district
from sqlalchemy import func, select

from interop_hub.kit.db import transaction, utcnow, write_transaction
from interop_hub.runtime import Hub, build_hub
from interop_hub.tasks.models import Task, TaskAck
from interop_hub.tenants import lifecycle
from tests.conftest import BACKENDS, DatabaseFactory
from tests.driver import Driver
from tests.factories import OBJECT_TOPICS, full_blueprint
from tests.test_driver_e2e import MEMBERSHIPS, collect

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = 200
SEED = 41
BATCH = 25  # INTEROP_HUB_TASK_BATCH_SIZE of the servers: many polls, much interleaving
LONG_LEASE = 600  # seconds: far longer than a test, so nothing is redelivered
SHORT_LEASE = 3  # seconds: the dead driver's lease, waited out
DRAIN_SECONDS = 90  # the most a drain may take before the test fails
FEW_TOPICS = ("LEA", "School", "Term", "Course")

Delivered = tuple[str, int]
"""A task as a driver received it: its id and its sequence."""


@dataclass(frozen=True)
class Site:
    """A migrated PostgreSQL database with a district collected into one cloud."""

    url: str
    data_dir: Path
    hub: Hub
    cloud_id: uuid.UUID


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    client_id: str
    client_secret: str


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if "postgresql" not in BACKENDS:
        pytest.skip("INTEROP_HUB_TEST_BACKENDS leaves PostgreSQL out")
    database = databases.create("postgresql")
    root = tmp_path_factory.mktemp("task-processes")
    district = root / "district"
    generate_district(district, students=STUDENTS, seed=SEED)
    data_dir = root / "hub-data"
    cloud_id = bench.prepare_database(database.url, data_dir)
    hub = build_hub(bench.bench_settings(database.url, data_dir))
    try:
        collect(hub, str(cloud_id), district)
        yield Site(database.url, data_dir, hub, cloud_id)
    finally:
        hub.engine.dispose()


def install_active_tenant(site: Site, topics: tuple[str, ...], extra: str = "") -> Tenant:
    """A new vendor's integration installed in the site's cloud and activated: its queue holds
    TENANT_INSTALLED, TENANT_ACTIVATED and the initial sync."""
    blueprint = full_blueprint(topics=topics, extra=extra)
    (installed,) = bench.install_tenants(
        site.url, site.data_dir, site.cloud_id, [("acme-lms", blueprint)]
    )
    with write_transaction(site.hub.sessions) as session:
        lifecycle.transition(session, installed.id, "activate", site.hub.now())
    return Tenant(installed.id, installed.client_id, installed.client_secret)


def queued(site: Site, tenant_id: uuid.UUID) -> list[Delivered]:
    """The tenant's queue, in sequence order."""
    with transaction(site.hub.sessions) as session:
        rows = session.execute(
            select(Task.id, Task.sequence)
            .where(Task.tenant_id == tenant_id)
            .order_by(Task.sequence)
        )
        return [(str(task_id), sequence) for task_id, sequence in rows]


def remaining(site: Site, tenant_id: uuid.UUID) -> int:
    with transaction(site.hub.sessions) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Task).where(Task.tenant_id == tenant_id)
            )
            or 0
        )


def history(site: Site, tenant_id: uuid.UUID) -> Counter[tuple[str, str]]:
    """How many acknowledgement rows the tenant has, per (task id, status)."""
    with transaction(site.hub.sessions) as session:
        rows = session.execute(
            select(TaskAck.task_id, TaskAck.status).where(TaskAck.tenant_id == tenant_id)
        )
        return Counter((str(task_id), status) for task_id, status in rows)


def lease_end(site: Site, task_ids: list[str]) -> dt.datetime:
    """When the lease of these (leased) tasks ends."""
    with transaction(site.hub.sessions) as session:
        ends = set(
            session.scalars(
                select(Task.leased_until).where(Task.id.in_([uuid.UUID(i) for i in task_ids]))
            )
        )
    assert len(ends) == 1, ends  # one batch, one lease
    (end,) = ends
    assert end is not None
    return end


def delivered(task: dict[str, Any]) -> Delivered:
    event = task[task["type"]]
    return event["id"], event["sequence"]


def drain_shared(driver: Driver, finished: Callable[[], bool], deadline: float) -> list[list[Any]]:
    """Poll (handle, ack) until the tenant's queue is empty; returns the batches received.

    An empty poll alone does not mean the queue is empty: the other driver may hold the
    tenant's lease or its advisory lock; so an empty poll ends the loop only once the tasks
    table holds nothing more of the tenant."""
    batches: list[list[Any]] = []
    while time.monotonic() < deadline:
        batch = driver.poll()
        if batch:
            batches.append(batch)
        elif finished():
            return batches
        else:
            time.sleep(0.005)  # the other driver holds the queue: let it ack
    raise AssertionError(f"the queue did not drain in {DRAIN_SECONDS} s")


def assert_acked_once(site: Site, tenant_id: uuid.UUID, expected: list[Delivered]) -> None:
    """Nothing of the tenant is left queued, and its history holds exactly one ``success``
    per expected task (and nothing else)."""
    assert remaining(site, tenant_id) == 0
    assert history(site, tenant_id) == Counter((task_id, "success") for task_id, _ in expected)


def settings(lease_seconds: int) -> dict[str, str]:
    """The servers' task settings."""
    return {
        "INTEROP_HUB_TASK_BATCH_SIZE": str(BATCH),
        "INTEROP_HUB_TASK_LEASE_SECONDS": str(lease_seconds),
    }


def serve_all(stack: ExitStack, site: Site, logs: list[Path]) -> list[str]:
    """One server process per log file (long leases), started side by side; ``stack`` stops
    them."""
    servers = [stack.enter_context(ExitStack()) for _ in logs]

    def start(server: ExitStack, log: Path) -> str:
        return server.enter_context(
            bench.serve(site.url, site.data_dir, log, env=settings(LONG_LEASE))
        )

    with ThreadPoolExecutor(max_workers=len(logs)) as pool:
        return list(pool.map(start, servers, logs))


def poll_and_die(base_url: str, tenant: Tenant, log: Path) -> list[Delivered]:
    """Run the driver that dies (``tests.driver`` as a script): read the batch it received,
    then kill it with SIGKILL before it acknowledges anything."""
    command = [sys.executable, "-m", "tests.driver", base_url]
    command += [tenant.client_id, tenant.client_secret]
    with log.open("ab") as errors:
        child = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
        finally:
            child.kill()
            child.wait(timeout=30)
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()
    assert line, f"the dying driver exited ({child.returncode}) without a batch; see {log}"
    assert child.returncode == -signal.SIGKILL
    return [(task_id, sequence) for task_id, sequence in json.loads(line)]


def test_two_servers_and_two_drivers_share_a_tenant_exactly_once(
    site: Site, tmp_path: Path
) -> None:
    tenant = install_active_tenant(site, OBJECT_TOPICS, MEMBERSHIPS)
    expected = queued(site, tenant.id)
    assert len(expected) > 2_000  # a hundred batches and more
    assert [s for _, s in expected] == sorted({s for _, s in expected})

    with ExitStack() as stack:
        logs = [tmp_path / f"server-{name}.log" for name in ("a", "b")]
        drivers: list[Driver] = []
        for base_url in serve_all(stack, site, logs):
            http = stack.enter_context(httpx.Client(base_url=base_url, timeout=30))
            drivers.append(Driver(http, tenant.client_id, tenant.client_secret, strict=False))
        deadline = time.monotonic() + DRAIN_SECONDS
        with ThreadPoolExecutor(max_workers=len(drivers)) as pool:
            futures = [
                pool.submit(drain_shared, d, lambda: remaining(site, tenant.id) == 0, deadline)
                for d in drivers
            ]
            polls = [[[delivered(t) for t in batch] for batch in f.result()] for f in futures]

    # Every task acknowledged, once, by one of the drivers; none lost; none left.
    expected_ids = {task_id for task_id, _ in expected}
    acked = [[task_id for task_id, _ in d.acked] for d in drivers]
    assert all(status == "success" for d in drivers for _, status in d.acked)
    assert set(acked[0]) | set(acked[1]) == expected_ids
    assert len(acked[0]) + len(acked[1]) == len(expected_ids)  # disjoint, and no repeats
    assert_acked_once(site, tenant.id, expected)
    assert all(polls), [len(p) for p in polls]  # both drivers took part

    # Each driver received the tenant's tasks in sequence order, redeliveries aside.
    times = Counter(task_id for batches in polls for batch in batches for task_id, _ in batch)
    redelivered = {task_id for task_id, n in times.items() if n > 1}
    for batches in polls:
        sequences = [s for batch in batches for task_id, s in batch if task_id not in redelivered]
        assert sequences == sorted(set(sequences))
    refused = {f["task_id"] for d in drivers for f in d.failed}
    assert refused <= redelivered  # only a task delivered twice can be acked twice
    # With a lease far longer than the test nothing came back: the two drivers' batches are
    # consecutive slices of the queue, which together are the queue, each task once.
    assert redelivered == set()
    assert refused == set()
    batches = sorted((b for p in polls for b in p), key=lambda b: b[0][1])
    assert [task for batch in batches for task in batch] == expected


def test_a_driver_killed_holding_a_batch_gets_it_redelivered_in_order(
    site: Site, tmp_path: Path
) -> None:
    tenant = install_active_tenant(site, FEW_TOPICS)
    expected = queued(site, tenant.id)
    assert len(expected) > 2 * BATCH

    with (
        bench.serve(
            site.url, site.data_dir, tmp_path / "server.log", env=settings(SHORT_LEASE)
        ) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        survivor = Driver(http, tenant.client_id, tenant.client_secret)
        survivor._auth()  # its token first: it polls as soon as the other driver is dead
        held = poll_and_die(base_url, tenant, tmp_path / "dying-driver.log")
        assert held == expected[:BATCH]  # the oldest tasks, in order
        until = lease_end(site, [task_id for task_id, _ in held])

        # While the dead driver's lease lasts, the tenant's queue is blocked.
        blocked = 0
        deadline = time.monotonic() + SHORT_LEASE + DRAIN_SECONDS
        while not (batch := survivor.poll()):
            if utcnow() < until:
                blocked += 1
            assert time.monotonic() < deadline, "the dead driver's tasks never came back"
            time.sleep(0.05)
        answered = utcnow()
        assert answered >= until, f"{delivered(batch[0])} went out while the lease lasted"
        assert blocked >= 1, "no poll was answered while the lease lasted"
        # The same tasks, in the same order, came back first; then the rest, in order.
        assert [delivered(t) for t in batch] == held
        survivor.drain()

    assert [delivered(t) for t in survivor.seen] == expected
    assert_acked_once(site, tenant.id, expected)
