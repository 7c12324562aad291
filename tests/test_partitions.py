"""On PostgreSQL a cloud's memberships, objects and links live in partitions of their own
(:mod:`interop_hub.repository.partitions`): the cloud's first collection makes them, loads
them, indexes them and attaches them; later collections write into them; the other clouds read
and write meanwhile; once the cloud is deleted, the worker drops them. On SQLite the tables stay
plain and the same collections give the same rows."""

from __future__ import annotations

import csv
import shutil
import uuid
from pathlib import Path
from typing import cast

import pytest
from bench.generate_district import generate_district
from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.clouds import service as clouds
from interop_hub.clouds.schemas import CloudCreate
from interop_hub.kit.db import is_postgresql, transaction, write_transaction
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from interop_hub.worker import run_pending
from tests.factories import collect

MEMBERSHIPS = cast(Table, RepoMembership.__table__)
TABLES = [cast(Table, model.__table__) for model in (RepoMembership, RepoObject, RepoLink)]
OPERATOR = Principal(kind="account", account_type="operator", account_id=uuid.uuid4())


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("partitions") / "district"
    generate_district(out, students=30, seed=7)
    return out


def _enrollments(bundle: Path) -> list[dict[str, str]]:
    with (bundle / "enrollments.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _with_one_more_enrollment(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    rows = _enrollments(dst)
    with (dst / "enrollments.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows, {**rows[0], "sourcedId": "one-more", "role": "aide"}])
    return dst


def _new_cloud(hub: Hub, name: str) -> uuid.UUID:
    with write_transaction(hub.sessions) as session:
        account = platform.create_account(
            session, AccountCreate(name=f"{name} USD", type="education_agency")
        )
        return platform.create_cloud(session, account.id, CloudCreate(name=name)).id


def _members(session: Session, cloud_id: uuid.UUID) -> int:
    count = select(func.count()).select_from(RepoMembership)
    return int(session.scalar(count.where(RepoMembership.cloud_id == cloud_id)) or 0)


def _partition_rows(session: Session, cloud_id: uuid.UUID) -> int:
    return _rows_of(session, "repo_memberships", cloud_id)


def _rows_of(session: Session, table: str, cloud_id: uuid.UUID) -> int:
    """The rows of the cloud's partition of ``table``."""
    name = partitions.partition_name(table, cloud_id)
    return int(session.scalar(text(f'SELECT count(*) FROM "{name}"')) or 0)


def _analyzed_columns(
    session: Session, cloud_id: uuid.UUID, table: str = "repo_memberships"
) -> int:
    found = text("SELECT count(*) FROM pg_stats WHERE tablename = :part")
    return int(session.scalar(found, {"part": partitions.partition_name(table, cloud_id)}) or 0)


def _unattached_parent_indexes(session: Session, table: str, cloud_id: uuid.UUID) -> set[str]:
    """The parent's indexes that have no index of the cloud's partition attached to them."""
    rows = session.execute(
        text(
            "SELECT p.relname FROM pg_index x JOIN pg_class p ON p.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(:parent AS regclass) AND NOT EXISTS ("
            " SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_index ci ON ci.indexrelid = c.oid"
            " WHERE i.inhparent = p.oid AND ci.indrelid = CAST(:part AS regclass))"
        ),
        {"parent": table, "part": partitions.partition_name(table, cloud_id)},
    )
    return set(rows.scalars())


def test_a_clouds_first_collection_makes_its_partition_and_the_next_writes_into_it(
    own_hub: Hub, district: Path, tmp_path: Path
) -> None:
    hub = own_hub
    cloud_id = _new_cloud(hub, "Springfield")
    with transaction(hub.sessions) as session:
        postgres = is_postgresql(session)
        for table in TABLES:
            assert partitions.has_partition(session, table, cloud_id) == (not postgres)
    collect(hub, cloud_id, district)
    expected = len(_enrollments(district))
    with transaction(hub.sessions) as session:
        assert _members(session, cloud_id) == expected
        for table in TABLES:
            assert partitions.has_partition(session, table, cloud_id)
            if postgres:
                assert _unattached_parent_indexes(session, table.name, cloud_id) == set()
                # analyzed, however small: with no statistics the planner scans it for a few ids
                assert _analyzed_columns(session, cloud_id, table.name) > 0
                assert partitions.table_of(session, table, cloud_id) == (
                    partitions.partition_name(table.name, cloud_id)
                )
            else:
                assert partitions.table_of(session, table, cloud_id) == table.name
        if postgres:
            assert _partition_rows(session, cloud_id) == expected
            objects = session.scalar(select(func.count()).where(RepoObject.cloud_id == cloud_id))
            assert _rows_of(session, "repo_objects", cloud_id) == objects
            assert objects
    collect(hub, cloud_id, _with_one_more_enrollment(district, tmp_path / "night"))
    with transaction(hub.sessions) as session:
        assert _members(session, cloud_id) == expected + 1
        if postgres:
            assert _partition_rows(session, cloud_id) == expected + 1
        added = select(RepoMembership.role).where(
            RepoMembership.cloud_id == cloud_id, RepoMembership.source_id == "one-more"
        )
        assert session.scalar(added) == "aide"


def test_a_first_collection_holds_no_lock_that_stops_other_clouds(own_hub: Hub) -> None:
    """While a cloud's new partition is attached but not committed, another cloud's
    memberships can still be read and written (ATTACH takes SHARE UPDATE EXCLUSIVE only)."""
    hub = own_hub
    first, other = _new_cloud(hub, "First"), _new_cloud(hub, "Other")
    with write_transaction(hub.sessions) as session:
        postgres = is_postgresql(session)
        partitions.ensure(session, MEMBERSHIPS, other)
    if not postgres:  # SQLite serializes writers: there is nothing to overlap
        return
    writing = hub.sessions()
    try:
        partitions.create_loaded(writing, MEMBERSHIPS, first)  # attached, not committed
        with write_transaction(hub.sessions) as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert _members(session, other) == 0
            session.execute(
                RepoMembership.__table__.insert(),  # type: ignore[attr-defined]
                {
                    "id": uuid.uuid4(),
                    "cloud_id": other,
                    "source_id": "e1",
                    "person_id": uuid.uuid4(),
                    "section_id": uuid.uuid4(),
                    "role": "student",
                    "data": {},
                    "digest": "x",
                },
            )
            # the uncommitted partition is nobody else's yet
            assert not partitions.has_partition(session, MEMBERSHIPS, first)
        writing.commit()
    finally:
        writing.close()
    with transaction(hub.sessions) as session:
        assert partitions.has_partition(session, MEMBERSHIPS, first)
        assert _members(session, other) == 1


def test_a_deleted_clouds_partition_is_dropped_by_the_worker(own_hub: Hub, district: Path) -> None:
    hub = own_hub
    gone, kept = _new_cloud(hub, "Gone"), _new_cloud(hub, "Kept")
    collect(hub, gone, district)
    collect(hub, kept, district)
    with write_transaction(hub.sessions) as session:
        postgres = is_postgresql(session)
        clouds.delete_cloud(session, OPERATOR, gone)
    leftover = uuid.uuid4()  # a table detached but not dropped (a crash between the two)
    if postgres:
        with write_transaction(hub.sessions) as session:
            name = partitions.partition_name("repo_memberships", leftover)
            session.execute(text(f'CREATE TABLE "{name}" (LIKE repo_memberships)'))
    run_pending(hub)
    expected = {partitions.partition_name("repo_memberships", leftover)} | {
        partitions.partition_name(table.name, gone) for table in TABLES
    }
    with transaction(hub.sessions) as session:
        assert _members(session, gone) == 0
        assert _members(session, kept) == len(_enrollments(district))
        for table in TABLES:
            assert partitions.has_partition(session, table, gone) == (not postgres)
            assert partitions.has_partition(session, table, kept)
        if postgres:
            tables = text("SELECT relname FROM pg_class WHERE relname = ANY(:names)")
            assert list(session.scalars(tables, {"names": list(expected)})) == []
    for table in TABLES:
        assert partitions.drop_orphans(hub.engine, table) == []  # nothing left to drop
