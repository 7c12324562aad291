"""``kit.db.vacuum_analyze``: runs beside an open transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import text

from interop_hub.kit import db
from interop_hub.kit.db import is_postgresql, vacuum_analyze, write_transaction
from interop_hub.runtime import Hub


def _last_vacuum(hub: Hub, table: str) -> dt.datetime | None:
    with hub.engine.connect() as connection:
        return connection.execute(
            text("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar_one()


def test_vacuum_analyze_runs_while_the_session_holds_a_transaction(hub: Hub) -> None:
    with write_transaction(hub.sessions) as session:
        session.execute(text("SELECT count(*) FROM repo_objects"))  # the transaction is open
        postgres = is_postgresql(session)
        before = _last_vacuum(hub, "repo_objects") if postgres else None
        vacuum_analyze(session, "repo_objects", "task_payloads")
        if postgres:
            after = _last_vacuum(hub, "repo_objects")
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
