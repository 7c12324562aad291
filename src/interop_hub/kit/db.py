"""Engines, sessions and the declarative base.

SQLite (the embedded default) runs in WAL mode with foreign keys on, and with the driver's own
transaction handling turned off so that SQLAlchemy's BEGIN, SAVEPOINT and transactional DDL
behave as they do on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from psycopg.types import json as psycopg_json
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    Text,
    any_,
    cast,
    create_engine,
    event,
    literal,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs unless a driver is named."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(engine: Engine) -> str:
    """The engine's PostgreSQL URL as psycopg and libpq take it (``postgresql://``, password
    included): for a process of ours that connects without SQLAlchemy."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine)
        return engine
    # psycopg parses json columns itself, with the standard library's parser unless told
    # otherwise; orjson is several times faster on the hot paths' JSON (payloads, object data).
    psycopg_json.set_json_loads(orjson.loads)
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


READ_CONNECTIONS = 4
"""The pool of :func:`create_read_engine`: a process serves at most two rostering lists at once
(``rostering.routes.LIST_THREADS``); twice that leaves room for any other reader."""


def create_read_engine(engine: Engine, *, connections: int = READ_CONNECTIONS) -> Engine:
    """A PostgreSQL engine beside ``engine`` (same database) for reads of one statement each
    that need no transaction: each statement runs on its own (autocommit, set once a
    connection), and a connection is not pinged before each use.

    Why its own: switching a pooled connection to autocommit and back for each page, and the
    ping, cost ~0.15 ms of the ~0.85 ms of CPU a page of 100 students spends in the database
    layer (the ping is a round trip). Without the ping, a connection that a restart of the
    server broke fails its first statement; SQLAlchemy then discards every connection of the
    pool made before the failure, so a reader that runs its statements again once
    (:func:`read_again_once`) gets a new one."""
    return create_engine(
        engine.url,
        echo=engine.echo,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_size=connections,
        max_overflow=connections,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def read_again_once(read: Callable[[], T]) -> T:
    """``read()``, and once more if its connection was found broken (the database restarted:
    see :func:`create_read_engine`). Only for reads: whatever ran the first time is lost."""
    try:
        return read()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return read()


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and then
        # writes can fail at once with "database is locked" instead of waiting its turn.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


WRITE_OPTION = "interop_hub_writer"


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back when it raises.

    ``write=True`` declares a unit that writes: on SQLite it takes the write lock when it
    begins (``BEGIN IMMEDIATE``), waiting for other writers rather than failing halfway.
    """
    with factory() as session:
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def write_transaction(factory: sessionmaker[Session]) -> AbstractContextManager[Session]:
    return transaction(factory, write=True)


def one_of(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` for the long id lists of the hot paths: one array parameter on
    PostgreSQL (``= ANY(:ids)``), where a thousand separate parameters cost more to compile and
    send than the query costs to run; a plain ``IN`` elsewhere."""
    found: ColumnElement[bool]
    if session.get_bind().dialect.name != "postgresql":
        found = column.in_(values)
    elif values and all(isinstance(v, uuid.UUID) for v in values):
        array = postgresql.ARRAY(column.type)
        found = column == any_(cast(literal(uuid_array(values), type_=Text()), array))
    else:
        found = column == any_(literal(list(values), type_=postgresql.ARRAY(column.type)))
    return found


def uuid_array(values: Iterable[uuid.UUID]) -> str:
    """UUIDs as the text of a PostgreSQL ``uuid[]`` (cast it: ``CAST(:ids AS uuid[])``): one
    value to send. Given a list, psycopg's array dumper dumps each UUID and searches it for
    characters to quote (0.17 s of CPU for the 87,000 ids a nightly looks up)."""
    return "{" + ",".join([v.hex for v in values]) + "}"


def is_postgresql(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (otherwise: SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def analyze(session: Session, *tables: str) -> None:
    """Refresh the planner's statistics of ``tables`` after a large change.

    Right after a bulk load the planner still believes a table is (nearly) empty and picks plans
    that read all of it (a queue's "oldest 100 of this tenant" becomes a scan and a sort of the
    tenant's whole backlog); autovacuum would catch up only later, or never where it is off.
    """
    if is_postgresql(session):
        session.execute(text(f"ANALYZE {', '.join(tables)}"))
    else:
        for table in tables:
            session.execute(text(f"ANALYZE {table}"))


def vacuum_analyze(session: Session, *tables: str) -> None:
    """:func:`analyze` ``tables`` and, on PostgreSQL, vacuum them: after a bulk write, so that
    the query API's index scans find in the visibility map that every row is visible instead of
    visiting the table for each one (measured: a 1,000-student page's database time ~9 →
    ~3.6 ms at 100,000 students). Autovacuum would do it later, or never where it is off.

    ``VACUUM`` cannot run inside a transaction, so it takes an autocommit connection of the
    session's engine. It is an optimization: when a table stays locked (another transaction
    analyzing or altering it) it is given up after :data:`VACUUM_LOCK_WAIT`, with a warning.
    On SQLite ``VACUUM`` rewrites the whole file: only ``ANALYZE`` runs there, in the session."""
    if not is_postgresql(session):
        analyze(session, *tables)
        return
    with session.get_bind().engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql(f"SET lock_timeout = '{VACUUM_LOCK_WAIT}'")
        try:
            autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")
        except OperationalError as exc:
            log.warning("VACUUM of %s given up: %s", ", ".join(tables), exc.orig)
        finally:
            autocommit.exec_driver_sql("RESET lock_timeout")


VACUUM_LOCK_WAIT = "10s"
