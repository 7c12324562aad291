"""A cloud's first collection on PostgreSQL may read and write a large enrollments.csv in a
loader process (:mod:`interop_hub.ingest.loader`): when it does, that its outcome — rows, row
errors, counts, remembered lines, the change set, the partition — is that of a collection that
read every file itself, rejected references included; and that a loading that is not applied
leaves nothing behind."""

from __future__ import annotations

import csv
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from bench.generate_district import generate_district, generate_nightly
from sqlalchemy import Table, func, select, text

from interop_hub.ingest import remembered
from interop_hub.ingest import service as ingest
from interop_hub.ingest.changes import change_set
from interop_hub.ingest.models import Ingestion, RememberedLines
from interop_hub.ingest.oneroster import read_bundle
from interop_hub.ingest.oneroster.bundle import open_source, read_manifest
from interop_hub.ingest.records import WrittenElsewhere
from interop_hub.kit import channel
from interop_hub.kit.db import libpq_url, transaction
from interop_hub.kit.pgbuild import two_at_a_time
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from tests.test_ingest_deferred import _spoil, delta_bundle, rewrite
from tests.test_ingest_deferred import outcome as deferred_outcome
from tests.test_partitions import _analyzed_columns, _new_cloud
from tests.unit.test_columnar import read as read_enrollments

MEMBERSHIPS = cast(Table, RepoMembership.__table__)
OBJECTS = cast(Table, RepoObject.__table__)
LINKS = cast(Table, RepoLink.__table__)
LINES = cast(Table, RememberedLines.__table__)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rejected rows of enrollments.csv: a bad date, and users and a class that do not exist
    (one user is rejected in users.csv: its enrollments fall with it)."""
    out = tmp_path_factory.mktemp("loader") / "night1"
    generate_district(out, students=40, seed=5)
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "beginDate", "2024-02-30", 3))
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "userSourcedId", "nobody", 8, 9))
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "classSourcedId", "no-class", 11))
    enrolled = _first_user(out)
    rewrite(
        out,
        "users",
        lambda rows: [{**r, "role": "wizard"} if r["sourcedId"] == enrolled else r for r in rows],
    )
    return out


def _first_user(bundle: Path) -> str:
    """The user of the first enrollment."""
    with (bundle / "enrollments.csv").open(encoding="utf-8", newline="") as handle:
        return next(csv.DictReader(handle))["userSourcedId"]


@pytest.fixture(scope="module")
def unknown_references(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every row of enrollments.csv good as written, but some refer to users and a class that
    do not exist: the loader reads it a column at a time, then again once it knows."""
    out = tmp_path_factory.mktemp("loader") / "unknown"
    generate_district(out, students=40, seed=7)
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "userSourcedId", "nobody", 8, 9))
    rewrite(out, "enrollments", lambda rows: _spoil(rows, "classSourcedId", "no-class", 11))
    return out


@pytest.fixture(scope="module")
def every_row_good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loader") / "good"
    generate_district(out, students=40, seed=8)
    return out


def read_by_columns(bundle: Path) -> bool:
    """Whether the loader reads ``bundle``'s enrollments.csv a column at a time
    (:mod:`interop_hub.ingest.columnar`), as it decides in its own process."""
    with open_source(bundle, 10**9) as source:
        version, modes = read_manifest(source)
    return read_enrollments(bundle, by_columns=True, version=version, modes=modes)[1]


@pytest.fixture(scope="module")
def next_night(district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loader") / "night2"
    generate_nightly(district, out, seed=6, change_rate=0.05)
    return out


@pytest.fixture
def loaders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables of the loaders each collection started."""
    started: list[str] = []
    real = ingest._Loaders.stop

    def stop(self: Any) -> None:
        started.extend(loader.table for loader in self.started)
        real(self)

    monkeypatch.setattr(ingest._Loaders, "stop", stop)
    return started


def outcome(hub: Hub, done: Ingestion) -> dict[str, Any]:
    """What a collection recorded and what the cloud holds after it (``test_ingest_deferred``'s
    outcome), with the memberships' role and data, the remembered lines and the change set."""
    with transaction(hub.sessions) as session:
        ingestion = session.get(Ingestion, done.id)
        assert ingestion is not None
        cloud = ingestion.cloud_id
        members = session.execute(
            select(RepoMembership.source_id, RepoMembership.role, RepoMembership.data).where(
                RepoMembership.cloud_id == cloud
            )
        ).all()
        lines = session.execute(
            select(RememberedLines.file, RememberedLines.keys, RememberedLines.source_ids)
            .where(RememberedLines.cloud_id == cloud)
            .order_by(RememberedLines.file, RememberedLines.seq)
        ).all()
        changes = Counter(
            (c.entity, c.kind, c.subtype, c.action) for c in change_set(session, done.id)
        )
    return {
        **deferred_outcome(hub, done),
        "members": sorted((m.source_id, m.role, repr(m.data)) for m in members),
        "lines": [tuple(line) for line in lines],
        "changes": changes,
    }


def test_a_loader_gives_the_outcome_of_a_collection_that_reads_every_file_itself(
    own_hub: Hub,
    district: Path,
    next_night: Path,
    loaders: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not read_by_columns(district)  # a row of enrollments.csv is rejected as written
    with_loader, loaded = _with_and_without_loader(
        own_hub, (district, next_night), loaders, monkeypatch
    )
    postgresql = own_hub.engine.dialect.name == "postgresql"
    initial = with_loader[0]
    reasons = [
        (line, reason) for file, line, reason in initial["errors"] if file == "enrollments.csv"
    ]
    assert (5, "bad date '2024-02-30' (expected YYYY-MM-DD)") in reasons
    assert (10, "refers to unknown user 'nobody'") in reasons
    assert (11, "refers to unknown user 'nobody'") in reasons
    assert (13, "refers to unknown class 'no-class'") in reasons
    enrolled = _first_user(district)  # rejected in users.csv
    assert (2, f"refers to unknown user {enrolled!r}") in reasons
    assert with_loader[1]["skipped"]  # the nightly skipped the lines the loader remembered
    with transaction(own_hub.sessions) as session:
        if postgresql:  # the loading became the partition, with the names create_loaded gives
            names = session.scalars(
                text("SELECT indexname FROM pg_indexes WHERE tablename = :t ORDER BY 1"),
                {"t": partitions.partition_name(MEMBERSHIPS.name, loaded)},
            ).all()
            assert names == [
                f"{partitions.partition_name(MEMBERSHIPS.name, loaded)}_{suffix}"
                for suffix in ("ix1", "ix2", "ix3", "pkey")
            ]
            assert _analyzed_columns(session, loaded) > 0  # by the loader
            # the objects and links were loaded beside the collection's transaction too
            for table, suffixes in (
                (OBJECTS.name, ("ix1", "pkey", "uq1")),
                (LINKS.name, ("ix1", "pkey")),
            ):
                part = partitions.partition_name(table, loaded)
                names = session.scalars(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = :t ORDER BY 1"),
                    {"t": part},
                ).all()
                assert names == [f"{part}_{suffix}" for suffix in suffixes]
                assert _analyzed_columns(session, loaded, table) > 0
            assert _loadings(own_hub) == []


@pytest.mark.parametrize("bundle", ["unknown_references", "every_row_good"])
def test_a_loader_that_reads_by_columns_gives_the_outcome_of_a_collection_that_reads_every_file(
    own_hub: Hub,
    bundle: str,
    request: pytest.FixtureRequest,
    loaders: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    district: Path = request.getfixturevalue(bundle)
    assert read_by_columns(district)
    nightly = tmp_path / "night2"
    generate_nightly(district, nightly, seed=6, change_rate=0.05)
    with_loader, _ = _with_and_without_loader(own_hub, (district, nightly), loaders, monkeypatch)
    errors = [
        (line, reason)
        for file, line, reason in with_loader[0]["errors"]
        if file == "enrollments.csv"
    ]
    if bundle == "unknown_references":
        assert (10, "refers to unknown user 'nobody'") in errors
        assert (13, "refers to unknown class 'no-class'") in errors
    else:
        assert errors == []
    assert with_loader[1]["skipped"]


def _with_and_without_loader(
    hub: Hub, bundles: tuple[Path, Path], loaders: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[dict[str, Any]], uuid.UUID]:
    """The outcomes of collecting ``bundles`` into a new cloud, the first with a loader (on
    PostgreSQL); those of a cloud that read them itself are the same. And the first cloud."""
    postgresql = hub.engine.dialect.name == "postgresql"
    before = len(loaders)
    monkeypatch.setattr(hub.settings, "loader_min_enrollments_bytes", 0)
    loaded = _new_cloud(hub, "Loaded")
    with_loader = [outcome(hub, collect(hub, loaded, bundle)) for bundle in bundles]
    assert len(loaders) - before == (1 if postgresql else 0)  # the first collection only

    monkeypatch.setattr(hub.settings, "loader_min_enrollments_bytes", 10**12)
    itself = _new_cloud(hub, "Itself")
    without = [outcome(hub, collect(hub, itself, bundle)) for bundle in bundles]
    assert len(loaders) - before == (1 if postgresql else 0)
    assert with_loader == without
    return with_loader, loaded


def _loadings(hub: Hub) -> list[str]:
    """The loadings that exist: of the memberships, objects and links, and lines to remember."""
    with transaction(hub.sessions) as session:
        return list(
            session.scalars(
                text(
                    "SELECT relname FROM pg_class "
                    "WHERE relname ~ '^(repo_(memberships|objects|links)|ingest_remembered_lines)"
                    "_load_' ORDER BY 1"
                )
            ).all()
        )


def collect(hub: Hub, cloud_id: uuid.UUID, source: Path) -> Ingestion:
    with transaction(hub.sessions, write=True) as session:
        queued = ingest.queue_ingestion(session, cloud_id, str(source), now=hub.now())
        assert ingest.claim(session, queued.id, hub.now())
    return ingest.run(hub, queued.id)


def _broken(district: Path, target: Path, name: str, column: str) -> Path:
    """``district`` with column ``column`` of ``name``.csv gone."""
    shutil.copytree(district, target)
    path = target / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index(column)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([*row[:at], *row[at + 1 :]] for row in rows)
    return target


@pytest.mark.parametrize(
    ("name", "column"), [("enrollments", "classSourcedId"), ("demographics", "sourcedId")]
)
def test_an_unreadable_bundle_stops_the_loader_and_leaves_nothing(
    own_hub: Hub,
    district: Path,
    tmp_path: Path,
    loaders: list[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    column: str,
) -> None:
    """Found by this process (demographics.csv, read after users) or by the loader (its own
    file's header): the same message as without a loader, and no table left."""
    postgresql = own_hub.engine.dialect.name == "postgresql"
    monkeypatch.setattr(own_hub.settings, "loader_min_enrollments_bytes", 0)
    broken = _broken(district, tmp_path / "broken", name, column)
    cloud = _new_cloud(own_hub, "Broken")
    failed = collect(own_hub, cloud, broken)
    assert failed.state == "failed"
    assert failed.message == f"{name}.csv: required column {column!r} is missing"
    assert len(loaders) == (1 if postgresql else 0)
    with transaction(own_hub.sessions) as session:
        assert session.scalar(select(RepoMembership.id).limit(1)) is None
        assert partitions.has_partition(session, MEMBERSHIPS, cloud) is not postgresql
    if postgresql:
        assert _loadings(own_hub) == []


def test_a_collection_that_fails_after_loading_its_objects_beside_leaves_nothing(
    own_hub: Hub, district: Path, loaders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The objects and links of a collection with a loader are committed in tables of their own
    before its transaction attaches them: should that transaction fail later, the cloud has
    no partition and no table is left; collected again, it succeeds."""
    postgresql = own_hub.engine.dialect.name == "postgresql"
    monkeypatch.setattr(own_hub.settings, "loader_min_enrollments_bytes", 0)
    cloud = _new_cloud(own_hub, "Failing")
    attached: list[str] = []
    real_attach = partitions.attach_loading

    def attach(session: Any, table: Table, cloud_id: uuid.UUID, loaded: str) -> None:
        attached.append(table.name)
        real_attach(session, table, cloud_id, loaded)

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(partitions, "attach_loading", attach)
    monkeypatch.setattr(remembered, "take_in", fail)
    failed = collect(own_hub, cloud, district)
    assert failed.state == "failed"
    assert failed.message == "the collection could not be applied: the disk is full"
    assert attached == ([OBJECTS.name, LINKS.name, MEMBERSHIPS.name] if postgresql else [])
    with transaction(own_hub.sessions) as session:
        assert session.scalar(select(RepoObject.id).limit(1)) is None
        for table in (OBJECTS, LINKS, MEMBERSHIPS):
            assert partitions.has_partition(session, table, cloud) is not postgresql
    if postgresql:
        assert _loadings(own_hub) == []

    monkeypatch.undo()
    monkeypatch.setattr(own_hub.settings, "loader_min_enrollments_bytes", 0)
    done = collect(own_hub, cloud, district)
    assert done.state == "success", done.message
    assert done.objects_added == outcome(own_hub, done)["counts"][2] > 0


def test_a_loading_that_no_longer_fits_is_dropped_and_the_bundle_read_again(
    own_hub: Hub,
    district: Path,
    tmp_path: Path,
    loaders: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another collection gave the cloud objects while this one read (with a loader): the
    loader's memberships are not applied; the bundle is read again in this process."""
    postgresql = own_hub.engine.dialect.name == "postgresql"
    monkeypatch.setattr(own_hub.settings, "loader_min_enrollments_bytes", 0)
    cloud = _new_cloud(own_hub, "Raced")
    objects_only = delta_bundle(district, tmp_path / "objects")
    real_read = ingest._read
    reads: list[bool] = []

    def read_then_race(*args: Any, **kwargs: Any) -> Any:
        read = real_read(*args, **kwargs)
        reads.append(isinstance(read.bundle.memberships, WrittenElsewhere))
        if len(reads) == 1:  # another collection applies meanwhile
            monkeypatch.setattr(ingest, "_read", real_read)
            assert collect(own_hub, cloud, objects_only).state == "success"
            monkeypatch.setattr(ingest, "_read", read_then_race)
        return read

    monkeypatch.setattr(ingest, "_read", read_then_race)
    done = collect(own_hub, cloud, district)
    assert done.state == "success", done.message
    assert reads == ([True, False] if postgresql else [False])
    expected = len(read_bundle(district).memberships)
    with transaction(own_hub.sessions) as session:
        stored = session.scalars(
            select(func.count()).select_from(RepoMembership).where(RepoMembership.cloud_id == cloud)
        ).one()
    assert stored == expected == done.objects_added - _objects_added_again(own_hub, done)
    if postgresql:
        assert len(loaders) == 1
        assert _loadings(own_hub) == []


def _objects_added_again(hub: Hub, done: Ingestion) -> int:
    """The objects ``done`` added (the others were there: the racing collection's)."""
    with transaction(hub.sessions) as session:
        return sum(
            1
            for change in change_set(session, done.id)
            if change.entity == "object" and change.action == "ADD"
        )


def test_the_worker_drops_the_loadings_of_collections_that_ended(own_hub: Hub) -> None:
    cloud = _new_cloud(own_hub, "Orphans")
    with transaction(own_hub.sessions, write=True) as session:
        ended, running = (
            ingest.queue_ingestion(session, cloud, ".", now=own_hub.now()) for _ in range(2)
        )
        ended.state, running.state = "failed", "executing"
        ids = [ended.id, running.id, uuid.uuid4()]  # the last: no such ingestion
    for table in (MEMBERSHIPS, OBJECTS, LINKS, LINES):
        if own_hub.engine.dialect.name != "postgresql":
            assert partitions.drop_orphans(own_hub.engine, table) == []
            continue
        names = [partitions.loading_name(table.name, i) for i in ids]
        with transaction(own_hub.sessions, write=True) as session:
            for name in names:
                if table is LINES:
                    for statement in remembered.loading_statements(name):
                        session.execute(text(statement))
                else:
                    session.execute(text(partitions.loading_statement(table, name, cloud)))
        assert sorted(partitions.drop_orphans(own_hub.engine, table)) == sorted(
            [names[0], names[2]]
        )
        assert _loadings(own_hub) == [names[1]]  # its collection still runs
        partitions.drop_loading(own_hub.engine, names[1])
        assert _loadings(own_hub) == []


def test_a_loader_that_fails_leaves_the_collection_to_this_process(
    own_hub: Hub,
    district: Path,
    loaders: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not the bundle's fault: a loader process that does not say what a loader says (here an
    echo) fails; the collection runs again, reading every file itself."""
    postgresql = own_hub.engine.dialect.name == "postgresql"
    monkeypatch.setattr(own_hub.settings, "loader_min_enrollments_bytes", 0)
    real_start = channel.start
    monkeypatch.setattr(channel, "start", lambda _module: real_start("tests.unit.channel_echo"))
    cloud = _new_cloud(own_hub, "Echo")
    done = collect(own_hub, cloud, district)
    assert done.state == "success", done.message
    assert done.objects_added == outcome(own_hub, done)["counts"][2] > 0
    assert len(read_bundle(district).memberships) == len(outcome(own_hub, done)["members"])
    assert len(loaders) == (1 if postgresql else 0)
    assert ("collecting without a loader" in caplog.text) == postgresql
    if postgresql:
        assert _loadings(own_hub) == []


def test_the_loaders_index_builds_run_on_two_connections_and_fail_as_one(own_hub: Hub) -> None:
    """Every build runs, each on one of two connections; a build that fails on either fails
    the loading (its collection then drops the table and reads in one process)."""
    if own_hub.engine.dialect.name != "postgresql":
        return  # a loader runs on PostgreSQL only
    url = libpq_url(own_hub.engine)
    table = f"two_at_a_time_{uuid.uuid4().hex}"
    builds = [f"CREATE INDEX {table}_ix{n} ON {table} (a, b)" for n in range(1, 4)]
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE TABLE {table} (a int, b int)")
        db.execute(f"INSERT INTO {table} SELECT n % 2, n FROM generate_series(1, 1000) AS n")
        try:
            two_at_a_time(db, url, builds)
            found = db.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", (table,)
            ).fetchall()
            assert [name for (name,) in found] == [f"{table}_ix{n}" for n in range(1, 4)]
            two_at_a_time(db, url, [f"CREATE INDEX {table}_ix4 ON {table} (b)"])  # one: no other
            two_at_a_time(db, url, [])
            assert db.execute("SELECT to_regclass(%s)", (f"{table}_ix4",)).fetchone() != (None,)
            unique = f"CREATE UNIQUE INDEX {table}_uq ON {table} (a)"  # a repeats
            with pytest.raises(psycopg.errors.UniqueViolation):
                two_at_a_time(db, url, [f"CREATE INDEX {table}_ix9 ON {table} (b)", unique])
            with pytest.raises(psycopg.errors.UniqueViolation):
                two_at_a_time(db, url, [unique, f"CREATE INDEX {table}_ix8 ON {table} (b)"])
        finally:
            db.execute(f"DROP TABLE {table}")
