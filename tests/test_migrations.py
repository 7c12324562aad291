"""The migrations and the models describe the same schema, on each backend."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import cast

import orjson
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, insert, inspect, text
from sqlalchemy.orm import Session

from interop_hub.ingest.models import RepoChange
from interop_hub.kit import migrate
from interop_hub.models import metadata
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject, in_schema
from tests.conftest import Database, DatabaseFactory

MEMBERSHIPS = cast(Table, RepoMembership.__table__)


def _downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database of ``engine`` to ``revision``, in one transaction."""
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_models_match_migrations(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    type_ != "index" or in_schema(connection.dialect.name, str(name))
                ),
            },
        )
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations drift; add a migration: {diff}"


def test_database_is_at_head(database: Database) -> None:
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_upgrade_is_idempotent(database: Database) -> None:
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_payload_bodies_compressed_with_lz4_where_the_server_has_it(database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite does not compress")
    with database.engine.connect() as connection:
        methods = connection.scalar(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        )
        method = connection.scalar(
            text(
                "SELECT attcompression FROM pg_attribute"
                " WHERE attrelid = 'task_payloads'::regclass AND attname = 'body'"
            )
        )
    assert method == ("l" if "lz4" in methods else "")


BULK_KEYS = {
    "repo_links": {("from_id", "repo_objects"), ("to_id", "repo_objects"), ("cloud_id", "clouds")},
    "repo_memberships": {
        ("person_id", "repo_objects"),
        ("section_id", "repo_objects"),
        ("school_id", "repo_objects"),
        ("cloud_id", "clouds"),
    },
    "repo_changes": {("ingestion_id", "ingestions"), ("cloud_id", "clouds")},
}


def _foreign_keys(engine: Engine) -> dict[str, set[tuple[str, str]]]:
    found = inspect(engine)
    return {
        table: {
            (column, key["referred_table"])
            for key in found.get_foreign_keys(table)
            for column in key["constrained_columns"]
        }
        for table in BULK_KEYS
    }


def _orphans(connection: Connection) -> None:
    """A row of each bulk table that refers to nothing (possible since 0009)."""
    values = {"cloud_id": uuid.uuid4().hex, "id": uuid.uuid4().hex}
    with Session(connection) as session:  # the cloud's partitions (PostgreSQL)
        for table in (MEMBERSHIPS, cast(Table, RepoLink.__table__)):
            partitions.ensure(session, table, uuid.UUID(values["cloud_id"]))
    ids = {name: uuid.uuid4().hex for name in ("a", "b", "c", "d")}
    connection.execute(
        text(
            "INSERT INTO repo_links (from_id, rel, to_id, cloud_id, position)"
            " VALUES (:a, 'orgs', :b, :cloud_id, 0)"
        ),
        {**values, **ids},
    )
    connection.execute(
        text(
            "INSERT INTO repo_memberships (id, cloud_id, source_id, person_id, section_id,"
            " school_id, role, data, digest, created_at, updated_at) VALUES (:id, :cloud_id,"
            " 'm1', :a, :b, :c, 'student', '{}', 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {**values, **ids},
    )
    connection.execute(
        text(
            "INSERT INTO repo_changes (ingestion_id, cloud_id, seq, entity, object_id, kind,"
            " action) VALUES (:d, :cloud_id, 1, 'object', :a, 'org', 'ADD')"
        ),
        {**values, **ids},
    )


def _count(connection: Connection, table: str) -> int:
    return int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


def test_bulk_tables_have_no_foreign_keys_and_the_downgrade_restores_them(
    database: Database, databases: DatabaseFactory
) -> None:
    fresh = databases.create(database.backend)
    engine = fresh.engine
    assert _foreign_keys(engine) == {table: set() for table in BULK_KEYS}
    assert _membership_keys(engine) == []
    with engine.begin() as connection:
        _orphans(connection)
    _downgrade(engine, "0008")
    assert _foreign_keys(engine) == BULK_KEYS
    assert _membership_keys(engine) == [["cloud_id", "source_id"]]
    with engine.connect() as connection:
        # the rows the restored keys refuse are gone (what the cascades would have deleted)
        assert [_count(connection, table) for table in BULK_KEYS] == [0, 0, 0]
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert _foreign_keys(engine) == {table: set() for table in BULK_KEYS}
    assert _membership_keys(engine) == []


def _membership_keys(engine: Engine) -> list[list[str]]:
    """The unique keys of ``repo_memberships`` besides its primary key."""
    return [
        key["column_names"] for key in inspect(engine).get_unique_constraints("repo_memberships")
    ]


def test_the_downgrade_spells_implied_adds_out_one_row_each(
    database: Database, databases: DatabaseFactory
) -> None:
    engine = databases.create(database.backend).engine
    cloud_id, ingestion_id = uuid.uuid4(), uuid.uuid4()
    at = dt.datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=dt.UTC)
    members = [uuid.uuid4() for _ in range(3)]
    with engine.begin() as connection:
        with Session(connection) as session:
            partitions.ensure(session, MEMBERSHIPS, cloud_id)
        for number, member_id in enumerate(members):
            connection.execute(
                insert(RepoMembership),
                {
                    "id": member_id,
                    "cloud_id": cloud_id,
                    "source_id": f"m{number}",
                    "person_id": uuid.uuid4(),
                    "section_id": uuid.uuid4(),
                    "role": "teacher" if number else "student",
                    "data": {},
                    "digest": "x",
                    # the third was written by a later collection
                    "created_at": at if number < 2 else at + dt.timedelta(seconds=1),
                    "updated_at": at,
                },
            )
        entry = {"ingestion_id": ingestion_id, "cloud_id": cloud_id, "kind": "membership"}
        entry |= {"entity": "membership", "subtype": None, "prior": None}
        connection.execute(
            insert(RepoChange),
            [
                entry
                | {"seq": 1, "object_id": None, "action": "ADD"}
                | {"rows": 2, "created_at": at},
                entry
                | {"seq": 3, "object_id": members[2], "action": "DELETE"}
                | {"rows": None, "created_at": None},
            ],
        )
    _downgrade(engine, "0012")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT seq, object_id, subtype, action FROM repo_changes ORDER BY seq")
        ).all()
    first, second = sorted(members[:2])
    subtypes = {members[0]: "student", members[1]: "teacher"}
    assert [(seq, uuid.UUID(str(i)), s, a) for seq, i, s, a in rows] == [
        (1, first, subtypes[first], "ADD"),
        (2, second, subtypes[second], "ADD"),
        (3, members[2], None, "DELETE"),
    ]
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_objects_have_no_key_to_their_cloud_and_the_downgrade_restores_it(
    database: Database, databases: DatabaseFactory
) -> None:
    engine = databases.create(database.backend).engine

    def cloud_keys() -> list[list[str]]:
        keys = inspect(engine).get_foreign_keys("repo_objects")
        return [key["constrained_columns"] for key in keys if key["referred_table"] == "clouds"]

    assert cloud_keys() == []
    gone = uuid.uuid4()
    with engine.begin() as connection:  # an object whose cloud is gone (possible since 0014)
        with Session(connection) as session:  # its partition (PostgreSQL)
            partitions.ensure(session, cast(Table, RepoObject.__table__), gone)
        connection.execute(
            insert(RepoObject),
            {
                "id": uuid.uuid4(),
                "cloud_id": gone,
                "kind": "org",
                "source_id": "o1",
                "label": "O",
                "data": {},
                "digest": "x",
            },
        )
    _downgrade(engine, "0013")
    assert cloud_keys() == [["cloud_id"]]
    with engine.connect() as connection:
        assert _count(connection, "repo_objects") == 0
    migrate.upgrade(engine)
    assert cloud_keys() == []


def _memberships_by_partition(connection: Connection) -> dict[str, int]:
    """How many memberships each table holding them has: ``repo_memberships`` itself when it
    is a plain table, else each of its partitions."""
    if connection.dialect.name != "postgresql":
        return {"repo_memberships": _count(connection, "repo_memberships")}
    rows = connection.execute(
        text("SELECT tableoid::regclass::text, count(*) FROM repo_memberships GROUP BY 1")
    )
    return {str(name): int(n) for name, n in rows}


def _partitioned(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.scalar(
        text("SELECT relkind FROM pg_class WHERE relname = 'repo_memberships'")
    )
    return bool(kind == "p")


def test_memberships_move_into_a_partition_per_cloud_and_back(
    database: Database, databases: DatabaseFactory
) -> None:
    engine = databases.create(database.backend).engine
    _downgrade(engine, "0014")
    clouds = [uuid.uuid4(), uuid.uuid4()]
    rows = [
        {
            "id": uuid.uuid4(),
            "cloud_id": cloud,
            "source_id": f"m{n}",
            "person_id": uuid.uuid4(),
            "section_id": uuid.uuid4(),
            "school_id": None,
            "role": "student",
            "data": {"n": n},
            "digest": "x",
        }
        for n, cloud in enumerate([clouds[0], clouds[0], clouds[0], clouds[1]])
    ]
    with engine.begin() as connection:
        assert not _partitioned(connection)
        connection.execute(insert(RepoMembership), rows)
    migrate.upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        assert _partitioned(connection) == postgres
        expected = (
            {
                partitions.partition_name("repo_memberships", c): n
                for c, n in zip(clouds, [3, 1], strict=True)
            }
            if postgres
            else {"repo_memberships": 4}
        )
        assert _memberships_by_partition(connection) == expected
        if postgres:  # each partition analyzed: without statistics, lookups by id scan it
            analyzed = text(
                "SELECT count(DISTINCT tablename) FROM pg_stats WHERE tablename = ANY(:t)"
            )
            assert connection.scalar(analyzed, {"t": list(expected)}) == len(clouds)
        with Session(connection) as session:
            assert all(partitions.has_partition(session, MEMBERSHIPS, c) for c in clouds)
            assert partitions.has_partition(session, MEMBERSHIPS, uuid.uuid4()) == (not postgres)
        stored = connection.execute(
            text("SELECT source_id, data FROM repo_memberships ORDER BY source_id")
        ).all()
        assert [(s, d if isinstance(d, dict) else orjson.loads(d)) for s, d in stored] == [
            (f"m{n}", {"n": n}) for n in range(4)
        ]
    _downgrade(engine, "0014")
    with engine.connect() as connection:
        assert not _partitioned(connection)
        assert _memberships_by_partition(connection) == {"repo_memberships": 4}
    migrate.upgrade(engine)


def _rows_by_table(connection: Connection, table: str) -> dict[str, int]:
    """How many rows each table holding ``table``'s has (its partitions, on PostgreSQL)."""
    if connection.dialect.name != "postgresql":
        return {table: _count(connection, table)}
    rows = connection.execute(
        text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")
    )
    return {str(name): int(n) for name, n in rows}


def test_objects_and_links_move_into_a_partition_per_cloud_and_back(
    database: Database, databases: DatabaseFactory
) -> None:
    engine = databases.create(database.backend).engine
    _downgrade(engine, "0015")
    clouds = [uuid.uuid4(), uuid.uuid4()]
    objects = [
        {
            "id": uuid.uuid4(),
            "cloud_id": cloud,
            "kind": "org",
            "source_id": f"o{n}",
            "label": f"Org {n}",
            "data": {"n": n},
            "digest": "x",
        }
        for n, cloud in enumerate([clouds[0], clouds[0], clouds[0], clouds[1]])
    ]
    links = [
        {"from_id": o["id"], "rel": "parent", "to_id": objects[0]["id"], "cloud_id": o["cloud_id"]}
        for o in objects[1:]
    ]
    with engine.begin() as connection:
        connection.execute(insert(RepoObject), objects)
        connection.execute(insert(RepoLink), links)
    migrate.upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    counts = {"repo_objects": [3, 1], "repo_links": [2, 1]}
    with engine.connect() as connection:
        for table, per_cloud in counts.items():
            expected = (
                {
                    partitions.partition_name(table, c): n
                    for c, n in zip(clouds, per_cloud, strict=True)
                }
                if postgres
                else {table: sum(per_cloud)}
            )
            assert _rows_by_table(connection, table) == expected
            if postgres:  # analyzed, and the keys include the cloud
                analyzed = text(
                    "SELECT count(DISTINCT tablename) FROM pg_stats WHERE tablename = ANY(:t)"
                )
                assert connection.scalar(analyzed, {"t": list(expected)}) == len(clouds)
            key = inspect(connection).get_pk_constraint(table)["constrained_columns"]
            assert key[-1] == "cloud_id"
        with Session(connection) as session:
            for model in (RepoObject, RepoLink):
                split = cast(Table, model.__table__)
                assert all(partitions.has_partition(session, split, c) for c in clouds)
        labels = connection.scalars(text("SELECT label FROM repo_objects ORDER BY source_id"))
        assert list(labels) == [f"Org {n}" for n in range(4)]
        # the indexes by cloud are SQLite's alone now
        assert (_by_cloud_indexes(connection) == set()) == postgres
    _downgrade(engine, "0015")
    with engine.connect() as connection:
        for table, per_cloud in counts.items():
            assert _rows_by_table(connection, table) == {table: sum(per_cloud)}
        assert inspect(connection).get_pk_constraint("repo_objects")["constrained_columns"] == [
            "id"
        ]
        assert _by_cloud_indexes(connection) == {
            "ix_repo_links_cloud_id",
            "ix_repo_memberships_cloud",
        }
    migrate.upgrade(engine)


def _by_cloud_indexes(connection: Connection) -> set[str]:
    found = inspect(connection)
    return {
        str(index["name"])
        for table in ("repo_links", "repo_memberships")
        for index in found.get_indexes(table)
        if index["column_names"] == ["cloud_id"]
    }
