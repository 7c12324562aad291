"""A cloud's own partition of a bulk Repository table (PostgreSQL).

``repo_memberships``, ``repo_objects`` and ``repo_links`` are partitioned by ``cloud_id`` on
PostgreSQL (:data:`PARTITIONED`): a partition per cloud, named :func:`partition_name`, and no
default partition. Why: a cloud's first collection writes its rows by the hundred thousand, and
keeping the B-trees up to date row by row was most of the server's work (731,314 memberships at
100,000 students: 5.7-6.7 s, against 1.1 s into the same table without indexes and 1.2 s to
build the indexes afterwards; BENCHMARKS, sessions 11-13). A cloud's partition is therefore
created by the first write of its rows (:func:`create_loaded`): a plain table, loaded, then
indexed, then attached.

Locks, all taken in the writing transaction and held until it ends:

- the new table itself: nobody else can see it before the commit;
- ``ATTACH PARTITION`` takes SHARE UPDATE EXCLUSIVE on the parent: reads and writes of the
  other clouds go on; another attach (another cloud's first collection) or an ``ANALYZE`` of
  the parent waits for the commit. ``CREATE TABLE .. PARTITION OF`` is never used: it takes
  ACCESS EXCLUSIVE on the parent, which would stop every reader of every cloud until then.

A deleted cloud's rows are deleted with it (``ingest.apply.purge_cloud``); its empty partition
is dropped afterwards by :func:`drop_orphans`, outside that transaction, with ``DETACH ..
CONCURRENTLY`` (a plain ``DETACH`` or ``DROP`` would take ACCESS EXCLUSIVE on the parent).

SQLite has no partitions: everything here is a no-op there, and the table is a plain one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Index, MetaData, Table, UniqueConstraint, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from interop_hub.kit.db import is_postgresql, libpq_url
from interop_hub.kit.pgbuild import two_at_a_time
from interop_hub.kit.pgcopy import copy_statement, write_binary
from interop_hub.repository.models import in_schema

log = logging.getLogger(__name__)

PARTITIONED = ("repo_memberships", "repo_objects", "repo_links")
"""The tables partitioned by cloud on PostgreSQL (migrations 0015, 0016)."""

DETACH_LOCK_WAIT = "10s"


def partition_name(table: str, cloud_id: uuid.UUID) -> str:
    """``repo_memberships_<cloud id in hex>``: 49 characters, within PostgreSQL's 63."""
    return f"{table}_{cloud_id.hex}"


def has_partition(session: Session, table: Table, cloud_id: uuid.UUID) -> bool:
    """Whether ``table`` has the cloud's partition (always True on SQLite: nothing to make)."""
    if not is_postgresql(session):
        return True
    found = session.scalar(
        text(
            "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass) AND c.relname = :name"
        ),
        {"parent": table.name, "name": partition_name(table.name, cloud_id)},
    )
    return found is not None


def create_loaded(
    session: Session,
    table: Table,
    cloud_id: uuid.UUID,
    load: Callable[[Table], None] = lambda _: None,
) -> None:
    """Make the cloud's partition of ``table``: create it bare, ``load(partition)`` its rows
    (into a :class:`Table` of its name, for ``COPY``), build the parent's indexes on it, then
    attach it. PostgreSQL only; the caller checked :func:`has_partition` first."""
    name = partition_name(table.name, cloud_id)
    quoted = quote_identifier(name)
    session.execute(text(f"CREATE TABLE {quoted} (LIKE {table.name} INCLUDING DEFAULTS)"))
    load(table.to_metadata(MetaData(), name=name))
    build_indexes(session, table, name)
    session.execute(
        text(f"ALTER TABLE {table.name} ATTACH PARTITION {quoted} FOR VALUES IN ('{cloud_id}')")
    )


def build_indexes(session: Session, table: Table, name: str) -> None:
    """Build the parent ``table``'s primary key, unique constraints and indexes on table
    ``name`` (:func:`index_statements`)."""
    builds, constraints = index_statements(table, name)
    for statement in (*builds, *constraints):
        session.execute(text(statement))


def index_statements(table: Table, name: str) -> tuple[list[str], list[str]]:
    """The statements that build the parent ``table``'s primary key, unique constraints and
    indexes on table ``name`` (named ``<name>_pkey``, ``<name>_uq1``, ``_uq2``, ... and
    ``<name>_ix1``, ``_ix2``, ... in the order of the parent's names): ``(builds,
    constraints)``. The builds are ``CREATE INDEX`` statements, which can run at the same time
    on connections of their own (each locks out writes, not the others); the constraints then
    take the unique indexes built for them (``USING INDEX``: no second build)."""
    quoted = quote_identifier(name)
    keys = ", ".join(c.name for c in table.primary_key.columns)
    pkey = quote_identifier(f"{name}_pkey")
    builds = [f"CREATE UNIQUE INDEX {pkey} ON {quoted} ({keys})"]
    constraints = [f"ALTER TABLE {quoted} ADD CONSTRAINT {pkey} PRIMARY KEY USING INDEX {pkey}"]
    for number, constraint in enumerate(_uniques(table), 1):
        columns = ", ".join(c.name for c in constraint.columns)
        unique_name = quote_identifier(f"{name}_uq{number}")
        builds.append(f"CREATE UNIQUE INDEX {unique_name} ON {quoted} ({columns})")
        constraints.append(
            f"ALTER TABLE {quoted} ADD CONSTRAINT {unique_name} UNIQUE USING INDEX {unique_name}"
        )
    for number, index in enumerate(_indexes(table), 1):
        columns = ", ".join(c.name for c in index.columns)
        unique = "UNIQUE " if index.unique else ""
        index_name = quote_identifier(f"{name}_ix{number}")
        builds.append(f"CREATE {unique}INDEX {index_name} ON {quoted} ({columns})")
    return builds, constraints


def _indexes(table: Table) -> list[Index]:
    """The parent's indexes (PostgreSQL's), by name."""
    found = [i for i in table.indexes if in_schema("postgresql", str(i.name))]
    return sorted(found, key=lambda i: str(i.name))


def _uniques(table: Table) -> list[UniqueConstraint]:
    found = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    return sorted(found, key=lambda c: str(c.name))


def loading_name(table: str, ingestion_id: uuid.UUID) -> str:
    """``repo_memberships_load_<ingestion id in hex>``: where a collection's rows of ``table``
    for a cloud without its partition are loaded by another process
    (:mod:`interop_hub.ingest.loader`), before :func:`attach_loading` makes it the partition."""
    return f"{table}_load_{ingestion_id.hex}"


def loading_statement(table: Table, name: str, cloud_id: uuid.UUID) -> str:
    """The statement that creates table ``name`` to load the cloud's rows of ``table`` into:
    the parent's columns, and a check that every row is the cloud's (so that
    :func:`attach_loading` need not scan the rows for it). Committed by its own transaction;
    nobody reads it until it is attached."""
    return (
        f"CREATE TABLE {quote_identifier(name)} (LIKE {table.name} INCLUDING DEFAULTS, "
        f"CONSTRAINT {quote_identifier(name + '_cloud')} CHECK (cloud_id = '{cloud_id}'))"
    )


def attach_loading(session: Session, table: Table, cloud_id: uuid.UUID, loaded: str) -> None:
    """Make table ``loaded`` (:func:`loading_statement`, rows loaded and indexed by
    :func:`index_statements`, committed) the cloud's partition of ``table``, in the caller's
    transaction: renamed (with its keys and indexes) as :func:`create_loaded` names them, then
    attached.
    The caller checked :func:`has_partition` first."""
    name = partition_name(table.name, cloud_id)
    quoted = quote_identifier(name)
    session.execute(text(f"ALTER TABLE {quote_identifier(loaded)} RENAME TO {quoted}"))
    session.execute(
        text(
            f"ALTER TABLE {quoted} RENAME CONSTRAINT {quote_identifier(loaded + '_pkey')} "
            f"TO {quote_identifier(name + '_pkey')}"
        )
    )
    for number in range(1, len(_uniques(table)) + 1):
        session.execute(
            text(
                f"ALTER TABLE {quoted} RENAME CONSTRAINT "
                f"{quote_identifier(f'{loaded}_uq{number}')} "
                f"TO {quote_identifier(f'{name}_uq{number}')}"
            )
        )
    for number in range(1, len(_indexes(table)) + 1):
        session.execute(
            text(
                f"ALTER INDEX {quote_identifier(f'{loaded}_ix{number}')} "
                f"RENAME TO {quote_identifier(f'{name}_ix{number}')}"
            )
        )
    session.execute(
        text(f"ALTER TABLE {table.name} ATTACH PARTITION {quoted} FOR VALUES IN ('{cloud_id}')")
    )
    # the partition's bound says it now; a check of its own would be one more to evaluate
    check = quote_identifier(loaded + "_cloud")
    session.execute(text(f"ALTER TABLE {quoted} DROP CONSTRAINT {check}"))


@dataclass(frozen=True)
class Loading:
    """Rows for a loading of the parent ``table`` (:func:`load_beside`): ``rows`` in ``COPY``'s
    binary format (:func:`interop_hub.kit.pgcopy.write_binary`) for ``columns``."""

    table: Table
    columns: Sequence[str]
    rows: Iterable[bytes]


def load_beside(
    engine: Engine, cloud_id: uuid.UUID, ingestion_id: uuid.UUID, loads: Sequence[Loading]
) -> list[str]:
    """Load each of ``loads`` into a loading of its table (:func:`loading_name`, for the
    collection ``ingestion_id``) on a connection of its own, commit them, then index and
    ``ANALYZE`` them two statements at a time (:func:`interop_hub.kit.pgbuild.two_at_a_time`);
    their names, in order, for :func:`attach_loading` in the collection's transaction.

    Why beside the collection's transaction: in it, the builds of a cloud's first objects and
    links and their ``ANALYZE`` ran one after the other on one core of the server while this
    process waited (100,000 students: ~1.3 s). Committed, they can run on two connections at
    once. A loading left by a collection that failed is dropped by it, else by the worker
    (:func:`drop_orphans`); one left by an earlier attempt of the same collection is dropped
    here first. Loaded in the order given, so a load's rows may be made while an earlier one's
    are read."""
    url = libpq_url(engine)
    names = [loading_name(load.table.name, ingestion_id) for load in loads]
    builds: list[str] = []
    constraints: list[str] = []
    with psycopg.connect(url, autocommit=True) as db:
        for name in names:
            db.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")
        with db.transaction():
            for load, name in zip(loads, names, strict=True):
                db.execute(loading_statement(load.table, name, cloud_id))
                statement = copy_statement(name, load.columns, binary=True)
                with db.cursor() as cursor, cursor.copy(statement) as copy:
                    write_binary(copy, load.rows)
        for load, name in zip(loads, names, strict=True):
            more_builds, more_constraints = index_statements(load.table, name)
            builds += more_builds
            constraints += more_constraints
        two_at_a_time(db, url, builds)
        for constraint in constraints:
            db.execute(constraint)
        two_at_a_time(db, url, [f"ANALYZE {quote_identifier(name)}" for name in names])
    return names


def drop_loading(engine: Engine, name: str) -> None:
    """Drop table ``name`` (:func:`loading_name`) if it exists: a loading that was not attached.
    Should it be locked for longer than :data:`DETACH_LOCK_WAIT`, it is left to
    :func:`drop_orphans`, with a warning."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql(f"SET lock_timeout = '{DETACH_LOCK_WAIT}'")
        try:
            autocommit.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
        except DBAPIError as exc:
            log.warning("table %s not dropped now: %s", name, exc.orig)
        finally:
            autocommit.exec_driver_sql("RESET lock_timeout")


def ensure(session: Session, table: Table, cloud_id: uuid.UUID) -> None:
    """The cloud's partition of ``table`` exists (created empty if needed)."""
    if not has_partition(session, table, cloud_id):
        create_loaded(session, table, cloud_id)


def table_of(session: Session, table: Table, cloud_id: uuid.UUID) -> str:
    """The table that holds the cloud's rows of ``table``: its partition if it has one (what to
    ``ANALYZE`` or ``VACUUM`` after a collection: the parent would recurse into every cloud's)."""
    partitioned = table.name in PARTITIONED and is_postgresql(session)
    if partitioned and has_partition(session, table, cloud_id):
        return partition_name(table.name, cloud_id)
    return table.name


def drop_orphans(engine: Engine, table: Table) -> list[str]:
    """Detach and drop the partitions of ``table`` whose cloud no longer exists, and drop the
    loadings (:func:`loading_name`) whose collection no longer runs; their names.

    Runs on an autocommit connection of its own (``DETACH .. CONCURRENTLY`` cannot run in a
    transaction), after the deletion of a cloud committed (the worker calls it on each pass).
    It waits for the transactions that still see the partition, but blocks nobody. A partition
    it cannot detach now (lock wait over :data:`DETACH_LOCK_WAIT`) is left for the next call,
    with a warning; one left half-detached (a crash between the two steps of a concurrent
    detach) is finalized, and one detached but not dropped is dropped."""
    if engine.dialect.name != "postgresql":
        return []
    dropped: list[str] = []
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        here = "c.relkind = 'r' AND c.relnamespace = CAST(current_schema() AS regnamespace)"
        orphans: list[Any] = list(
            autocommit.execute(
                text(
                    "SELECT c.relname, i.inhdetachpending FROM pg_class c "  # noqa: S608
                    f"LEFT JOIN pg_inherits i ON i.inhrelid = c.oid WHERE {here} "
                    "AND c.relname ~ :pattern AND NOT EXISTS (SELECT 1 FROM clouds WHERE "
                    "replace(CAST(clouds.id AS text), '-', '') = substr(c.relname, :start))"
                ),
                {"pattern": f"^{table.name}_[0-9a-f]{{32}}$", "start": len(table.name) + 2},
            ).all()
        )
        # loadings (never attached) whose collection is over: it failed or its process died
        orphans += autocommit.execute(
            text(
                f"SELECT c.relname, NULL FROM pg_class c WHERE {here} "  # noqa: S608
                "AND c.relname ~ :pattern AND NOT EXISTS (SELECT 1 FROM ingestions i WHERE "
                "i.state = 'executing' AND "
                "replace(CAST(i.id AS text), '-', '') = substr(c.relname, :start))"
            ),
            {"pattern": f"^{table.name}_load_[0-9a-f]{{32}}$", "start": len(table.name) + 7},
        ).all()
        autocommit.exec_driver_sql(f"SET lock_timeout = '{DETACH_LOCK_WAIT}'")
        try:
            for name, pending in orphans:
                detach = {None: "", False: "CONCURRENTLY", True: "FINALIZE"}[pending]
                try:
                    if detach:
                        autocommit.exec_driver_sql(
                            f'ALTER TABLE {table.name} DETACH PARTITION "{name}" {detach}'
                        )
                    autocommit.exec_driver_sql(f'DROP TABLE "{name}"')
                except DBAPIError as exc:
                    log.warning("partition %s not dropped now: %s", name, exc.orig)
                    continue
                dropped.append(name)
        finally:
            autocommit.exec_driver_sql("RESET lock_timeout")
    return dropped


def quote_identifier(name: str) -> str:
    """``name`` as a quoted identifier (the statements are also run without SQLAlchemy, by the
    loader process)."""
    return '"' + name.replace('"', '""') + '"'
