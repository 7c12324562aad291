"""The whole-cloud lists' fast path (``rostering.routes``, ``rostering.pages``), on SQLite and
PostgreSQL.

A list page is served by a statement built once per shape and bound per request, and its
caller's actor, tenant and view are read in one round trip. It must answer exactly what the
declared path answers (a statement built for the request), page after page, for every kind of
reader, and refuse exactly whom that path refuses.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from interop_hub.clouds.models import Actor
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import make_sessionmaker, read_again_once, transaction, write_transaction
from interop_hub.kit.paging import PageRequest, decode_cursor
from interop_hub.kit.settings import Settings
from interop_hub.platform import service as platform
from interop_hub.platform.schemas import AccountCreate
from interop_hub.rostering import queries
from interop_hub.rostering import service as rostering
from interop_hub.runtime import Hub
from tests.conftest import TEST_SECRET, Database
from tests.factories import bearer, token
from tests.test_rostering_projections import plain
from tests.test_rostering_stored import LISTS, District, as_json, district, reader

__all__ = ["district", "plain"]  # the fixtures
READERS = ("connector", "whole", "names", "scoped", "plain")
STUDENTS = "/v2/interop/data/rostering/students"


def declared(session: Any, who: rostering.Reader, paging: PageRequest, kind: str, sub: Any) -> Any:
    """The page as the declared path builds it for the request."""
    stmt = rostering._visible(who, queries.objects(who.cloud_id, kind, sub), kind, sub)
    return rostering._page(session, who, stmt, paging, kind, sub)


def request(page: int, cursor: str | None) -> PageRequest:
    return PageRequest(
        page=page,
        page_size=2,
        cursor=None if cursor is None else decode_cursor(cursor),
        base_url="http://hub/list",
        query={},
    )


@pytest.mark.parametrize("name", READERS)
def test_fast_pages_equal_the_declared_pages(hub: Hub, plain: District, name: str) -> None:
    """Two at a time, by cursor to the end, and by page number."""
    with transaction(hub.sessions) as session:
        who = reader(session, plain, name)
        for kind, subtype in LISTS:
            cursor: str | None = None
            pages = 0
            while True:
                paging = request(0, cursor)
                fast = rostering.list_page(session, who, paging, kind, subtype)
                slow = declared(session, who, paging, kind, subtype)
                assert as_json(fast.items) == as_json(slow.items), (kind, subtype, pages)
                assert fast.next == slow.next
                pages += 1
                if fast.next is None:
                    break
                cursor = fast.next.rsplit("cursor=", 1)[1]
            numbered = request(1, None)
            fast = rostering.list_page(session, who, numbered, kind, subtype)
            slow = declared(session, who, numbered, kind, subtype)
            assert as_json(fast.items) == as_json(slow.items)
            assert fast.next == slow.next
        students = rostering.list_page(session, who, request(0, None), "person", "student")
    assert students.items  # every reader here sees students


def test_a_revoked_actors_token_is_refused(client: TestClient, hub: Hub, plain: District) -> None:
    tenant = plain.tenants["names"]
    headers = bearer(token(client, tenant.client_id, tenant.client_secret))
    assert client.get(STUDENTS, headers=headers).status_code == 200
    with write_transaction(hub.sessions) as session:
        session.execute(
            update(Actor).where(Actor.client_id == tenant.client_id).values(revoked_at=hub.now())
        )
    response = client.get(STUDENTS, headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_an_accounts_token_is_forbidden(client: TestClient, hub: Hub, plain: District) -> None:
    with write_transaction(hub.sessions) as session:
        account = platform.create_account(session, AccountCreate(name="V", type="developer"))
    key_id, secret = account.api_key.split(".", 1)
    response = client.get(STUDENTS, headers=bearer(token(client, key_id, secret)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "actor_required"


def test_the_access_log_names_the_actor(
    client: TestClient, plain: District, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = plain.tenants["names"]
    headers = bearer(token(client, tenant.client_id, tenant.client_secret))
    with caplog.at_level("INFO", logger="interop_hub.access"):
        assert client.get(STUDENTS, headers=headers).status_code == 200
    (record,) = [r for r in caplog.records if getattr(r, "path", None) == STUDENTS]
    assert str(getattr(record, "principal", "")).startswith("actor:")


def test_a_page_reads_without_begin_and_commit_on_postgresql(database: Database) -> None:
    """On PostgreSQL the pages' sessions run each statement on its own (READ COMMITTED reads a
    snapshot per statement anyway), on an engine of their own: the hub's other connections
    keep their transactions. On SQLite the pages read through the hub's sessions."""
    hub = hub_on(database)
    try:
        with hub.read_sessions() as session:
            autocommit = autocommits(session.connection())
            assert session.execute(select(1)).scalar() == 1
        assert autocommit is (database.backend == "postgresql")
        assert (hub.read_sessions is hub.sessions) is (database.backend == "sqlite")
        with hub.sessions() as session:
            assert not autocommits(session.connection())
    finally:
        dispose_reads(hub)


def test_a_read_whose_connection_the_server_closed_runs_again_once(database: Database) -> None:
    """The read engine pings no connection before use: one a restart of PostgreSQL broke fails
    its first statement, and the read runs again on a new connection. Any other failure, or a
    second broken connection, is the caller's."""
    if database.backend != "postgresql":
        pytest.skip("SQLite's pages read through the hub's sessions (nothing to break)")
    hub = hub_on(database)
    attempts: list[int] = []

    def backend_pid() -> int:
        with hub.read_sessions() as session:
            attempts.append(1)
            pid: int = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            return pid

    try:
        first = backend_pid()
        terminate(database, first)  # back in the pool, and gone on the server
        second = read_again_once(backend_pid)
        assert second != first
        assert len(attempts) == 3  # the broken connection's attempt, then the new one's

        def bad() -> None:
            attempts.append(1)
            with hub.read_sessions() as session:
                session.execute(text("SELECT * FROM no_such_table"))

        attempts.clear()
        with pytest.raises(DBAPIError) as failed:
            read_again_once(bad)
        assert not failed.value.connection_invalidated
        assert len(attempts) == 1

        def broken_each_time() -> None:
            attempts.append(1)
            with hub.read_sessions() as session:
                terminate(database, session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                session.execute(select(1))

        attempts.clear()
        with pytest.raises(DBAPIError) as broken:
            read_again_once(broken_each_time)
        assert broken.value.connection_invalidated
        assert len(attempts) == 2
    finally:
        dispose_reads(hub)


def hub_on(database: Database) -> Hub:
    """A hub whose sessions are the database's own engine's, as in production (its settings
    are not read here)."""
    settings = Settings(database_url="sqlite://", secret_key=TEST_SECRET)
    keyring = Keyring.from_secret(TEST_SECRET)
    return Hub(settings, keyring, database.engine, make_sessionmaker(database.engine))


def dispose_reads(hub: Hub) -> None:
    """Close the read engine's connections (the database's engine is shared by other tests)."""
    bind = hub.read_sessions.kw.get("bind")
    if hub.read_sessions is not hub.sessions and isinstance(bind, Engine):
        bind.dispose()


def terminate(database: Database, pid: int) -> None:
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        connection.commit()


def autocommits(connection: Connection) -> bool:
    """Whether the driver's connection runs each statement on its own (psycopg's flag; SQLite's
    driver has its own, which the hub leaves alone)."""
    return getattr(connection.connection.driver_connection, "autocommit", False) is True
