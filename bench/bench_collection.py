"""The collection benchmark of issue 3 (Performance): floor, collections, paging and latency.

Why: a collection's speed only means something next to what the same machine and the same
PostgreSQL can do with the same files at best, so every figure is reported as a ratio to a
*floor* measured in the same run — ``COPY`` of every CSV file into plain ``text`` tables, the
least work that still gets the bytes into the database (the median of three such runs, each
into a fresh database: one run alone varies by tens of percent). The targets (issue 3, all on
PostgreSQL) are stated against that floor:

- a full **initial collection** into an empty cloud ≤ 5× the floor;
- a **nightly re-collection** (2 % of users changed, 0.5 % of students left and as many
  joined) ≤ 2× the floor;
- peak memory (RSS) of the collecting process ≤ 1.5 GB;
- **paging** through all students with ``page_size=1000`` ≥ 50,000 records/s;
- p99 latency of ``GET /v2/interop/data/rostering/students?page_size=100`` under 32 concurrent
  clients < 100 ms.

Paging and latency are measured for two tenants of the cloud (both in ``setup``, so the
collections queue no task for them): the *projected* reader (:data:`BLUEPRINT`: Students with
their names only — the hub parses and projects each stored rendering; the figures the targets
are judged on) and the *whole* reader (:data:`WHOLE_BLUEPRINT`: Students with every attribute
and roll-up — the hub splices the stored renderings as they are, and the client parses ~3 KB
per student). The latency step also reports the CPU time the benchmark's own HTTP clients spent
per request: they share the machine with the server and PostgreSQL. httpx spends ~4 ms per
request, as much as the server; each load is therefore also run with a minimal HTTP/1.1 client
(``lean``: the same requests over keep-alive connections, ~0.1 ms per request), whose figures
are closer to what an integration on its own machine sees. Both are reported.

SQLite is measured too (initial and nightly), without targets: it is the embedded default.

The PostgreSQL collections are measured as the floor is: the initial and nightly pair runs
``--collection-runs`` times (3 by default), each pair into a fresh database, and each figure is
the median of its runs (peak memory: the largest); every run's seconds are listed too. One run
alone varied by a third on the machines these figures come from (the same code: 7.5–10.5 s), so
a single run against a median floor judged the noise as much as the code.

How: the files come from :mod:`bench.generate_district` (deterministic by seed) and are reused
from ``--workdir`` when a stamp says they were written with the same parameters by the same
generator. Each collection (queue → claim → run, as ``interop-hub ingest`` does it) runs in a
fresh *spawned* child process, so that the child's own ``ru_maxrss`` is the peak memory of that
collection alone; the child also times every progress phase the collection reports (reading,
applying, writing each kind, deleting, ...), which says where the time went without a
profiler. The paging and latency figures go through the real HTTP stack: ``uvicorn`` serving
:func:`interop_hub.app.create_app` on loopback in a subprocess, an installed tenant's actor
token, and ``httpx`` clients. Students are paged once as collected, then again after an
``ANALYZE`` (``--no-analyze`` skips it): the hub's planner statistics are whatever the
collection left, and the server the figures come from runs without autovacuum. Every
database the run creates (``interop_bench_*`` on PostgreSQL, a file under the workdir for
SQLite) is dropped at the end, whatever happened.

Honesty aids: the load average after each step and a digest of the hub's sources (at the start,
at the end and in each collecting child) are part of the report; a run during which the sources
changed says so, since its figures mix versions.

Usage::

    python -m bench.bench_collection [--students 100000] [--seed 1]
        [--workdir /tmp/interop-bench] [--skip-sqlite] [--json OUT] [--profile OUT.pstats]
        [--floor-runs 3] [--collection-runs 3] [--clients 32] [--requests 3200]
        [--latency-seconds 120] [--server-workers 1] [--no-analyze] [--postgres-url URL]

``--profile`` additionally runs one initial PostgreSQL collection under :mod:`cProfile` (into
a database of its own, after the measured runs, so the measured figures stay unprofiled) and
prints its top costs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import gc
import hashlib
import io
import json
import math
import multiprocessing
import os
import pstats
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import psycopg
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import make_url

import interop_hub
from bench.generate_district import generate_district, generate_nightly
from interop_hub.auth.principal import Principal
from interop_hub.clouds.schemas import CloudCreate
from interop_hub.demo import district
from interop_hub.ingest import service as ingest
from interop_hub.integrations import service as integrations
from interop_hub.integrations.schemas import IntegrationCreate
from interop_hub.kit import migrate
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.settings import Settings
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate, InstalledTenant, TenantInstall
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.rostering.models import PayloadView
from interop_hub.runtime import build_hub
from interop_hub.tasks import renderings

DEFAULT_POSTGRES_URL = os.environ.get(
    "INTEROP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DEFAULT_WORKDIR = Path("/tmp/interop-bench")  # noqa: S108 - a scratch folder for files
BENCH_SECRET = "interop-bench-secret-key-0123456789-abcdefghijklmnop"  # noqa: S105 - bench only
NIGHTLY_RATES = {"change_rate": 0.02, "withdraw_rate": 0.005, "new_rate": 0.005}
STAMP = "bench-params.json"
STUDENTS_PATH = "/v2/interop/data/rostering/students"
COPY_CHUNK = 1 << 20
GB = 1_000_000_000  # decimal, as the target "1.5 GB" and the MB figures are

# Objects files (one Repository object per row); enrollments are memberships and demographics
# only add fields to persons.
OBJECT_FILES = ("orgs", "academicSessions", "courses", "classes", "users", "categories")

BLUEPRINT = """<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name="bench-reader" Version="1.0" SchemaVersion="1.0">
  <Integration>
    <Title>Benchmark reader</Title>
    <IdSpace>bench</IdSpace>
    <Capabilities><Capability>Rostering</Capability></Capabilities>
  </Integration>
  <Topics>
    <Topic Name="Student"><Attributes><Attribute Name="name"/></Attributes></Topic>
  </Topics>
</IntegrationBlueprint>
"""


WHOLE_BLUEPRINT = BLUEPRINT.replace("bench-reader", "bench-whole").replace(
    '<Attribute Name="name"/>',
    '<Attribute Name="*"/><Attribute Name="$schools"/><Attribute Name="$sections"/>',
)
"""A reader that sees every attribute of a Student, roll-ups included."""


class BenchError(RuntimeError):
    """The benchmark cannot go on (a collection failed, the server did not start, ...)."""


# --- Results ------------------------------------------------------------------------------------


@dataclass
class FloorResult:
    seconds: float  # the median of the runs: what every ratio divides by
    rows: int
    bytes: int
    files: int
    runs: list[float] = field(default_factory=list)  # seconds of each run


@dataclass
class CollectionResult:
    backend: str
    label: str
    state: str
    message: str | None
    seconds: float  # queue → claim → run, in the child
    setup_seconds: float  # queue, claim, loading the cloud's existing source ids
    read_seconds: float  # reading and validating the bundle (the "reading" phase of run)
    apply_seconds: float  # normalize, digest, diff, write, commit (the "applying" phase)
    phases: dict[str, float]  # seconds per progress phase the collection reported, in order
    source_digest: str  # of the hub's sources as this child imported them
    cpu_seconds: float  # user + system CPU time of the child during the collection
    peak_rss_bytes: int  # the child's ru_maxrss at the end
    baseline_rss_bytes: int  # the child's ru_maxrss before the collection (imports, hub)
    rows_read: int
    rows_rejected: int
    added: int
    updated: int
    deleted: int
    rendered: int = 0  # objects whose renderings the pass after the collection stored
    render_seconds: float = 0.0  # that pass (tasks.renderings.refresh), not in ``seconds``
    # the child's children's largest ru_maxrss and their CPU time: a first collection's loader
    # (ingest.loader) or a nightly's splitter (ingest.oneroster.splitter)
    loader_peak_rss_bytes: int = 0
    loader_cpu_seconds: float = 0.0
    run: int = 1  # which of the run's initial + nightly pairs (each into a fresh database)

    @property
    def total_peak_rss_bytes(self) -> int:
        """The collection's and its helper process's peaks added (they run at the same time)."""
        return self.peak_rss_bytes + self.loader_peak_rss_bytes


@dataclass
class PagingResult:
    records: int
    unique: int
    pages: int
    seconds: float
    cursors: list[str] = field(default_factory=list, repr=False)
    parse_seconds: float = 0.0
    """Of ``seconds``, the client's parsing of the pages' JSON."""

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class LatencyResult:
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_seconds: float = 0.0  # user + system CPU of the benchmark's clients meanwhile

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def client_cpu_ms(self) -> float:
        """The clients' CPU per request (the server's share of the machine is the rest)."""
        return self.client_cpu_seconds / self.requests * 1000 if self.requests else 0.0


@dataclass
class Report:
    students: int
    seed: int
    bundle: dict[str, int]  # rows per file of the initial bundle
    bundle_bytes: int
    floor: FloorResult
    collections: list[CollectionResult]
    paging: PagingResult | None
    latency: LatencyResult | None
    server: dict[str, str]  # PostgreSQL settings that bear on the figures
    paging_as_collected: PagingResult | None = None  # before ANALYZE, when one was run
    analyzed: bool = False  # ANALYZE ran on the bench database before paging and latency
    source_digest: str = ""  # of the interop_hub package's .py files, to tie figures to code
    source_digest_end: str = ""  # the same at the end: a difference means the code changed
    load: dict[str, list[float]] = field(default_factory=dict)  # 1/5/15-min load after a step
    whole_paging: PagingResult | None = None  # the whole reader's (WHOLE_BLUEPRINT)
    whole_latency: LatencyResult | None = None
    lean_latency: LatencyResult | None = None  # the same loads with the lean client
    whole_lean_latency: LatencyResult | None = None
    date: str = ""
    python: str = field(default_factory=lambda: sys.version.split()[0])
    cpus: int = field(default_factory=lambda: os.cpu_count() or 0)

    def source_digests(self) -> set[str]:
        """Every version of the hub's sources the run saw (one, unless they changed)."""
        seen = {self.source_digest, self.source_digest_end}
        seen.update(result.source_digest for result in self.collections)
        return seen - {""}

    def collection(self, backend: str, label: str) -> CollectionResult | None:
        for result in self.collections:
            if result.backend == backend and result.label == label:
                return result
        return None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("paging", "paging_as_collected", "whole_paging"):
            paging = getattr(self, key)
            if paging is not None:
                out[key].pop("cursors", None)
                out[key]["records_per_second"] = paging.records_per_second
        for key in ("latency", "whole_latency", "lean_latency", "whole_lean_latency"):
            latency = getattr(self, key)
            if latency is not None:
                out[key]["requests_per_second"] = latency.requests_per_second
                out[key]["client_cpu_ms"] = latency.client_cpu_ms
        out["figures"] = [asdict(figure) for figure in figures(self)]
        return out


# --- The files ----------------------------------------------------------------------------------


def _generator_digest() -> str:
    source = Path(district.__file__).read_bytes()
    return hashlib.sha256(source).hexdigest()[:16]


def _stamp_matches(folder: Path, params: dict[str, Any]) -> bool:
    try:
        return bool(json.loads((folder / STAMP).read_text(encoding="utf-8")) == params)
    except (OSError, ValueError):
        return False


def prepare_bundles(workdir: Path, students: int, seed: int) -> tuple[Path, Path]:
    """The initial and the nightly bundle for these parameters, generated unless reusable.

    A folder is reused only when its stamp (written last, so a half-written folder has none)
    names the same parameters and the same generator source.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    generator = _generator_digest()
    initial = workdir / f"district-n{students}-s{seed}"
    nightly = workdir / f"district-n{students}-s{seed}-nightly"
    initial_params = {"students": students, "seed": seed, "generator": generator}
    nightly_params = {**initial_params, "nightly": NIGHTLY_RATES}
    fresh = False
    if not _stamp_matches(initial, initial_params):
        shutil.rmtree(initial, ignore_errors=True)
        print(f"generating {initial} ...", flush=True)
        generate_district(initial, students=students, seed=seed)
        (initial / STAMP).write_text(json.dumps(initial_params), encoding="utf-8")
        fresh = True
    if fresh or not _stamp_matches(nightly, nightly_params):
        shutil.rmtree(nightly, ignore_errors=True)
        print(f"generating {nightly} ...", flush=True)
        generate_nightly(initial, nightly, seed=seed, **NIGHTLY_RATES)
        (nightly / STAMP).write_text(json.dumps(nightly_params), encoding="utf-8")
    return initial, nightly


def csv_files(bundle: Path) -> list[Path]:
    return sorted(bundle.glob("*.csv"))


def file_rows(bundle: Path) -> dict[str, int]:
    """Records per CSV file (header excluded; quoted newlines counted once)."""
    counts: dict[str, int] = {}
    for path in csv_files(bundle):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            counts[path.stem] = sum(1 for row in csv.reader(handle) if row) - 1
    return counts


def expected_objects(rows: dict[str, int]) -> int:
    """What an initial collection of a clean bundle adds: objects plus memberships."""
    return sum(rows.get(name, 0) for name in OBJECT_FILES) + rows.get("enrollments", 0)


def count_students(bundle: Path) -> int:
    with (bundle / "users.csv").open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if row.get("role") == "student")


# --- PostgreSQL databases -----------------------------------------------------------------------


def conninfo(admin_url: str, database: str | None = None) -> str:
    """A libpq URL (psycopg) from an SQLAlchemy-style URL, optionally for another database."""
    url = make_url(admin_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def sqlalchemy_url(admin_url: str, database: str) -> str:
    return (
        make_url(admin_url)
        .set(drivername="postgresql+psycopg", database=database)
        .render_as_string(hide_password=False)
    )


def new_database_name(purpose: str) -> str:
    return f"interop_bench_{purpose}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def create_database(admin_url: str, name: str) -> None:
    if not name.startswith("interop_bench_"):
        raise ValueError("the benchmark only creates databases named interop_bench_*")
    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    if not name.startswith("interop_bench_"):
        raise ValueError("the benchmark only drops databases named interop_bench_*")
    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_settings(admin_url: str) -> dict[str, str]:
    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "synchronous_commit",
        "wal_level",
        "max_wal_size",
        "fsync",
        "autovacuum",
    )
    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        return {
            name: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0])  # type: ignore[index]
            for name in names
        }


def analyze_database(database_url: str) -> float:
    """``ANALYZE`` the whole database; its seconds.

    The hub does not analyze after a collection. On a server with autovacuum on, the
    autovacuum daemon analyzes the Repository tables within minutes of a large collection;
    with it off (as on the machine the figures in docs/BENCHMARKS.md come from) the planner
    has no statistics at all for the tables a collection filled.
    """
    url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def source_digest() -> str:
    """A digest of the hub's Python sources, so that a set of figures names the code it ran."""
    root = Path(interop_hub.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# --- The floor ----------------------------------------------------------------------------------


def measure_floor(bundle: Path, admin_url: str, runs: int = 3) -> FloorResult:
    """The floor: the median of ``runs`` runs of :func:`copy_bundle`.

    One run varies by tens of percent with the page cache and whatever else the machine does;
    every ratio divides by this figure, so it is the median of a few.
    """
    results = [copy_bundle(bundle, admin_url) for _ in range(max(1, runs))]
    seconds = sorted(result.seconds for result in results)
    return FloorResult(
        seconds=statistics.median(seconds),
        rows=results[0].rows,
        bytes=results[0].bytes,
        files=results[0].files,
        runs=[result.seconds for result in results],
    )


def copy_bundle(bundle: Path, admin_url: str) -> FloorResult:
    """``COPY`` every CSV file of ``bundle`` into text tables of a fresh database, in one
    transaction; the seconds from the first ``CREATE TABLE`` to the commit."""
    name = new_database_name("floor")
    create_database(admin_url, name)
    try:
        with psycopg.connect(conninfo(admin_url, name)) as conn:
            rows = size = 0
            files = csv_files(bundle)
            started = time.perf_counter()
            for path in files:
                with path.open(encoding="utf-8-sig", newline="") as handle:
                    header = next(csv.reader(handle))
                table = sql.Identifier(path.stem)
                columns = sql.SQL(", ").join(
                    sql.SQL("{} text").format(sql.Identifier(column)) for column in header
                )
                with conn.cursor() as cursor:
                    cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
                    statement = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, HEADER true)")
                    with cursor.copy(statement.format(table)) as copy, path.open("rb") as data:
                        while chunk := data.read(COPY_CHUNK):
                            copy.write(chunk)
                            size += len(chunk)
                    rows += cursor.rowcount
            conn.commit()
            seconds = time.perf_counter() - started
    finally:
        drop_database(admin_url, name)
    return FloorResult(seconds=seconds, rows=rows, bytes=size, files=len(files), runs=[seconds])


# --- Collections --------------------------------------------------------------------------------


def bench_settings(database_url: str, data_dir: Path) -> Settings:
    """Settings for the bench hub: a nightly must apply, not be held for an operator."""
    return Settings(
        mode="development",
        database_url=database_url,
        secret_key=SecretStr(BENCH_SECRET),
        data_dir=data_dir,
        mass_change_threshold=1.0,
    )


def prepare_database(database_url: str, data_dir: Path) -> uuid.UUID:
    """Migrate a fresh database and give it a district account with an empty cloud."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        migrate.upgrade(hub.engine)
        with transaction(hub.sessions) as session:
            account = platform.create_account(
                session, AccountCreate(name="Bench USD", type="education_agency")
            )
            cloud = platform.create_cloud(session, account.id, CloudCreate(name="Bench district"))
        return cloud.id
    finally:
        hub.engine.dispose()


def make_partitions(database_url: str, data_dir: Path, cloud_id: uuid.UUID) -> None:
    """Give the cloud its (empty, indexed) partitions of the memberships, objects and links, as
    its first collection would (:func:`interop_hub.repository.partitions.ensure`): for the
    scripts that write the Repository's tables themselves, into the layout a collection into a
    cloud with rows has."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        with transaction(hub.sessions) as session:
            for model in (RepoMembership, RepoObject, RepoLink):
                partitions.ensure(session, cast(Table, model.__table__), cloud_id)
    finally:
        hub.engine.dispose()


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _collect(
    backend: str,
    label: str,
    database_url: str,
    data_dir: str,
    cloud_id: uuid.UUID,
    source: str,
    profile_out: str | None,
) -> CollectionResult:
    """One collection, in a spawned child: queue → claim → run, timed by phase."""
    hub = build_hub(bench_settings(database_url, Path(data_dir)))
    try:
        with hub.engine.connect() as conn:  # connect before the clock starts
            conn.execute(text("SELECT 1"))
        baseline = _maxrss_bytes()
        marks: list[tuple[str, float]] = []
        profiler = cProfile.Profile() if profile_out else None
        cpu_started = _cpu_seconds()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        with write_transaction(hub.sessions) as session:
            queued = ingest.queue_ingestion(session, cloud_id, source, now=hub.now())
            ingestion_id = queued.id
            if not ingest.claim(session, ingestion_id, hub.now()):
                raise BenchError(f"ingestion {ingestion_id} could not be claimed")
        done = ingest.run(
            hub, ingestion_id, lambda phase: marks.append((phase, time.perf_counter()))
        )
        finished = time.perf_counter()
        cpu = _cpu_seconds() - cpu_started
        if profiler is not None and profile_out is not None:
            profiler.disable()
            profiler.dump_stats(profile_out)
        # What the worker and ``ingest --wait`` do once the collection committed: its own figure.
        rendered = renderings.refresh(hub, cloud_id) if done.state != "failed" else 0
        render_seconds = time.perf_counter() - finished
    finally:
        hub.engine.dispose()
    phases = _phase_seconds(marks, finished)
    first = dict(reversed(marks))  # phase → when it was first reported
    reading = first.get("reading", finished)
    applying = first.get("applying", finished)
    return CollectionResult(
        backend=backend,
        label=label,
        state=done.state,
        message=done.message,
        seconds=finished - started,
        setup_seconds=reading - started,
        read_seconds=applying - reading,
        apply_seconds=finished - applying,
        phases=phases,
        source_digest=source_digest(),
        cpu_seconds=cpu,
        peak_rss_bytes=_maxrss_bytes(),
        baseline_rss_bytes=baseline,
        loader_peak_rss_bytes=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        loader_cpu_seconds=_cpu_seconds(resource.RUSAGE_CHILDREN),
        rows_read=done.rows_read or 0,
        rows_rejected=done.rows_rejected or 0,
        added=done.objects_added or 0,
        updated=done.objects_updated or 0,
        deleted=done.objects_deleted or 0,
        rendered=rendered,
        render_seconds=render_seconds,
    )


def _phase_seconds(marks: list[tuple[str, float]], finished: float) -> dict[str, float]:
    """Seconds from each progress mark to the next (or to the end), summed by phase name."""
    phases: dict[str, float] = {}
    for index, (phase, at) in enumerate(marks):
        until = marks[index + 1][1] if index + 1 < len(marks) else finished
        phases[phase] = phases.get(phase, 0.0) + until - at
    return phases


def collect_in_child(
    backend: str,
    label: str,
    database_url: str,
    data_dir: Path,
    cloud_id: uuid.UUID,
    source: Path,
    *,
    profile_out: Path | None = None,
) -> CollectionResult:
    """Run one collection in a fresh spawned process and return its figures.

    A fresh process per collection makes ``ru_maxrss`` that collection's own peak. A
    collection that does not end in ``success`` is an error: its figures would mean nothing.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        result = pool.submit(
            _collect,
            backend,
            label,
            database_url,
            str(data_dir),
            cloud_id,
            str(source),
            str(profile_out) if profile_out else None,
        ).result()
    if result.state != "success":
        raise BenchError(f"{backend} {label} collection ended {result.state}: {result.message}")
    return result


# --- The server, a tenant and HTTP --------------------------------------------------------------


def install_reader(database_url: str, data_dir: Path, cloud_id: uuid.UUID) -> tuple[str, str]:
    """Install a tenant of a small integration in the cloud: its client id and secret."""
    return install_readers(database_url, data_dir, cloud_id)[0]


def install_readers(
    database_url: str, data_dir: Path, cloud_id: uuid.UUID
) -> list[tuple[str, str]]:
    """The projected and the whole reader (:data:`BLUEPRINT`, :data:`WHOLE_BLUEPRINT`),
    installed in the cloud: their client ids and secrets, in that order."""
    installed = install_tenants(
        database_url,
        data_dir,
        cloud_id,
        [("bench-reader", BLUEPRINT), ("bench-whole", WHOLE_BLUEPRINT)],
    )
    return [(tenant.client_id, tenant.client_secret) for tenant in installed]


def install_tenants(
    database_url: str,
    data_dir: Path,
    cloud_id: uuid.UUID,
    blueprints: Sequence[tuple[str, str]],
) -> list[InstalledTenant]:
    """Install, in the cloud, a tenant of one new integration per ``(name, blueprint XML)``
    (all of one new vendor), in one transaction; the tenants stay in ``setup``."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        with transaction(hub.sessions) as session:
            vendor = platform.create_account(
                session, AccountCreate(name="Bench vendor", type="developer")
            )
            principal = Principal(kind="account", account_id=vendor.id, account_type="developer")
            installed = []
            for name, blueprint in blueprints:
                integration = integrations.create_integration(
                    session,
                    principal,
                    IntegrationCreate(name=name, title=name.replace("-", " ").capitalize()),
                )
                integrations.create_version(session, principal, integration.id, blueprint.encode())
                installed.append(
                    platform.install_tenant(
                        session,
                        hub.keyring,
                        TenantInstall(cloud_id=cloud_id, integration_id=integration.id),
                        hub.now(),
                    )
                )
        return installed
    finally:
        hub.engine.dispose()


def store_projections(database_url: str, data_dir: Path, cloud_id: uuid.UUID) -> tuple[int, float]:
    """Run the renderings pass for the readers installed after the collections, as the next
    collection's pass (or a worker starting) would: it stores the projections of the
    renderings they read (``rostering.projections``). Returns how many, and the seconds."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        started = time.perf_counter()
        renderings.refresh(hub, cloud_id)
        seconds = time.perf_counter() - started
        with transaction(hub.sessions) as session:
            stored = session.scalar(select(func.count()).select_from(PayloadView)) or 0
        return stored, seconds
    finally:
        hub.engine.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    database_url: str,
    data_dir: Path,
    log_path: Path,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """``uvicorn`` serving the app on a free loopback port (in a subprocess); yields its URL.
    ``env`` adds to the server's environment (e.g. other ``INTEROP_HUB_*`` settings)."""
    port = free_port()
    env = {
        **os.environ,
        "INTEROP_HUB_MODE": "development",
        "INTEROP_HUB_DATABASE_URL": database_url,
        "INTEROP_HUB_SECRET_KEY": BENCH_SECRET,
        "INTEROP_HUB_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "interop_hub.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        # uvicorn closes a connection idle for 5 s; under load, a connection that finished the
        # warm-up early can sit that long before its client sends again, and the client's
        # reuse then races the close (httpx: ReadError). A minute is longer than any step.
        "--timeout-keep-alive",
        "60",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base_url, process, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the server exited ({process.returncode}); see {log_path}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"the server did not become healthy in 60 s; see {log_path}")


def fetch_token(base_url: str, client_id: str, client_secret: str) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=30,
    )
    if response.status_code != 200:
        raise BenchError(f"no token: {response.status_code} {response.text}")
    token: str = response.json()["access_token"]
    return token


def page_all_students(base_url: str, token: str, page_size: int = 1000) -> PagingResult:
    """Follow ``paging.next`` from the first page to the last; JSON parsed as a client would,
    with orjson as the hub's SDK does (:func:`interop_hub.client.answers.decoded`): httpx's
    ``json()`` (the standard library's parser) took ~1 s of the ~2.2 s that 100 pages of 1,000
    students took on this machine, more than the server's share of them.

    This process's heap (the whole hub, imported for the collections) is kept out of the
    collector's reach meanwhile (:func:`gc.freeze`, as the server does with its own): parsing
    a page makes ~30,000 objects, and each full pass of the collector walked that heap too —
    the parsing took ~0.75 s of ~1.85 s, ~0.3 s frozen."""
    url: str | None = f"{base_url}{STUDENTS_PATH}?page_size={page_size}"
    seen: set[str] = set()
    records = pages = 0
    parsing = 0.0
    cursors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    gc.freeze()
    try:
        with httpx.Client(headers=headers, timeout=120) as client:
            started = time.perf_counter()
            while url:
                response = client.get(url)
                if response.status_code != 200:
                    raise BenchError(f"GET {url}: {response.status_code} {response.text[:500]}")
                parse_started = time.perf_counter()
                body = orjson.loads(response.content)
                parsing += time.perf_counter() - parse_started
                pages += 1
                for item in body["data"]:
                    seen.add(item["$sys"]["id"])
                    records += 1
                url = body["paging"]["next"]
                if url:
                    cursors.extend(parse_qs(urlsplit(url).query).get("cursor", []))
            seconds = time.perf_counter() - started
    finally:
        gc.unfreeze()
    return PagingResult(records, len(seen), pages, seconds, cursors, parsing)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (``share`` in 0..1)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


async def _load(
    base_url: str,
    token: str,
    paths: Sequence[str],
    *,
    clients: int,
    requests: int,
    max_seconds: float,
) -> LatencyResult:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    next_index = 0
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as client:
        # Warm-up: open every connection once (not measured).
        await asyncio.gather(*(client.get(paths[0]) for _ in range(clients)))
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            nonlocal errors, next_index
            while next_index < requests and time.perf_counter() < deadline:
                path = paths[next_index % len(paths)]
                next_index += 1
                sent = time.perf_counter()
                response = await client.get(path)
                await response.aread()
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    errors += 1

        started, cpu = time.perf_counter(), _cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    ordered = sorted(latencies)
    return LatencyResult(
        clients=clients,
        requests=len(ordered),
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] * 1000) if ordered else math.nan,
        client_cpu_seconds=cpu,
    )


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses, with no
    more work per request than that (see :func:`_load_lean`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> asyncio.StreamReader:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def get(self, request: bytes) -> int:
        """Send a request; the response's status once its whole body is read. A connection
        the server closed while idle (keep-alive ends) is opened again, as any client does."""
        try:
            head = await self._send(request)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise  # closed in the middle of a response: an error, not an idle close
            await self._open()
            head = await self._send(request)
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise BenchError(f"a response without Content-Length: {head[:200]!r}")
        await self.reader.readexactly(length)
        return status

    async def _send(self, request: bytes) -> bytes:
        reader = self.reader if self.writer is not None else await self._open()
        assert self.writer is not None
        self.writer.write(request)
        return await reader.readuntil(b"\r\n\r\n")


async def _load_lean(
    base_url: str,
    token: str,
    paths: Sequence[str],
    *,
    clients: int,
    requests: int,
    max_seconds: float,
) -> LatencyResult:
    """:func:`_load` with a minimal HTTP/1.1 client (a connection per client, the request's
    bytes made once): httpx spends ~4 ms of CPU per request on this machine, as much as the
    server, and its queueing shows in every latency it measures. The server answers the same
    requests over the same stack; only the client's own overhead is left out."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    made = [
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        for path in paths
    ]
    connections = [_Connection(host, port) for _ in range(clients)]
    latencies: list[float] = []
    errors = 0
    next_index = 0
    try:
        # Warm-up: open every connection and send one request on each (not measured).
        await asyncio.gather(*(connection.get(made[0]) for connection in connections))
        deadline = time.perf_counter() + max_seconds

        async def worker(connection: _Connection) -> None:
            nonlocal errors, next_index
            while next_index < requests and time.perf_counter() < deadline:
                request = made[next_index % len(made)]
                next_index += 1
                sent = time.perf_counter()
                status = await connection.get(request)
                latencies.append(time.perf_counter() - sent)
                if status != 200:
                    errors += 1

        started, cpu = time.perf_counter(), _cpu_seconds()
        await asyncio.gather(*(worker(connection) for connection in connections))
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    finally:
        for connection in connections:
            connection.close()
    ordered = sorted(latencies)
    return LatencyResult(
        clients=clients,
        requests=len(ordered),
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] * 1000) if ordered else math.nan,
        client_cpu_seconds=cpu,
    )


def measure_latency(
    base_url: str,
    token: str,
    cursors: Sequence[str],
    *,
    clients: int = 32,
    requests: int = 3200,
    max_seconds: float = 120.0,
    lean: bool = False,
) -> LatencyResult:
    """p50/p99 of ``GET .../rostering/students?page_size=100`` under ``clients`` concurrent
    clients, ``requests`` in all (or until ``max_seconds``).

    The requests cycle over the first page and pages that start at each cursor the paging
    pass met, so that they read the whole list rather than one hot page. ``lean``: with a
    minimal client instead of httpx (:func:`_load_lean`).
    """
    first = f"{STUDENTS_PATH}?page_size=100"
    paths = [first, *(f"{first}&cursor={cursor}" for cursor in cursors)]
    return asyncio.run(
        (_load_lean if lean else _load)(
            base_url,
            token,
            paths,
            clients=clients,
            requests=requests,
            max_seconds=max_seconds,
        )
    )


# --- SQLite -------------------------------------------------------------------------------------


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- The run ------------------------------------------------------------------------------------


@dataclass
class Options:
    students: int = 100_000
    seed: int = 1
    workdir: Path = DEFAULT_WORKDIR
    skip_sqlite: bool = False
    postgres_url: str = DEFAULT_POSTGRES_URL
    clients: int = 32
    requests: int = 3200
    latency_seconds: float = 120.0
    server_workers: int = 1
    analyze: bool = True  # page once as collected, then ANALYZE, then page and load again
    floor_runs: int = 3
    collection_runs: int = 3  # PostgreSQL initial + nightly pairs; the figures are the medians
    profile: Path | None = None


def run_benchmark(options: Options, say: Any = print) -> Report:
    """The whole benchmark; every database it creates is dropped before it returns."""
    if options.collection_runs < 1 or options.floor_runs < 1:
        raise BenchError("--floor-runs and --collection-runs need at least one run each")
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
        floor=FloorResult(0, 0, 0, 0),
        collections=[],
        paging=None,
        latency=None,
        server=server_settings(admin),
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        source_digest=source_digest(),
    )

    def loaded(step: str) -> None:
        """Note the load average after a step: other work on the machine skews the figures."""
        report.load[step] = [round(value, 2) for value in os.getloadavg()]

    loaded("start")
    say("floor: COPY of every CSV file into text tables ...")
    report.floor = measure_floor(initial, admin, options.floor_runs)
    loaded("floor")
    say(
        f"  median {report.floor.seconds:.2f} s of "
        + ", ".join(f"{seconds:.2f}" for seconds in report.floor.runs)
        + f"; {report.floor.rows:,} rows"
    )

    created: list[str] = []
    sqlite_path = workdir / f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}.sqlite"
    try:
        # Each pair into a fresh database; the first is kept for paging and latency, the others
        # are dropped once measured (a collected district takes ~0.5 GB of disk).
        kept: tuple[str, uuid.UUID] | None = None
        for run in range(1, options.collection_runs + 1):
            name = new_database_name("pg")
            create_database(admin, name)
            created.append(name)
            url = sqlalchemy_url(admin, name)
            collected = prepare_database(url, data_dir)
            of = f" ({run} of {options.collection_runs})" if options.collection_runs > 1 else ""
            for label, source in (("initial", initial), ("nightly", nightly)):
                say(f"PostgreSQL {label} collection{of} ...")
                result = collect_in_child("postgresql", label, url, data_dir, collected, source)
                result.run = run
                report.collections.append(result)
                loaded(f"postgresql {label}{of}")
                say(f"  {_collection_line(result)}")
                say(f"  {_rendered_line(result)}")
            if kept is None:
                kept = url, collected
            else:
                drop_database(admin, name)
                created.remove(name)
        assert kept is not None  # at least one run (checked above)
        pg_url, cloud = kept

        say("paging: uvicorn on loopback, an installed tenant's token ...")
        (client_id, client_secret), whole = install_readers(pg_url, data_dir, cloud)
        stored, seconds = store_projections(pg_url, data_dir, cloud)
        say(f"  their projections stored by a renderings pass: {stored:,} in {seconds:.2f} s")
        with serve(
            pg_url, data_dir, workdir / "server.log", workers=options.server_workers
        ) as base_url:
            token = fetch_token(base_url, client_id, client_secret)
            if options.analyze:
                say("  as collected (the hub runs no ANALYZE) ...")
                report.paging_as_collected = page_all_students(base_url, token)
                say(f"  {_paging_line(report.paging_as_collected)}")
                loaded("paging as collected")
                seconds = analyze_database(pg_url)
                report.analyzed = True
                say(f"  ANALYZE: {seconds:.2f} s; paging again ...")
            report.paging = page_all_students(base_url, token)
            say(f"  {_paging_line(report.paging)}")
            loaded("paging")

            def loads(
                reader_token: str, cursors: list[str], step: str
            ) -> tuple[LatencyResult, LatencyResult]:
                """The latency load with httpx clients, then with the lean client."""
                found = []
                for lean in (False, True):
                    result = measure_latency(
                        base_url,
                        reader_token,
                        cursors,
                        clients=options.clients,
                        requests=options.requests,
                        max_seconds=options.latency_seconds,
                        lean=lean,
                    )
                    loaded(f"{step}lean latency" if lean else f"{step}latency")
                    say(f"  {'lean client: ' if lean else ''}{_latency_line(result)}")
                    found.append(result)
                return found[0], found[1]

            say(f"latency: {options.clients} concurrent clients ...")
            report.latency, report.lean_latency = loads(token, report.paging.cursors, "")
            say("the whole reader (every attribute of a Student): paging ...")
            whole_token = fetch_token(base_url, *whole)
            report.whole_paging = page_all_students(base_url, whole_token)
            say(f"  {_paging_line(report.whole_paging)}")
            loaded("whole paging")
            report.whole_latency, report.whole_lean_latency = loads(
                whole_token, report.whole_paging.cursors, "whole "
            )

        if not options.skip_sqlite:
            remove_sqlite(sqlite_path)
            sqlite_url = f"sqlite:///{sqlite_path}"
            cloud = prepare_database(sqlite_url, data_dir)
            for label, source in (("initial", initial), ("nightly", nightly)):
                say(f"SQLite {label} collection ...")
                result = collect_in_child("sqlite", label, sqlite_url, data_dir, cloud, source)
                report.collections.append(result)
                loaded(f"sqlite {label}")
                say(f"  {_collection_line(result)}")
                say(f"  {_rendered_line(result)}")

        if options.profile is not None:
            say(f"profiling an initial PostgreSQL collection into {options.profile} ...")
            name = new_database_name("profile")
            create_database(admin, name)
            created.append(name)
            url = sqlalchemy_url(admin, name)
            profiled_cloud = prepare_database(url, data_dir)
            profiled = collect_in_child(
                "postgresql",
                "initial (profiled)",
                url,
                data_dir,
                profiled_cloud,
                initial,
                profile_out=options.profile.resolve(),
            )
            say(f"  {_collection_line(profiled)} (under cProfile)")
            say(profile_summary(options.profile))
    finally:
        for name in created:
            drop_database(admin, name)
        remove_sqlite(sqlite_path)
    report.source_digest_end = source_digest()
    if len(report.source_digests()) > 1:
        say("WARNING: the hub's sources changed during the run; the figures mix versions.")
    return report


def _paging_line(paging: PagingResult) -> str:
    return (
        f"{paging.records:,} students in {paging.seconds:.2f} s "
        f"({paging.records_per_second:,.0f} records/s; the client parsed JSON "
        f"{paging.parse_seconds:.2f} s of it)"
    )


def _latency_line(lat: LatencyResult) -> str:
    return (
        f"{lat.requests} requests, p50 {lat.p50_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms, "
        f"{lat.requests_per_second:.0f} req/s, {lat.errors} errors, clients' CPU "
        f"{lat.client_cpu_ms:.2f} ms per request"
    )


def _collection_line(result: CollectionResult) -> str:
    return (
        f"{result.seconds:.2f} s (read {result.read_seconds:.2f}, apply {result.apply_seconds:.2f}"
        f"), peak RSS {result.peak_rss_bytes / 1e6:,.0f} MB"
        + (
            f" + helper {result.loader_peak_rss_bytes / 1e6:,.0f} MB"
            if result.loader_peak_rss_bytes
            else ""
        )
        + f"; +{result.added:,} "
        f"~{result.updated:,} -{result.deleted:,}, {result.rows_rejected} rejected"
    )


def _rendered_line(result: CollectionResult) -> str:
    return (
        f"renderings stored after the collection: {result.rendered:,} objects, "
        f"{result.render_seconds:.2f} s"
    )


def profile_summary(path: Path, limit: int = 30) -> str:
    """The top functions of a profile by own time, and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# --- The table ----------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    ratio: float | None  # the figure's time ÷ the floor's time, where that means something
    target: str
    passed: bool | None  # None: no target


def collection_runs(
    collections: Sequence[CollectionResult],
) -> dict[tuple[str, str], list[CollectionResult]]:
    """The collections by backend and label (``initial``, ``nightly``), each in run order.

    A collection's time varies from run to run as much as the floor's (a third on a noisy
    machine), so each PostgreSQL pair runs :attr:`Options.collection_runs` times and its
    figure is the median, as the floor's is; its peak memory is the largest of them."""
    grouped: dict[tuple[str, str], list[CollectionResult]] = {}
    for result in collections:
        grouped.setdefault((result.backend, result.label), []).append(result)
    return grouped


def figures(report: Report) -> list[Figure]:
    floor = report.floor.seconds
    runs = len(report.floor.runs)
    name = (
        f"floor: COPY all CSV files (median of {runs})" if runs > 1 else "floor: COPY all CSV files"
    )
    out = [Figure(name, floor, "s", 1.0, "", None)]
    targets = {
        ("postgresql", "initial"): 5.0,
        ("postgresql", "nightly"): 2.0,
    }
    for (backend, label), results in collection_runs(report.collections).items():
        limit = targets.get((backend, label))
        seconds = statistics.median(result.seconds for result in results)
        ratio = seconds / floor if floor else None
        count = len(results)
        out.append(
            Figure(
                f"{backend} {label} collection" + (f" (median of {count})" if count > 1 else ""),
                seconds,
                "s",
                ratio,
                f"≤ {limit:g}× floor" if limit else "",
                (ratio is not None and ratio <= limit) if limit else None,
            )
        )
        on_pg = backend == "postgresql"
        peak = max(result.total_peak_rss_bytes for result in results)
        out.append(
            Figure(
                f"{backend} {label} peak RSS (with its helper's)"
                + (f", the largest of {count}" if count > 1 else ""),
                peak / GB,
                "GB",
                None,
                "≤ 1.5 GB" if on_pg else "",
                peak <= 1.5 * GB if on_pg else None,
            )
        )
    if report.paging_as_collected is not None:
        paging = report.paging_as_collected
        out.append(
            Figure(
                "postgresql paging students, as collected (no ANALYZE)",
                paging.records_per_second,
                "records/s",
                paging.seconds / floor if floor else None,
                "≥ 50,000 records/s",
                paging.records_per_second >= 50_000,
            )
        )
    if report.paging is not None:
        paging = report.paging
        after = ", after ANALYZE" if report.analyzed else ""
        out.append(
            Figure(
                f"postgresql paging students (page_size=1000){after}",
                paging.records_per_second,
                "records/s",
                paging.seconds / floor if floor else None,
                "≥ 50,000 records/s",
                paging.records_per_second >= 50_000,
            )
        )
    out += _latency_figures(report.latency, "", floor)
    out += _latency_figures(report.lean_latency, "lean client: ", floor)
    if report.whole_paging is not None:
        paging = report.whole_paging
        out.append(
            Figure(
                "whole reader: paging students (page_size=1000)",
                paging.records_per_second,
                "records/s",
                paging.seconds / floor if floor else None,
                "≥ 50,000 records/s",
                paging.records_per_second >= 50_000,
            )
        )
    out += _latency_figures(report.whole_latency, "whole reader: ", floor)
    out += _latency_figures(report.whole_lean_latency, "whole reader, lean client: ", floor)
    return out


def _latency_figures(lat: LatencyResult | None, prefix: str, floor: float) -> list[Figure]:
    out: list[Figure] = []
    if lat is not None:
        out.append(
            Figure(
                f"{prefix}postgresql p50 page_size=100, {lat.clients} clients",
                lat.p50_ms,
                "ms",
                lat.p50_ms / 1000 / floor if floor else None,
                "",
                None,
            )
        )
        out.append(
            Figure(
                f"{prefix}postgresql p99 page_size=100, {lat.clients} clients",
                lat.p99_ms,
                "ms",
                lat.p99_ms / 1000 / floor if floor else None,
                "< 100 ms",
                lat.p99_ms < 100 and lat.errors == 0,
            )
        )
        out.append(
            Figure(
                f"{prefix}postgresql requests/s, {lat.clients} clients",
                lat.requests_per_second,
                "req/s",
                None,
                "",
                None,
            )
        )
        out.append(
            Figure(f"{prefix}clients' CPU per request", lat.client_cpu_ms, "ms", None, "", None)
        )
    return out


def _run_name(result: CollectionResult, runs: Mapping[tuple[str, str], list[Any]]) -> str:
    """``postgresql initial``, and which run when it ran more than once (``runs``:
    :func:`collection_runs`)."""
    name = f"{result.backend} {result.label}"
    return f"{name} (run {result.run})" if len(runs[result.backend, result.label]) > 1 else name


def _value(figure: Figure) -> str:
    if figure.unit in ("records/s", "req/s"):
        return f"{figure.value:,.0f} {figure.unit}"
    if figure.unit == "GB":
        return f"{figure.value:.2f} GB"
    return f"{figure.value:,.2f} {figure.unit}"


def _ratio(figure: Figure) -> str:
    if figure.ratio is None:
        return "—"
    return f"{figure.ratio:.2f}×" if figure.ratio >= 0.01 else f"{figure.ratio:.5f}×"


def render_table(report: Report) -> str:
    rows = [("figure", "value", "× floor", "target", "result")]
    for figure in figures(report):
        verdict = "" if figure.passed is None else ("pass" if figure.passed else "FAIL")
        rows.append((figure.name, _value(figure), _ratio(figure), figure.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i in (0, 3, 4) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    notes = [
        "",
        f"{report.students:,} students (seed {report.seed}): "
        f"{sum(report.bundle.values()):,} rows, {report.bundle_bytes / 1e6:.1f} MB of CSV.",
        "× floor: the figure's time ÷ the floor's time (paging: the time to page every "
        "student; latency: one request). Peak RSS and req/s have no floor counterpart.",
    ]
    runs = collection_runs(report.collections)
    for (backend, label), results in runs.items():
        if len(results) > 1:
            notes.append(
                f"{backend} {label}, each run: "
                + ", ".join(f"{result.seconds:.2f} s" for result in results)
                + f" (median {statistics.median(r.seconds for r in results):.2f} s)"
            )
    for result in report.collections:
        notes.append(
            f"{_run_name(result, runs)}: setup {result.setup_seconds:.2f} s, read "
            f"{result.read_seconds:.2f} s, apply {result.apply_seconds:.2f} s, collector CPU "
            f"{result.cpu_seconds:.2f} s (its helper's {result.loader_cpu_seconds:.2f} s); "
            f"rows read {result.rows_read:,}, rejected {result.rows_rejected:,}; added "
            f"{result.added:,}, updated {result.updated:,}, deleted {result.deleted:,}; RSS before "
            f"{result.baseline_rss_bytes / 1e6:,.0f} MB"
        )
    readers = (
        ("as collected", report.paging_as_collected),
        ("", report.paging),
        ("of the whole reader", report.whole_paging),
    )
    for name, paging in readers:
        if paging is not None:
            notes.append(
                f"paging{' ' + name if name else ''}: {paging.records:,} records "
                f"({paging.unique:,} distinct) in {paging.pages} pages, {paging.seconds:.2f} s"
            )
    if report.analyzed:
        notes.append(
            "ANALYZE ran before the paging and latency figures (autovacuum is "
            f"{report.server.get('autovacuum', '?')} on this server); the hub runs none itself."
        )
    for result in report.collections:
        notes.append(
            f"{_run_name(result, runs)} phases: "
            + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in result.phases.items())
        )
        notes.append(f"{_run_name(result, runs)} {_rendered_line(result)}")
    digests = report.source_digests()
    if len(digests) > 1:
        notes.append(
            f"WARNING: the hub's sources changed during the run (start {report.source_digest}, "
            f"end {report.source_digest_end}; collections: "
            + ", ".join(f"{r.backend} {r.label} {r.source_digest}" for r in report.collections)
            + "): the figures mix versions."
        )
    else:
        notes.append(f"interop_hub sources: {report.source_digest}")
    if report.load:
        notes.append(
            "load average (1 min) after each step: "
            + ", ".join(f"{step} {values[0]:.2f}" for step, values in report.load.items())
        )
    latencies = (
        ("", report.latency),
        ("lean client ", report.lean_latency),
        ("whole reader ", report.whole_latency),
        ("whole reader lean client ", report.whole_lean_latency),
    )
    for prefix, lat in latencies:
        if lat is not None:
            notes.append(
                f"{prefix}latency: {lat.requests} requests in {lat.seconds:.2f} s, max "
                f"{lat.max_ms:.1f} ms, {lat.errors} errors"
            )
    return "\n".join(lines + notes)


# --- Command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_collection",
        description="Floor, collections (PostgreSQL, SQLite), paging and latency, in one run.",
    )
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write JSON here")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="an administrative connection (databases interop_bench_* are created and dropped)",
    )
    parser.add_argument("--floor-runs", type=int, default=3, help="the floor is their median")
    parser.add_argument(
        "--collection-runs",
        type=int,
        default=3,
        help="PostgreSQL initial + nightly pairs, each into a fresh database: the figures are "
        "their medians (the first database is paged)",
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent latency clients")
    parser.add_argument("--requests", type=int, default=3200, help="latency requests in all")
    parser.add_argument("--latency-seconds", type=float, default=120.0, help="latency time cap")
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="measure paging and latency as collected only (no ANALYZE before them)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="OUT.pstats",
        help="also profile one (extra, unmeasured) initial PostgreSQL collection",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = Options(
        students=args.students,
        seed=args.seed,
        workdir=args.workdir,
        skip_sqlite=args.skip_sqlite,
        postgres_url=args.postgres_url,
        clients=args.clients,
        requests=args.requests,
        latency_seconds=args.latency_seconds,
        server_workers=args.server_workers,
        analyze=not args.no_analyze,
        floor_runs=args.floor_runs,
        collection_runs=args.collection_runs,
        profile=args.profile,
    )
    report = run_benchmark(options, say=lambda line: print(line, flush=True))
    print()
    print(render_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
