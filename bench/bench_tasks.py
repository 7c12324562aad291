"""The task-queue benchmark of issue 4 (Performance): fan-out, the nightly with tenants, delivery.

Why: the task queue is where a collection's change becomes every tenant's work, and where a
driver takes that work away. Its cost only means something next to what the same machine does
without it, so each target of issue 4 is a ratio to a baseline measured in the same run:

- **fan-out**: the initial sync of the district to 1 tenant — the time from activation until
  every task is queued — ≤ 2× the district's initial collection; to 10 tenants with different
  scoping ≤ 3× the time of 1 tenant; and the bytes stored per task. The 10 tenants differ by
  blueprint (topics and attributes, :data:`BLUEPRINTS`) and by scoping: the first sees the
  whole district, the nine others each a different ninth of its schools
  (:func:`scope_tenants`); the single tenant has the first and largest blueprint (every topic,
  every attribute, roll-ups and section enrollments);
- **nightly**: the nightly re-collection with those 10 tenants active ≤ 1.5× the same
  collection into a cloud without tenants;
- **delivery**: with 100,000 data events queued for one tenant, a driver over HTTP (the hub in
  ``uvicorn`` on loopback, on PostgreSQL) polls ``GET /v2/interop/data/tasks`` and acknowledges
  each batch with one ``PUT /v2/interop/data/tasks/ack`` until the queue is empty: ≥ 10,000
  tasks/s, and ≥ 0.5× the rate of the *floor* — a bare SQL loop over the same rows that takes
  a batch of the same size with ``SELECT ... ORDER BY sequence LIMIT n FOR UPDATE SKIP
  LOCKED`` and deletes it, one transaction per batch.

How: the district comes from :mod:`bench.generate_district` (via
:func:`bench.bench_collection.prepare_bundles`, reused from ``--workdir``). Two PostgreSQL
databases (``interop_bench_*``, dropped at the end whatever happens), so that each fan-out
starts from a freshly collected cloud, with nothing rendered or stored by an earlier
activation (the hub shares what it renders between tenants):

- *1 tenant*: the initial collection; the single tenant installed and activated (the 1-tenant
  fan-out), then uninstalled; the nightly collection, now without tenants; then a tenant whose
  blueprint is ``Student`` with every attribute and its ``$schools`` and ``$sections`` is
  activated: its initial sync queues one data event per student (100,000 rendered students,
  ~3 KB of JSON each, exactly as the hub queues them). Those task rows are kept aside and
  restored before each drain: the floor (median of ``--floor-runs``), the HTTP driver, and the
  same requests served in-process (the route functions called directly, no HTTP), which tells
  the cost of the HTTP stack apart from the hub's own;
- *10 tenants*: the initial collection; the 10 tenants installed and activated one after
  another, each in its own transaction as an operator's activation is (the 10-tenant fan-out:
  the sum of the ten transactions); the nightly collection with the 10 tenants active.

The district's initial collection, which the 1-tenant fan-out is compared with, is the mean of
the two. Collections and activations each run in a fresh spawned child (so ``ru_maxrss`` is
that step's peak). Every figure is checked to stand for real work: each tenant's task count
against what its blueprint sees in the Repository, every delivered task acknowledged exactly
once and in ``sequence`` order, the queue empty at the end. The load average after each step
and a digest of the hub's sources are part of the report, which is also written (``--json``)
after every step. ``--profile DIR`` adds one more (cold) full-blueprint activation, after the
nightly without tenants, and one more in-process drain, both under :mod:`cProfile`
(``DIR/fanout.pstats``, ``DIR/delivery.pstats``); the delivery tenant's activation then reuses
what the profiled one rendered. ``--analyze`` runs ``ANALYZE`` on the task tables after each
activation, off the clock, as autovacuum would on a server that has it on.
``--delivery-only`` measures delivery alone (one collection, no fan-out or nightly figures),
e.g. at other ``--batch-size`` values.

Usage::

    python -m bench.bench_tasks [--students 100000] [--seed 1] [--workdir /tmp/interop-bench]
        [--batch-size 100] [--floor-runs 3] [--skip-in-process] [--delivery-only] [--analyze]
        [--profile DIR] [--json OUT] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import psycopg
from psycopg.types.string import TextLoader
from sqlalchemy import exists, func, select, text, true

from bench.bench_collection import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_WORKDIR,
    BenchError,
    CollectionResult,
    _cpu_seconds,
    _maxrss_bytes,
    bench_settings,
    collect_in_child,
    conninfo,
    create_database,
    csv_files,
    drop_database,
    fetch_token,
    file_rows,
    install_tenants,
    new_database_name,
    prepare_bundles,
    prepare_database,
    profile_summary,
    serve,
    server_settings,
    source_digest,
    sqlalchemy_url,
)
from interop_hub.auth.service import principal_for_claims
from interop_hub.auth.tokens import read_token
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.db import write_transaction
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.runtime import build_hub
from interop_hub.scoping import service as scoping
from interop_hub.scoping.models import TenantVisible
from interop_hub.scoping.queries import selection_of
from interop_hub.scoping.schemas import ScopingSchoolIn
from interop_hub.tasks import routes
from interop_hub.tasks.projection import TenantView
from interop_hub.tasks.schemas import plain_successes
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant

TASKS_PATH = "/v2/interop/data/tasks"
ACK_PATH = "/v2/interop/data/tasks/ack"
SNAPSHOT = "bench_tasks_snapshot"
T = TypeVar("T")

# --- Blueprints ---------------------------------------------------------------------------------

EVERYTHING = ("*", "$schools", "$sections", "$students", "$teachers")
OBJECT_TOPICS = (
    "LEA",
    "School",
    "Term",
    "Course",
    "Section",
    "Student",
    "Teacher",
    "Staff",
    "Contact",
    "GradingCategory",
)
Topics = dict[str, tuple[str, ...] | None]
"""Topic → its attributes (None: no ``<Attributes>``, i.e. every ordinary attribute)."""

BLUEPRINTS: dict[str, Topics] = {
    # The single tenant of the 1-tenant fan-out, and the first of the ten: everything.
    "lms-full": {
        **dict.fromkeys(OBJECT_TOPICS, EVERYTHING),
        "StudentSectionEnrollment": None,
        "TeacherSectionEnrollment": None,
    },
    "sis-mirror": dict.fromkeys(OBJECT_TOPICS[:8]),
    "classroom": {
        "School": ("name",),
        "Course": ("title",),
        "CourseSection": ("*", "$students", "$teachers"),
        "Student": ("*", "$sections"),
        "Teacher": ("*", "$sections"),
    },
    "assessment": {
        "School": None,
        "Section": ("title", "local_id"),
        "Student": ("name", "local_id", "$schools"),
        "StudentSectionEnrollment": None,
    },
    "gradebook": {
        "Term": None,
        "Course": None,
        "Section": ("*", "$students", "$teachers"),
        "Student": ("name",),
        "Teacher": ("name", "email"),
        "GradingCategory": None,
    },
    "library": {
        "School": ("name",),
        "Student": ("name", "local_id", "$schools"),
        "Teacher": ("name", "email"),
        "Staff": ("name", "email"),
    },
    "single-sign-on": {
        "Student": ("name", "email"),
        "Teacher": ("name", "email"),
        "Staff": ("name", "email"),
    },
    "family-messaging": {
        "School": ("name",),
        "Student": ("name", "$schools"),
        "Contact": None,
        "Teacher": ("name", "email", "$sections"),
    },
    "scheduling": {
        "Term": None,
        "Course": ("*", "$sections"),
        "Section": ("*", "$teachers"),
        "TeacherSectionEnrollment": None,
    },
    "district-reporting": {"LEA": None, "School": None, "Term": None, "Course": None},
}
DELIVERY_BLUEPRINT: Topics = {"Student": ("*", "$schools", "$sections")}
SINGLE = "lms-full"


def blueprint_xml(name: str, topics: Topics) -> str:
    """An Integration Blueprint document listing ``topics``."""
    body = []
    for topic, attributes in topics.items():
        if attributes is None:
            body.append(f'<Topic Name="{topic}"/>')
        else:
            listed = "".join(f'<Attribute Name="{a}"/>' for a in attributes)
            body.append(f'<Topic Name="{topic}"><Attributes>{listed}</Attributes></Topic>')
    return (
        f'<IntegrationBlueprint Name="{name}" Version="1.0" SchemaVersion="1.0">'
        f"<Integration><Title>{name}</Title><IdSpace>bench</IdSpace></Integration>"
        f"<Topics>{''.join(body)}</Topics></IntegrationBlueprint>"
    )


# --- Results ------------------------------------------------------------------------------------


@dataclass
class Activation:
    """One tenant's activation: ``TENANT_ACTIVATED`` and its initial sync, one transaction."""

    blueprint: str
    tenant_id: str
    seconds: float  # from the start of the transaction to its commit
    tasks: int = 0  # queued by the activation (lifecycle, SYNC_START, data events, SYNC_END)
    data_events: int = 0
    expected_data_events: int = 0  # what the blueprint sees in the Repository


@dataclass
class Storage:
    """What a step added to the task tables — ``tasks`` and, where the hub keeps payloads apart,
    ``task_payloads`` — as differences of ``pg_*_size`` before and after."""

    tasks: int
    total_bytes: int  # heap + TOAST + indexes of both tables
    heap_bytes: int
    toast_bytes: int
    index_bytes: int
    payload_table_bytes: int  # of which task_payloads (0 when the hub has no such table)
    payload_bytes: int  # JSON the step's tasks refer to (each stored payload counted once)

    @property
    def per_task(self) -> float:
        return self.total_bytes / self.tasks if self.tasks else 0.0


@dataclass
class Fanout:
    label: str
    seconds: float  # the activations' transactions, start to commit, one after another
    cpu_seconds: float
    peak_rss_bytes: int
    activations: list[Activation]
    storage: Storage | None = None
    analyze_seconds: float = 0.0  # ANALYZE of the task tables after each activation (untimed)

    @property
    def tasks(self) -> int:
        return sum(a.tasks for a in self.activations)


@dataclass
class Drain:
    """One pass that empties a tenant's queue (the floor, the HTTP driver, in-process)."""

    label: str
    tasks: int
    batches: int
    seconds: float
    unique: int  # distinct task ids taken
    in_order: bool  # every task's sequence above the one before
    poll_seconds: float = 0.0  # GET /tasks (driver), next_batch (in-process), SELECT (floor)
    ack_seconds: float = 0.0  # PUT /tasks/ack, acknowledge, DELETE

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds if self.seconds else 0.0


@dataclass
class Delivery:
    tenant_id: str
    tasks: int  # the tenant's queue when each drain starts
    data_events: int
    payload_bytes: int
    batch_size: int
    floor_runs: list[Drain]
    driver: Drain | None = None
    in_process: Drain | None = None
    acks_after_driver: int = 0  # task_acks rows of the tenant's queued tasks, after the driver
    distinct_acks_after_driver: int = 0
    left_after_driver: int = -1  # tasks of the tenant still queued after the driver

    @property
    def floor_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.floor_runs)

    @property
    def floor_rate(self) -> float:
        return self.tasks / self.floor_seconds if self.floor_runs else 0.0


@dataclass
class Report:
    students: int
    seed: int
    bundle: dict[str, int]
    bundle_bytes: int
    server: dict[str, str]
    batch_size: int
    collections: dict[str, CollectionResult] = field(default_factory=dict)
    fanout_one: Fanout | None = None
    fanout_ten: Fanout | None = None
    nightly_tasks: dict[str, int] = field(default_factory=dict)  # blueprint → tasks queued
    scoping: dict[str, int] = field(default_factory=dict)  # tenant id → schools selected
    delivery_activation: Fanout | None = None
    delivery: Delivery | None = None
    source_digest: str = ""
    source_digest_end: str = ""
    load: dict[str, list[float]] = field(default_factory=dict)
    date: str = ""
    python: str = field(default_factory=lambda: sys.version.split()[0])
    cpus: int = field(default_factory=lambda: os.cpu_count() or 0)

    @property
    def initial_seconds(self) -> float:
        """The district's initial collection: the mean of this run's two."""
        found = [c.seconds for k, c in self.collections.items() if k.startswith("initial")]
        return statistics.mean(found) if found else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["initial_seconds"] = self.initial_seconds
        out["figures"] = [asdict(f) for f in figures(self)]
        return out


# --- Child processes ----------------------------------------------------------------------------


def in_child(function: Callable[..., T], *args: Any, isolate: bool = True) -> T:
    """Run ``function(*args)`` in a fresh spawned process (so that its ``ru_maxrss`` is this
    step's own peak) and return the result; with ``isolate=False``, here (the test suite's
    small run saves the process start-ups)."""
    if not isolate:
        return function(*args)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def analyze_task_tables(database_url: str) -> float:
    """``ANALYZE`` the task tables, as autovacuum's autoanalyze would on a default server once
    an activation has committed (this machine runs without autovacuum); its seconds."""
    started = time.perf_counter()
    with _pg(database_url) as conn:
        tables = ["tasks", PAYLOADS] if _shared_payloads(conn) else ["tasks"]
        conn.execute(f"ANALYZE {', '.join(tables)}")
    return time.perf_counter() - started


def _activate(
    database_url: str,
    data_dir: str,
    label: str,
    tenants: list[tuple[str, str]],
    profile_out: str | None,
    analyze: bool,
) -> Fanout:
    """Activate each ``(blueprint name, tenant id)`` in turn, each in its own transaction (and,
    with ``analyze``, the task tables analyzed after each commit, off the clock)."""
    hub = build_hub(bench_settings(database_url, Path(data_dir)))
    analyzing = 0.0
    try:
        with hub.engine.connect() as conn:  # connect before the clock starts
            conn.execute(text("SELECT 1"))
        profiler = cProfile.Profile() if profile_out else None
        activations = []
        cpu_started = _cpu_seconds()
        for blueprint, tenant_id in tenants:
            if profiler is not None:
                profiler.enable()
            began = time.perf_counter()
            with write_transaction(hub.sessions) as session:
                lifecycle.transition(session, uuid.UUID(tenant_id), "activate", hub.now())
            activations.append(Activation(blueprint, tenant_id, time.perf_counter() - began))
            if profiler is not None:
                profiler.disable()
            if analyze:
                analyzing += analyze_task_tables(database_url)
        if profiler is not None and profile_out is not None:
            profiler.dump_stats(profile_out)
        cpu = _cpu_seconds() - cpu_started
    finally:
        hub.engine.dispose()
    seconds = sum(a.seconds for a in activations)
    return Fanout(label, seconds, cpu, _maxrss_bytes(), activations, analyze_seconds=analyzing)


def activate(
    database_url: str,
    data_dir: Path,
    label: str,
    tenants: Sequence[tuple[str, uuid.UUID]],
    *,
    profile_out: Path | None = None,
    isolate: bool = True,
    analyze: bool = False,
) -> Fanout:
    """Activate the tenants (in a spawned child unless ``isolate`` is false), then count what
    each activation queued and what the Repository says its blueprint sees, and the bytes it
    added to the ``tasks`` table."""
    before = table_sizes(database_url)
    fanout = in_child(
        _activate,
        database_url,
        str(data_dir),
        label,
        [(name, str(tenant_id)) for name, tenant_id in tenants],
        str(profile_out) if profile_out else None,
        analyze,
        isolate=isolate,
    )
    if not isolate:
        fanout.peak_rss_bytes = 0  # this process's peak says nothing about the step
    after = table_sizes(database_url)
    tenant_ids = [uuid.UUID(a.tenant_id) for a in fanout.activations]
    counted = queued_by_activation(database_url, tenant_ids)
    for activation in fanout.activations:
        activation.tasks, activation.data_events = counted[uuid.UUID(activation.tenant_id)]
        activation.expected_data_events = expected_data_events(
            database_url, data_dir, uuid.UUID(activation.tenant_id)
        )
    fanout.storage = Storage(
        tasks=fanout.tasks,
        total_bytes=after["total"] - before["total"],
        heap_bytes=after["heap"] - before["heap"],
        toast_bytes=after["toast"] - before["toast"],
        index_bytes=after["index"] - before["index"],
        payload_table_bytes=after["payloads"] - before["payloads"],
        payload_bytes=payload_bytes(database_url, tenant_ids),
    )
    return fanout


# --- Counting -----------------------------------------------------------------------------------


def _pg(database_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo(database_url), autocommit=True)


PAYLOADS = "task_payloads"


def _shared_payloads(conn: psycopg.Connection[Any]) -> bool:
    """Whether the hub keeps task data in ``task_payloads`` (``tasks.payload_id``) rather than
    in the task rows (``tasks.data``, ``tasks.changes``)."""
    row = conn.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'tasks' AND column_name = 'payload_id'"
    ).fetchone()
    return bool(row and row[0])


def table_sizes(database_url: str) -> dict[str, int]:
    """Bytes of the task tables: heap (with its free space and visibility maps), TOAST (with
    its index), indexes, all of them, and all of ``task_payloads`` alone."""
    sizes = dict.fromkeys(("heap", "toast", "index", "total", "payloads"), 0)
    with _pg(database_url) as conn:
        tables = ["tasks", PAYLOADS] if _shared_payloads(conn) else ["tasks"]
        for table in tables:
            row = conn.execute(
                "SELECT coalesce(pg_total_relation_size(NULLIF(reltoastrelid, 0)), 0), "
                "pg_table_size(oid), pg_indexes_size(oid), pg_total_relation_size(oid) "
                "FROM pg_class WHERE oid = %s::regclass",
                (table,),
            ).fetchone()
            assert row is not None
            toast, heap_and_toast, index, total = (int(value) for value in row)
            sizes["heap"] += heap_and_toast - toast
            sizes["toast"] += toast
            sizes["index"] += index
            sizes["total"] += total
            if table == PAYLOADS:
                sizes["payloads"] = total
    return sizes


def queued_by_activation(
    database_url: str, tenant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per tenant: the tasks queued but ``TENANT_INSTALLED`` (queued at install), and its data
    events."""
    with _pg(database_url) as conn:
        rows = conn.execute(
            "SELECT tenant_id, count(*) FILTER (WHERE action IS DISTINCT FROM "
            "'TENANT_INSTALLED'), count(*) FILTER (WHERE type = 'data_event') "
            "FROM tasks WHERE tenant_id = ANY(%s) GROUP BY tenant_id",
            (list(tenant_ids),),
        ).fetchall()
    found = {row[0]: (int(row[1]), int(row[2])) for row in rows}
    return {tenant_id: found.get(tenant_id, (0, 0)) for tenant_id in tenant_ids}


def payload_bytes(database_url: str, tenant_ids: Sequence[uuid.UUID], table: str = "tasks") -> int:
    """Bytes of the JSON the tenants' tasks (in ``table``: ``tasks`` or a copy) carry: their
    ``data`` and ``changes``, or the payloads they refer to, each payload counted once."""
    with _pg(database_url) as conn:
        if _shared_payloads(conn):
            statement = (
                f"SELECT coalesce(sum(octet_length(body::text)), 0) FROM {PAYLOADS} WHERE id IN "
                f"(SELECT payload_id FROM {table} WHERE tenant_id = ANY(%(t)s) UNION "
                f"SELECT prior_payload_id FROM {table} WHERE tenant_id = ANY(%(t)s))"
            )
        else:
            statement = (
                "SELECT coalesce(sum(coalesce(octet_length(data::text), 0) "
                f"+ coalesce(octet_length(changes::text), 0)), 0) FROM {table} "
                "WHERE tenant_id = ANY(%(t)s)"
            )
        row = conn.execute(statement, {"t": list(tenant_ids)}).fetchone()
    assert row is not None
    return int(row[0])


def expected_data_events(database_url: str, data_dir: Path, tenant_id: uuid.UUID) -> int:
    """How many objects and section memberships of the cloud the tenant's blueprint sees."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        with hub.sessions() as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            version = session.get(IntegrationVersion, tenant.version_id)
            assert version is not None
            view = TenantView.from_json(version.blueprint)
            scoped = not selection_of(session, tenant_id).whole_district
            total = 0
            for kind, subtype, count in session.execute(
                select(RepoObject.kind, RepoObject.subtype, func.count())
                .where(
                    RepoObject.cloud_id == tenant.cloud_id, _seen(scoped, tenant_id, RepoObject.id)
                )
                .group_by(RepoObject.kind, RepoObject.subtype)
            ):
                if view.topic(kind, subtype) is not None:
                    total += count
            if view.memberships:
                total += (
                    session.scalar(
                        select(func.count()).where(
                            RepoMembership.cloud_id == tenant.cloud_id,
                            RepoMembership.role.in_(list(view.memberships)),
                            _seen(scoped, tenant_id, RepoMembership.person_id),
                            _seen(scoped, tenant_id, RepoMembership.section_id),
                        )
                    )
                    or 0
                )
            return total
    finally:
        hub.engine.dispose()


def _seen(scoped: bool, tenant_id: uuid.UUID, owner: Any) -> Any:
    """``owner`` is in the tenant's stored scope (``tenant_visible``; everything unscoped)."""
    if not scoped:
        return true()
    return exists().where(TenantVisible.tenant_id == tenant_id, TenantVisible.object_id == owner)


def scope_tenants(
    database_url: str, data_dir: Path, cloud_id: uuid.UUID, tenant_ids: Sequence[uuid.UUID]
) -> dict[str, int]:
    """Give each tenant (still in setup) a different scoping: the district's schools in source
    id order, dealt out in turn, so each sees about 1/len(tenant_ids) of the district (one
    school each, in turn, when there are fewer schools than tenants); returns how many schools
    each got (by tenant id)."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        with write_transaction(hub.sessions) as session:
            schools = session.scalars(
                select(RepoObject.source_id)
                .where(RepoObject.cloud_id == cloud_id, RepoObject.subtype == "school")
                .order_by(RepoObject.source_id)
            ).all()
            dealt: dict[str, int] = {}
            for index, tenant_id in enumerate(tenant_ids):
                mine = schools[index :: len(tenant_ids)] or [schools[index % len(schools)]]
                items = [ScopingSchoolIn(school_ref_id=ref) for ref in mine]
                scoping.replace_selection(session, tenant_id, items, [], hub.now())
                dealt[str(tenant_id)] = len(mine)
        return dealt
    finally:
        hub.engine.dispose()


def tasks_by_origin(
    database_url: str, tenant_ids: Sequence[uuid.UUID], origin: str
) -> dict[uuid.UUID, int]:
    with _pg(database_url) as conn:
        rows = conn.execute(
            "SELECT tenant_id, count(*) FROM tasks WHERE tenant_id = ANY(%s) AND origin = %s "
            "GROUP BY tenant_id",
            (list(tenant_ids), origin),
        ).fetchall()
    found = {row[0]: int(row[1]) for row in rows}
    return {tenant_id: found.get(tenant_id, 0) for tenant_id in tenant_ids}


def uninstall(database_url: str, data_dir: Path, tenant_id: uuid.UUID) -> None:
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        with write_transaction(hub.sessions) as session:
            lifecycle.transition(session, tenant_id, "uninstall", hub.now())
    finally:
        hub.engine.dispose()


# --- Delivery -----------------------------------------------------------------------------------


def keep_queue(database_url: str, tenant_id: uuid.UUID) -> tuple[int, int, int]:
    """Copy the tenant's queued tasks aside (to restore before each drain); its counts: tasks,
    data events, payload bytes."""
    with _pg(database_url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SNAPSHOT}")
        conn.execute(
            f"CREATE TABLE {SNAPSHOT} AS SELECT * FROM tasks WHERE tenant_id = %s", (tenant_id,)
        )
        row = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE type = 'data_event') FROM {SNAPSHOT}"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), payload_bytes(database_url, [tenant_id], SNAPSHOT)


def restore_queue(database_url: str, tenant_id: uuid.UUID) -> int:
    """Put the kept tasks back (after a drain emptied the queue), drop the tenant's
    acknowledgement history, and ``VACUUM ANALYZE`` both tables, so that every drain starts from
    the same rows and clean tables (autovacuum may be off). Returns the tenant's queued tasks."""
    with _pg(database_url) as conn:
        with conn.transaction():
            conn.execute("DELETE FROM tasks WHERE tenant_id = %s", (tenant_id,))
            conn.execute("DELETE FROM task_acks WHERE tenant_id = %s", (tenant_id,))
            conn.execute(f"INSERT INTO tasks SELECT * FROM {SNAPSHOT}")
        conn.execute("VACUUM (ANALYZE) tasks")
        conn.execute("VACUUM (ANALYZE) task_acks")
        row = conn.execute(
            "SELECT count(*) FROM tasks WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def floor_drain(database_url: str, tenant_id: uuid.UUID, batch_size: int) -> Drain:
    """The floor: take the oldest ``batch_size`` tasks with ``FOR UPDATE SKIP LOCKED`` (whole
    rows with their payloads, JSON as text — a driver needs the data) and delete them, one
    transaction per batch, until none is left."""
    with _pg(database_url) as conn:
        shared = _shared_payloads(conn)
    payload = (
        f", p.body, q.body FROM tasks t LEFT JOIN {PAYLOADS} p ON p.id = t.payload_id "
        f"LEFT JOIN {PAYLOADS} q ON q.id = t.prior_payload_id"
        if shared
        else " FROM tasks t"
    )
    take = (
        f"SELECT t.id, t.sequence, t.*{payload} WHERE t.tenant_id = %s "
        "ORDER BY t.sequence LIMIT %s FOR UPDATE OF t SKIP LOCKED"
    )
    seen: set[uuid.UUID] = set()
    tasks = batches = 0
    last, in_order = -1, True
    took = deleted = 0.0
    with _pg(database_url) as conn:
        for name in ("json", "jsonb"):
            conn.adapters.register_loader(name, TextLoader)
        started = time.perf_counter()
        while True:
            with conn.transaction():
                began = time.perf_counter()
                rows = conn.execute(take, (tenant_id, batch_size)).fetchall()
                middle = time.perf_counter()
                if rows:
                    conn.execute("DELETE FROM tasks WHERE id = ANY(%s)", ([r[0] for r in rows],))
            ended = time.perf_counter()
            took += middle - began
            deleted += ended - middle
            if not rows:
                break
            batches += 1
            for row in rows:
                seen.add(row[0])
                in_order = in_order and row[1] > last
                last = row[1]
            tasks += len(rows)
        seconds = time.perf_counter() - started
    return Drain("floor", tasks, batches, seconds, len(seen), in_order, took, deleted)


def _ack_body(ids: list[str]) -> bytes:
    return orjson.dumps([{"task_id": task_id, "status": "success"} for task_id in ids])


class _Order:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.last = -1
        self.in_order = True

    def take(self, tasks: list[dict[str, Any]]) -> list[str]:
        ids = []
        for task in tasks:
            event = task[task["type"]]
            ids.append(event["id"])
            self.seen.add(event["id"])
            self.in_order = self.in_order and event["sequence"] > self.last
            self.last = event["sequence"]
        return ids


def drive(base_url: str, token: str) -> Drain:
    """The driver: ``GET /tasks``, then one ``PUT /tasks/ack`` with every id of the batch,
    until a poll returns nothing. JSON parsed and written with orjson."""
    order = _Order()
    tasks = batches = 0
    polled = acked = 0.0
    headers = {"Authorization": f"Bearer {token}"}
    ack_headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        client.get("/health")  # open the connection before the clock starts
        started = time.perf_counter()
        while True:
            began = time.perf_counter()
            response = client.get(TASKS_PATH)
            if response.status_code != 200:
                raise BenchError(f"GET {TASKS_PATH}: {response.status_code} {response.text[:500]}")
            batch = orjson.loads(response.content)["data"]
            middle = time.perf_counter()
            polled += middle - began
            if not batch:
                break
            ids = order.take(batch)
            answer = client.put(ACK_PATH, content=_ack_body(ids), headers=ack_headers)
            if answer.status_code != 200:
                raise BenchError(f"PUT {ACK_PATH}: {answer.status_code} {answer.text[:500]}")
            result = orjson.loads(answer.content)["data"]
            if result["acknowledged"] != len(ids) or result["failed"]:
                raise BenchError(f"PUT {ACK_PATH}: {len(ids)} sent, answer {result}")
            acked += time.perf_counter() - middle
            batches += 1
            tasks += len(ids)
        seconds = time.perf_counter() - started
    return Drain("driver", tasks, batches, seconds, len(order.seen), order.in_order, polled, acked)


def _drain_in_process(
    database_url: str, data_dir: str, token: str, batch_size: int, profile_out: str | None
) -> Drain:
    """The driver's requests without HTTP: per request a session as the app opens one for a
    writing request, the bearer token read and its principal loaded as the app does, then what
    the route answers with (``list_tasks``; ``ack_successes``, as the fast path of
    ``PUT /tasks/ack`` does for the driver's plain batch), whose response body is parsed."""
    settings = bench_settings(database_url, Path(data_dir)).model_copy(
        update={"task_batch_size": batch_size}
    )
    hub = build_hub(settings)
    order = _Order()
    tasks = batches = 0
    polled = acked = 0.0
    profiler = cProfile.Profile() if profile_out else None
    try:
        with hub.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        while True:
            began = time.perf_counter()
            with write_transaction(hub.sessions) as session:
                principal = principal_for_claims(
                    session, read_token(hub.keyring.signing_key, token, hub.now())
                )
                response = routes.list_tasks(
                    session,
                    hub,
                    principal,
                    tenant_id=None,
                    schema=None,
                    driver=None,
                    page_size=None,
                )
            batch = orjson.loads(response.body)["data"]
            middle = time.perf_counter()
            polled += middle - began
            if not batch:
                break
            ids = order.take(batch)
            with write_transaction(hub.sessions) as session:
                principal = principal_for_claims(
                    session, read_token(hub.keyring.signing_key, token, hub.now())
                )
                plain = plain_successes(_ack_body(ids), routes.MAX_ACKS)
                assert plain is not None
                answer = routes.ack_successes(routes.Acks(session, hub, principal), plain)
            result = orjson.loads(answer.body)["data"]
            if result["acknowledged"] != len(ids) or result["failed"]:
                raise BenchError(f"in-process ack: {len(ids)} sent, answer {result}")
            acked += time.perf_counter() - middle
            batches += 1
            tasks += len(ids)
        seconds = time.perf_counter() - started
        if profiler is not None and profile_out is not None:
            profiler.disable()
            profiler.dump_stats(profile_out)
    finally:
        hub.engine.dispose()
    label = "in-process (profiled)" if profile_out else "in-process"
    return Drain(label, tasks, batches, seconds, len(order.seen), order.in_order, polled, acked)


def acks_of_kept(database_url: str, tenant_id: uuid.UUID) -> tuple[int, int, int]:
    """After a drain: the history rows of the kept tasks (all, distinct), and tasks left."""
    with _pg(database_url) as conn:
        row = conn.execute(
            f"SELECT count(*), count(DISTINCT a.task_id) FROM task_acks a JOIN {SNAPSHOT} s "
            "ON s.id = a.task_id WHERE a.tenant_id = %s AND a.status = 'success'",
            (tenant_id,),
        ).fetchone()
        left = conn.execute(
            "SELECT count(*) FROM tasks WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()
    assert row is not None
    assert left is not None
    return int(row[0]), int(row[1]), int(left[0])


# --- The run ------------------------------------------------------------------------------------


@dataclass
class Options:
    students: int = 100_000
    seed: int = 1
    workdir: Path = DEFAULT_WORKDIR
    postgres_url: str = DEFAULT_POSTGRES_URL
    batch_size: int = 100  # INTEROP_HUB_TASK_BATCH_SIZE of the server, and the floor's batch
    floor_runs: int = 3
    in_process: bool = True
    profile: Path | None = None  # a directory for fanout.pstats and delivery.pstats
    isolate: bool = True  # activations and in-process drains in spawned children
    analyze: bool = False  # ANALYZE the task tables after each activation, as autovacuum would
    json: Path | None = None  # the report so far is written here after every step
    delivery_only: bool = False  # one collection, the delivery tenant and the drains


def run_benchmark(options: Options, say: Callable[[str], None] = print) -> Report:
    """The whole benchmark; every database it creates is dropped before it returns."""
    workdir = options.workdir.resolve()
    initial, nightly = prepare_bundles(workdir, options.students, options.seed)
    data_dir = workdir / "hub-data"
    admin = options.postgres_url
    rows = file_rows(initial)
    size = sum(path.stat().st_size for path in csv_files(initial))
    say(f"bundle: {sum(rows.values()):,} rows, {size / 1e6:.1f} MB in {initial}")
    report = Report(
        students=options.students,
        seed=options.seed,
        bundle=rows,
        bundle_bytes=size,
        server=server_settings(admin),
        batch_size=options.batch_size,
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        source_digest=source_digest(),
    )

    def loaded(step: str) -> None:
        """The load average after a step (other work on the machine skews the figures); the
        report so far to ``options.json``, so that a run cut short keeps what it measured."""
        report.load[step] = [round(value, 2) for value in os.getloadavg()]
        if options.json is not None:
            write_json(report, options.json)

    def collect(label: str, url: str, cloud: uuid.UUID, source: Path) -> None:
        say(f"{label} ...")
        result = collect_in_child("postgresql", label, url, data_dir, cloud, source)
        report.collections[label] = result
        loaded(label)
        say(f"  {result.seconds:.2f} s; +{result.added:,} ~{result.updated:,} -{result.deleted:,}")

    def fanned(fanout: Fanout) -> None:
        loaded(f"fan-out {fanout.label}")
        storage = fanout.storage
        per_task = f", {storage.per_task:,.0f} B/task" if storage else ""
        say(f"  {fanout.seconds:.2f} s, {fanout.tasks:,} tasks{per_task}")
        for a in fanout.activations:
            say(
                f"    {a.blueprint}: {a.seconds:.2f} s, {a.tasks:,} tasks, "
                f"{a.data_events:,} data events (blueprint sees {a.expected_data_events:,})"
            )

    created: list[str] = []

    def new_database(label: str) -> tuple[str, uuid.UUID]:
        """A fresh database with the district collected into a cloud: its URL and the cloud."""
        name = new_database_name("tasks")
        create_database(admin, name)
        created.append(name)
        url = sqlalchemy_url(admin, name)
        cloud = prepare_database(url, data_dir)
        collect(label, url, cloud, initial)
        return url, cloud

    def fan_out(
        url: str, label: str, tenants: list[tuple[str, uuid.UUID]], out: Path | None = None
    ) -> Fanout:
        return activate(
            url,
            data_dir,
            label,
            tenants,
            profile_out=out,
            isolate=options.isolate,
            analyze=options.analyze,
        )

    loaded("start")
    try:
        # One database for 1 tenant, the nightly without tenants and delivery; another for 10
        # tenants and the nightly with them: each fan-out starts from a freshly collected cloud
        # (nothing rendered or cached by an earlier activation).
        url, cloud = new_database("initial (1-tenant database)")
        if not options.delivery_only:
            (single,) = install_tenants(
                url, data_dir, cloud, [(SINGLE, blueprint_xml(SINGLE, BLUEPRINTS[SINGLE]))]
            )
            say(f"fan-out to 1 tenant ({SINGLE}) ...")
            report.fanout_one = fan_out(url, "1 tenant", [(SINGLE, single.id)])
            fanned(report.fanout_one)
            uninstall(url, data_dir, single.id)
            collect("nightly, no tenants", url, cloud, nightly)
            if options.profile is not None:
                options.profile.mkdir(parents=True, exist_ok=True)
                out = options.profile.resolve() / "fanout.pstats"
                say(f"profiling one more {SINGLE} activation into {out} ...")
                (extra,) = install_tenants(
                    url,
                    data_dir,
                    cloud,
                    [(f"profiled-{SINGLE}", blueprint_xml(SINGLE, BLUEPRINTS[SINGLE]))],
                )
                profiled = fan_out(url, "profiled", [(SINGLE, extra.id)], out)
                uninstall(url, data_dir, extra.id)
                say(f"  {profiled.seconds:.2f} s under cProfile, {profiled.tasks:,} tasks")
                say(profile_summary(out))
        (reader,) = install_tenants(
            url, data_dir, cloud, [("delivery", blueprint_xml("delivery", DELIVERY_BLUEPRINT))]
        )
        say("delivery: activating a Student tenant (its initial sync is the queue) ...")
        report.delivery_activation = fan_out(url, "delivery tenant", [("delivery", reader.id)])
        fanned(report.delivery_activation)
        tasks, data_events, payload = keep_queue(url, reader.id)
        delivery = report.delivery = Delivery(
            str(reader.id), tasks, data_events, payload, options.batch_size, []
        )
        say(f"  queue: {tasks:,} tasks, {data_events:,} data events, {payload / 1e6:.0f} MB JSON")
        for run in range(options.floor_runs):
            restore_queue(url, reader.id)
            floor = floor_drain(url, reader.id, options.batch_size)
            delivery.floor_runs.append(floor)
            loaded(f"floor {run + 1}")
            say(f"  floor {run + 1}: {_drain_line(floor)}")
        restore_queue(url, reader.id)
        env = {"INTEROP_HUB_TASK_BATCH_SIZE": str(options.batch_size)}
        with serve(url, data_dir, workdir / "server-tasks.log", env=env) as base_url:
            token = fetch_token(base_url, reader.client_id, reader.client_secret)
            delivery.driver = drive(base_url, token)
        loaded("driver")
        say(f"  driver over HTTP: {_drain_line(delivery.driver)}")
        (
            delivery.acks_after_driver,
            delivery.distinct_acks_after_driver,
            delivery.left_after_driver,
        ) = acks_of_kept(url, reader.id)
        if options.in_process:
            restore_queue(url, reader.id)
            delivery.in_process = in_child(
                _drain_in_process,
                url,
                str(data_dir),
                token,
                options.batch_size,
                None,
                isolate=options.isolate,
            )
            loaded("in-process")
            say(f"  in-process: {_drain_line(delivery.in_process)}")
        if options.profile is not None:
            out = options.profile.resolve() / "delivery.pstats"
            say(f"profiling an in-process drain into {out} ...")
            restore_queue(url, reader.id)
            profiled_drain = in_child(
                _drain_in_process,
                url,
                str(data_dir),
                token,
                options.batch_size,
                str(out),
                isolate=options.isolate,
            )
            say(f"  {_drain_line(profiled_drain)} under cProfile")
            say(profile_summary(out))

        if not options.delivery_only:
            url, cloud = new_database("initial (10-tenant database)")
            installed = install_tenants(
                url,
                data_dir,
                cloud,
                [(n, blueprint_xml(n, topics)) for n, topics in BLUEPRINTS.items()],
            )
            tenants = list(zip(BLUEPRINTS, (t.id for t in installed), strict=True))
            report.scoping = scope_tenants(url, data_dir, cloud, [t.id for t in installed[1:]])
            say(f"  scoping: {report.scoping}")
            say("fan-out to 10 tenants, one activation after another ...")
            report.fanout_ten = fan_out(url, "10 tenants", tenants)
            fanned(report.fanout_ten)
            collect("nightly, 10 tenants", url, cloud, nightly)
            queued = tasks_by_origin(url, [t.id for t in installed], "ingestion")
            report.nightly_tasks = {n: queued[tenant_id] for n, tenant_id in tenants}
            say(f"  {sum(queued.values()):,} tasks queued by the nightly")
    finally:
        for name in created:
            drop_database(admin, name)
    report.source_digest_end = source_digest()
    if report.source_digest_end != report.source_digest:
        say("WARNING: the hub's sources changed during the run; the figures mix versions.")
    return report


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


def _drain_line(drain: Drain) -> str:
    return (
        f"{drain.tasks:,} tasks in {drain.seconds:.2f} s ({drain.rate:,.0f} tasks/s), "
        f"{drain.batches:,} batches; poll {drain.poll_seconds:.2f} s, ack {drain.ack_seconds:.2f} s"
    )


# --- Checks and figures -------------------------------------------------------------------------


SYNC_OVERHEAD = 3
"""Tasks of an activation besides its data events: TENANT_ACTIVATED, SYNC_START, SYNC_END."""


def problems(report: Report) -> list[str]:
    """What would make a figure stand for less than the work it claims; empty when all is well."""
    found = []
    for fanout in (report.fanout_one, report.fanout_ten, report.delivery_activation):
        for a in fanout.activations if fanout else ():
            if a.data_events != a.expected_data_events:
                found.append(
                    f"{a.blueprint}: {a.data_events:,} data events, but its blueprint sees "
                    f"{a.expected_data_events:,} objects and memberships"
                )
            if a.tasks != a.data_events + SYNC_OVERHEAD:
                found.append(f"{a.blueprint}: {a.tasks:,} tasks for {a.data_events:,} data events")
    delivery = report.delivery
    if delivery is not None:
        drains = [*delivery.floor_runs, delivery.driver, delivery.in_process]
        for drain in (d for d in drains if d is not None):
            if not drain.tasks == drain.unique == delivery.tasks:
                found.append(
                    f"{drain.label}: {drain.tasks:,} tasks taken ({drain.unique:,} distinct) of "
                    f"{delivery.tasks:,} queued"
                )
            if not drain.in_order:
                found.append(f"{drain.label}: tasks out of sequence order")
        if delivery.driver is not None and not (
            delivery.acks_after_driver == delivery.distinct_acks_after_driver == delivery.tasks
            and delivery.left_after_driver == 0
        ):
            found.append(
                f"driver: {delivery.acks_after_driver:,} acks "
                f"({delivery.distinct_acks_after_driver:,} distinct) of {delivery.tasks:,} "
                f"tasks, {delivery.left_after_driver:,} left in the queue"
            )
    return found


@dataclass
class Figure:
    name: str
    seconds: float
    value: str  # what the target is about, when it is not the seconds (a rate, bytes)
    ratio: float | None
    ratio_of: str  # what the ratio divides by
    target: str
    passed: bool | None  # None: no target


DELIVERY_TARGET = 10_000  # tasks/s
TARGETS = {"fanout_one": 2.0, "fanout_ten": 3.0, "nightly": 1.5, "floor_share": 0.5}


def figures(report: Report) -> list[Figure]:
    out: list[Figure] = []
    initial = report.initial_seconds
    for label, result in report.collections.items():
        if label.startswith("initial"):
            out.append(Figure(f"{label} collection", result.seconds, "", None, "", "", None))
    one, ten = report.fanout_one, report.fanout_ten
    if one is not None:
        ratio = one.seconds / initial if initial else None
        limit = TARGETS["fanout_one"]
        out.append(
            Figure(
                f"fan-out, 1 tenant ({one.tasks:,} tasks)",
                one.seconds,
                _storage(one),
                ratio,
                "initial collection (mean)",
                f"≤ {limit:g}×",
                ratio is not None and ratio <= limit,
            )
        )
    if ten is not None:
        ratio = ten.seconds / one.seconds if one is not None and one.seconds else None
        limit = TARGETS["fanout_ten"]
        out.append(
            Figure(
                f"fan-out, 10 tenants ({ten.tasks:,} tasks)",
                ten.seconds,
                _storage(ten),
                ratio,
                "1 tenant",
                f"≤ {limit:g}×",
                ratio is not None and ratio <= limit,
            )
        )
    none = report.collections.get("nightly, no tenants")
    with_ten = report.collections.get("nightly, 10 tenants")
    if none is not None:
        out.append(Figure("nightly, no tenants", none.seconds, "", None, "", "", None))
    if with_ten is not None:
        ratio = with_ten.seconds / none.seconds if none is not None and none.seconds else None
        limit = TARGETS["nightly"]
        queued = sum(report.nightly_tasks.values())
        out.append(
            Figure(
                f"nightly, 10 tenants ({queued:,} tasks)",
                with_ten.seconds,
                "",
                ratio,
                "no tenants",
                f"≤ {limit:g}×",
                ratio is not None and ratio <= limit,
            )
        )
    delivery = report.delivery
    if delivery is not None and delivery.floor_runs:
        runs = len(delivery.floor_runs)
        out.append(
            Figure(
                f"delivery floor, SQL loop ({delivery.tasks:,} tasks, median of {runs})",
                delivery.floor_seconds,
                f"{delivery.floor_rate:,.0f} tasks/s",
                None,
                "",
                "",
                None,
            )
        )
        for drain, name in ((delivery.driver, "driver over HTTP"), (delivery.in_process, "")):
            if drain is None:
                continue
            share = drain.rate / delivery.floor_rate if delivery.floor_rate else None
            if name:
                out.append(
                    Figure(
                        f"delivery, {name}",
                        drain.seconds,
                        f"{drain.rate:,.0f} tasks/s",
                        drain.rate / DELIVERY_TARGET,
                        f"{DELIVERY_TARGET:,} tasks/s",
                        "≥ 1× (10,000 tasks/s)",
                        drain.rate >= DELIVERY_TARGET,
                    )
                )
                limit = TARGETS["floor_share"]
                out.append(
                    Figure(
                        f"delivery, {name}, rate vs floor",
                        drain.seconds,
                        f"{drain.rate:,.0f} tasks/s",
                        share,
                        "floor's rate",
                        f"≥ {limit:g}×",
                        share is not None and share >= limit,
                    )
                )
            else:
                out.append(
                    Figure(
                        "delivery, the same requests in-process (no HTTP)",
                        drain.seconds,
                        f"{drain.rate:,.0f} tasks/s",
                        share,
                        "floor's rate",
                        "",
                        None,
                    )
                )
    if report.delivery_activation is not None:
        act = report.delivery_activation
        out.append(
            Figure(
                f"fan-out, delivery tenant (Student only, {act.tasks:,} tasks)",
                act.seconds,
                _storage(act),
                None,
                "",
                "",
                None,
            )
        )
    return out


def _storage(fanout: Fanout) -> str:
    if fanout.storage is None or not fanout.storage.tasks:
        return ""
    return f"{fanout.storage.per_task:,.0f} B/task"


def render_table(report: Report) -> str:
    head = ("figure", "seconds", "value", "ratio", "of", "target", "result")
    rows: list[tuple[str, ...]] = [head]
    for f in figures(report):
        verdict = "" if f.passed is None else ("pass" if f.passed else "MISS")
        ratio = "—" if f.ratio is None else f"{f.ratio:.2f}×"
        rows.append((f.name, f"{f.seconds:,.2f}", f.value, ratio, f.ratio_of, f.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if i in (1, 2, 3) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join([*lines, "", *notes(report)])


def notes(report: Report) -> list[str]:
    out = [
        f"{report.students:,} students (seed {report.seed}): {sum(report.bundle.values()):,} "
        f"rows, {report.bundle_bytes / 1e6:.1f} MB of CSV; task batch size {report.batch_size}.",
        f"the district's initial collection: {report.initial_seconds:.2f} s (mean of "
        + ", ".join(
            f"{c.seconds:.2f}" for k, c in report.collections.items() if k.startswith("initial")
        )
        + ")",
    ]
    for fanout in (report.fanout_one, report.fanout_ten, report.delivery_activation):
        if fanout is None:
            continue
        out.append(
            f"fan-out {fanout.label}: {fanout.seconds:.2f} s, CPU {fanout.cpu_seconds:.2f} s"
            + (f", peak RSS {fanout.peak_rss_bytes / 1e6:,.0f} MB" if fanout.peak_rss_bytes else "")
            + (
                f"; ANALYZE of the task tables after each activation (off the clock): "
                f"{fanout.analyze_seconds:.2f} s"
                if fanout.analyze_seconds
                else ""
            )
        )
        for a in fanout.activations:
            out.append(
                f"  {a.blueprint}: {a.seconds:.2f} s, {a.tasks:,} tasks "
                f"({a.data_events:,} data events; the blueprint sees {a.expected_data_events:,})"
            )
        s = fanout.storage
        if s is not None and s.tasks:
            out.append(
                f"  stored: {s.total_bytes / 1e6:,.1f} MB = heap {s.heap_bytes / 1e6:,.1f} + "
                f"TOAST {s.toast_bytes / 1e6:,.1f} + indexes {s.index_bytes / 1e6:,.1f}"
                + (
                    f" (of which task_payloads {s.payload_table_bytes / 1e6:,.1f})"
                    if s.payload_table_bytes
                    else ""
                )
                + f"; {s.per_task:,.0f} B/task stored; {s.payload_bytes / 1e6:,.1f} MB of JSON "
                f"data ({s.payload_bytes / s.tasks:,.0f} B/task)"
            )
    if report.nightly_tasks:
        out.append(
            "tasks queued by the nightly: "
            + ", ".join(f"{n} {c:,}" for n, c in report.nightly_tasks.items())
        )
    for label, result in report.collections.items():
        out.append(
            f"{label}: {result.seconds:.2f} s, CPU {result.cpu_seconds:.2f} s, peak RSS "
            f"{result.peak_rss_bytes / 1e6:,.0f} MB; phases: "
            + ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in result.phases.items())
        )
    delivery = report.delivery
    if delivery is not None:
        out.append(
            f"delivery queue: {delivery.tasks:,} tasks ({delivery.data_events:,} data events, "
            f"{delivery.payload_bytes / max(delivery.data_events, 1):,.0f} B of JSON each)"
        )
        drains = [*delivery.floor_runs, delivery.driver, delivery.in_process]
        for drain in (d for d in drains if d is not None):
            out.append(f"  {drain.label}: {_drain_line(drain)}")
        if delivery.driver is not None:
            out.append(
                f"  after the driver: {delivery.acks_after_driver:,} acks "
                f"({delivery.distinct_acks_after_driver:,} distinct tasks), "
                f"{delivery.left_after_driver:,} tasks left"
            )
    found = problems(report)
    out += [f"PROBLEM: {p}" for p in found] or ["checks: every count as expected"]
    if report.source_digest_end and report.source_digest_end != report.source_digest:
        out.append(
            f"WARNING: the hub's sources changed during the run ({report.source_digest} → "
            f"{report.source_digest_end}): the figures mix versions."
        )
    else:
        out.append(f"interop_hub sources: {report.source_digest}")
    if report.load:
        out.append(
            "load average (1 min) after each step: "
            + ", ".join(f"{step} {values[0]:.2f}" for step, values in report.load.items())
        )
    return out


# --- Command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_tasks",
        description="Task queue: fan-out (1 and 10 tenants), the nightly with tenants, delivery.",
    )
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--batch-size", type=int, default=100, help="the server's task batch")
    parser.add_argument("--floor-runs", type=int, default=3, help="the floor is their median")
    parser.add_argument(
        "--skip-in-process", action="store_true", help="no in-process drain (no HTTP)"
    )
    parser.add_argument(
        "--delivery-only",
        action="store_true",
        help="only the delivery figures (one collection, no fan-out or nightly figures)",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE the task tables after each activation, off the clock (as autovacuum would)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write JSON here")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="an administrative connection (databases interop_bench_* are created and dropped)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="DIR",
        help="also profile one more activation and one more in-process drain (unmeasured)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = Options(
        students=args.students,
        seed=args.seed,
        workdir=args.workdir,
        postgres_url=args.postgres_url,
        batch_size=args.batch_size,
        floor_runs=args.floor_runs,
        in_process=not args.skip_in_process,
        analyze=args.analyze,
        delivery_only=args.delivery_only,
        profile=args.profile,
        json=args.json,
    )
    report = run_benchmark(options, say=lambda line: print(line, flush=True))
    print()
    print(render_table(report))
    if args.json is not None:
        write_json(report, args.json)
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
