"""Test harness: every test that takes ``db`` runs once on SQLite and once on PostgreSQL.

The schema is built by the migrations (never ``create_all``), once per backend per test
process; each test runs inside a transaction that is rolled back at the end, so the app's own
commits become savepoint releases and tests never see each other's rows.

PostgreSQL is the server at ``INTEROP_HUB_TEST_POSTGRES_URL`` (default: the local one, trust
auth). Each test process creates its own throw-away database there. When it cannot be reached
the PostgreSQL half is skipped locally, and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from interop_hub.app import create_app
from interop_hub.kit import migrate
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import create_db_engine, make_sessionmaker, normalize_url
from interop_hub.kit.settings import Settings
from interop_hub.runtime import Hub
from tests.clock import FakeClock

POSTGRES_ADMIN_URL = os.environ.get(
    "INTEROP_HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    name.strip()
    for name in os.environ.get("INTEROP_HUB_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if name.strip()
]
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true and is not usable: {reason}")
    pytest.skip(f"PostgreSQL not reachable: {reason}")


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine


class DatabaseFactory:
    """Creates migrated, throw-away databases and drops them at the end of the session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[Database] = []
        self._admin: Engine | None = None

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(
                normalize_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT"
            )
        return self._admin

    def create(self, backend: str) -> Database:
        if backend == "sqlite":
            url = f"sqlite:///{self.tmp / f'{uuid.uuid4().hex}.db'}"
        elif backend == "postgresql":
            name = f"interop_hub_test_{uuid.uuid4().hex[:12]}"
            try:
                with self._admin_engine().connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as exc:
                _postgres_unavailable(str(exc).splitlines()[0])
            url = (
                make_url(normalize_url(POSTGRES_ADMIN_URL))
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        else:
            raise ValueError(f"unknown backend {backend}")
        engine = create_db_engine(url)
        migrate.upgrade(engine)
        database = Database(backend, url, engine)
        self.created.append(database)
        return database

    def close(self) -> None:
        for database in self.created:
            database.engine.dispose()
            if database.backend == "postgresql":
                name = make_url(database.url).database
                with self._admin_engine().connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


_shared: dict[str, Database] = {}


@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest, databases: DatabaseFactory) -> Database:
    """The migrated database of one backend, shared by the tests of this process."""
    backend: str = request.param
    if backend not in _shared:
        _shared[backend] = databases.create(backend)
    return _shared[backend]


@dataclass
class TestDb:
    backend: str
    engine: Engine
    session: Session
    sessions: sessionmaker[Session]


@pytest.fixture
def db(database: Database) -> Iterator[TestDb]:
    """A connection in an outer transaction that is rolled back after the test."""
    connection = database.engine.connect()
    outer = connection.begin()
    sessions = sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
    session = sessions()
    try:
        yield TestDb(database.backend, database.engine, session, sessions)
    finally:
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hub(db: TestDb, clock: FakeClock, tmp_path: Path) -> Hub:
    settings = Settings(
        data_dir=tmp_path / "data", database_url="sqlite://", secret_key=TEST_SECRET
    )
    return Hub(
        settings=settings,
        keyring=Keyring.from_secret(TEST_SECRET),
        engine=db.engine,
        sessions=db.sessions,
        clock=clock,
    )


@pytest.fixture
def own_hub(database: Database, databases: DatabaseFactory, tmp_path: Path) -> Hub:
    """A hub on a fresh database of the backend, each session on a connection of its own (as
    in production: what it writes is committed, not rolled back), never holding a collection
    for an operator."""
    fresh = databases.create(database.backend)
    settings = Settings(
        database_url=fresh.url,
        secret_key=TEST_SECRET,
        data_dir=tmp_path / "data",
        mass_change_threshold=1.0,
    )
    return Hub(
        settings=settings,
        keyring=Keyring.from_secret(TEST_SECRET),
        engine=fresh.engine,
        sessions=make_sessionmaker(fresh.engine),
    )


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub), base_url="http://testserver") as test_client:
        yield test_client
