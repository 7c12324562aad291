"""``kit.db.vacuum_analyze`` runs beside an open transaction; ``kit.db.one_of`` finds what it
names; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest
from sqlalchemy import (
    Column,
    ColumnElement,
    MetaData,
    String,
    Table,
    Uuid,
    insert,
    select,
    text,
)

from interop_hub.kit import db
from interop_hub.kit.db import is_postgresql, one_of, vacuum_analyze, write_transaction
from interop_hub.runtime import Hub


def _last_vacuum(hub: Hub, table: str) -> dt.datetime | None:
    with hub.engine.connect() as connection:
        vacuumed: dt.datetime | None = connection.execute(
            text("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar_one()
    return vacuumed


def test_vacuum_analyze_runs_while_the_session_holds_a_transaction(hub: Hub) -> None:
    with write_transaction(hub.sessions) as session:
        session.execute(text("SELECT count(*) FROM repo_changes"))  # the transaction is open
        postgres = is_postgresql(session)
        before = _last_vacuum(hub, "repo_changes") if postgres else None
        vacuum_analyze(session, "repo_changes", "task_payloads")
        if postgres:
            after = _last_vacuum(hub, "repo_changes")
            assert after is not None
            assert before is None or after > before
        else:  # ANALYZE only, in the session: the statistics table now exists
            assert session.execute(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            ).scalar_one()


def test_a_vacuum_that_would_wait_on_a_lock_is_given_up(
    hub: Hub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's own transaction holds a lock VACUUM needs: it gives up, warns, and the
    session goes on (on SQLite only ANALYZE runs, in the session: nothing to wait for)."""
    monkeypatch.setattr(db, "VACUUM_LOCK_WAIT", "200ms")
    with write_transaction(hub.sessions) as session:
        if not is_postgresql(session):
            pytest.skip("SQLite runs no VACUUM")
        session.execute(text("LOCK TABLE task_payloads IN SHARE UPDATE EXCLUSIVE MODE"))
        with caplog.at_level(logging.WARNING, logger="interop_hub.kit.db"):
            vacuum_analyze(session, "task_payloads")
        assert "VACUUM of task_payloads given up" in caplog.text
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_one_of_finds_the_rows_of_a_list_of_uuids_or_strings(hub: Hub) -> None:
    """``one_of`` on both backends: UUIDs (on PostgreSQL sent as one text array), strings
    that need quoting in an array, an empty list."""
    table = Table(
        "test_one_of",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("name", String(40)),
    )
    ids = [uuid.uuid4() for _ in range(5)]
    names = ["plain", 'with "quotes"', "back\\slash", "comma, and {braces}", "NULL"]
    with write_transaction(hub.sessions) as session:
        table.create(session.connection())
        session.execute(
            insert(table), [{"id": i, "name": n} for i, n in zip(ids, names, strict=True)]
        )

        def found(condition: ColumnElement[bool]) -> set[str]:
            return set(session.scalars(select(table.c.name).where(condition)))

        assert found(one_of(session, table.c.id, [ids[1], ids[3], uuid.uuid4()])) == {
            names[1],
            names[3],
        }
        assert found(one_of(session, table.c.name, names[1:4])) == set(names[1:4])
        assert found(one_of(session, table.c.id, [])) == set()
        session.rollback()
