"""The task-queue benchmark (``bench/bench_tasks.py``) at a tiny size, to keep it working.

The benchmark is a script, run by hand at 100,000 students; this runs the whole of it once on a
200-student district in fresh PostgreSQL databases (dropped afterwards) and checks that its
figures stand for real work: each activation queued exactly what its tenant's blueprint sees,
the nightly queued tasks for the tenants it concerns, and every drain — the SQL floor, the HTTP
driver, the in-process requests — took every queued task exactly once and in sequence order,
acknowledged each exactly once and left the queue empty. Timings are not asserted (a tiny
district says nothing about speed). Activations and in-process drains run in this process
(``isolate=False``) to keep the test short; collections still run in spawned children.

PostgreSQL is the local server (``INTEROP_HUB_TEST_POSTGRES_URL``); when it cannot be reached
the test is skipped locally and fails under ``CI=true``, as in ``conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from bench import bench_collection, bench_tasks

POSTGRES_ADMIN_URL = os.environ.get(
    "INTEROP_HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
STUDENTS = 200
SEED = 3


@pytest.fixture(scope="module")
def admin_url() -> str:
    try:
        with psycopg.connect(
            bench_collection.conninfo(POSTGRES_ADMIN_URL), connect_timeout=5
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not usable: {reason}")
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    return POSTGRES_ADMIN_URL


def _bench_databases(admin_url: str) -> set[str]:
    with psycopg.connect(bench_collection.conninfo(admin_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"interop\\_bench\\_tasks\\_{os.getpid()}\\_%",),
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-tasks")


@pytest.fixture(scope="module")
def report(admin_url: str, workdir: Path) -> bench_tasks.Report:
    options = bench_tasks.Options(
        students=STUDENTS,
        seed=SEED,
        workdir=workdir,
        postgres_url=admin_url,
        batch_size=40,
        floor_runs=2,
        isolate=False,
    )
    result = bench_tasks.run_benchmark(options, say=lambda _line: None)
    assert _bench_databases(admin_url) == set()  # every database it made is dropped
    return result


def test_every_check_of_the_run_holds(report: bench_tasks.Report) -> None:
    assert bench_tasks.problems(report) == []
    table = bench_tasks.render_table(report)
    assert "checks: every count as expected" in table
    for target in ("≤ 2×", "≤ 3×", "≤ 1.5×", "≥ 0.5×", "10,000 tasks/s"):
        assert target in table
    figures = {f.name: f for f in bench_tasks.figures(report)}
    assert all(f.seconds > 0 for f in figures.values())
    assert sum(f.passed is not None for f in figures.values()) == 5
    json_report = report.to_json()
    assert json_report["initial_seconds"] == report.initial_seconds > 0
    assert len(json_report["figures"]) == len(figures)


def test_fan_out_queues_what_each_blueprint_sees(report: bench_tasks.Report) -> None:
    one, ten = report.fanout_one, report.fanout_ten
    assert one is not None
    assert ten is not None
    # The full blueprint sees every object (the orgs are the LEA and its schools, the users
    # students, teachers and staff) and every enrollment (all are students' or teachers').
    full = bench_collection.expected_objects(report.bundle)
    (single,) = one.activations
    assert single.blueprint == bench_tasks.SINGLE
    assert single.data_events == single.expected_data_events == full
    assert single.tasks == full + 3  # TENANT_ACTIVATED, SYNC_START, SYNC_END
    assert [a.blueprint for a in ten.activations] == list(bench_tasks.BLUEPRINTS)
    assert ten.activations[0].tasks == single.tasks  # the same blueprint, the same district
    sizes = {a.blueprint: a.data_events for a in ten.activations}
    assert len(set(sizes.values())) == len(sizes)  # ten different views
    assert all(0 < size <= full for size in sizes.values())
    for a in ten.activations:
        assert a.data_events == a.expected_data_events
        assert a.tasks == a.data_events + 3
    assert ten.tasks == sum(a.tasks for a in ten.activations)
    assert ten.seconds >= sum(a.seconds for a in ten.activations) > 0
    # The nine others are scoped, each to some of the district's schools.
    scoped = [a.tenant_id for a in ten.activations[1:]]
    assert sorted(report.scoping) == sorted(scoped)
    assert all(count >= 1 for count in report.scoping.values())
    for fanout in (one, ten):
        storage = fanout.storage
        assert storage is not None
        assert storage.tasks == fanout.tasks
        assert storage.total_bytes >= storage.heap_bytes > 0
        assert storage.total_bytes == (
            storage.heap_bytes + storage.toast_bytes + storage.index_bytes
        )
        assert storage.per_task > 0
        assert storage.payload_bytes > 0


def test_nightly_reaches_the_tenants_it_concerns(report: bench_tasks.Report) -> None:
    none = report.collections["nightly, no tenants"]
    with_ten = report.collections["nightly, 10 tenants"]
    assert (none.added, none.updated, none.deleted) == (
        with_ten.added,
        with_ten.updated,
        with_ten.deleted,
    )
    assert none.added > 0
    assert none.deleted > 0
    assert set(report.nightly_tasks) == set(bench_tasks.BLUEPRINTS)
    assert report.nightly_tasks[bench_tasks.SINGLE] > 0  # it sees everything the nightly changed
    assert report.nightly_tasks["single-sign-on"] > 0  # users changed


def test_every_drain_takes_every_task_once_in_order(
    report: bench_tasks.Report, workdir: Path
) -> None:
    delivery = report.delivery
    assert delivery is not None
    assert report.delivery_activation is not None
    _, nightly = bench_collection.prepare_bundles(workdir, STUDENTS, SEED)  # reused, not rewritten
    students = bench_collection.count_students(nightly)  # delivery follows the nightly
    assert delivery.data_events == students  # the Student tenant's initial sync
    assert delivery.tasks == students + 4  # and TENANT_INSTALLED, TENANT_ACTIVATED, the sync
    assert delivery.payload_bytes > 1000 * students  # full students, with their sections
    drains = [*delivery.floor_runs, delivery.driver, delivery.in_process]
    assert len(drains) == 4
    for drain in drains:
        assert drain is not None
        assert drain.tasks == drain.unique == delivery.tasks
        assert drain.in_order
        assert drain.batches == -(-delivery.tasks // delivery.batch_size)
        assert drain.seconds >= drain.poll_seconds + drain.ack_seconds > 0
    assert delivery.acks_after_driver == delivery.distinct_acks_after_driver == delivery.tasks
    assert delivery.left_after_driver == 0
