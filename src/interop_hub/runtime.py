"""The hub's runtime: settings, keys, database sessions and the clock, built once per process.

The HTTP app and the CLI both build a :class:`Hub`; tests build one on their own database and
may swap the clock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import create_db_engine, create_read_engine, make_sessionmaker, utcnow
from interop_hub.kit.settings import Settings, get_settings

Clock = Callable[[], dt.datetime]


@dataclass
class Hub:
    settings: Settings
    keyring: Keyring
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default=utcnow)
    _reads: sessionmaker[Session] | None = field(default=None, init=False, repr=False)
    _reads_made: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def now(self) -> dt.datetime:
        return self.clock()

    @property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions for reads of one statement at a time that need no transaction (the pages
        of the rostering lists). When ``sessions`` are bound to a PostgreSQL engine, they come
        from an engine of their own (:func:`~interop_hub.kit.db.create_read_engine`: every
        statement on its own), made on first use, so that only a process that serves such
        pages connects it; otherwise (SQLite, where a transaction is what makes statements
        read one snapshot, or sessions bound to one connection, as in tests) they are
        ``sessions``."""
        with self._reads_made:
            if self._reads is None:
                bind = self.sessions.kw.get("bind")
                if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
                    self._reads = make_sessionmaker(create_read_engine(bind))
                else:
                    self._reads = self.sessions
            return self._reads


def build_hub(settings: Settings | None = None) -> Hub:
    settings = settings or get_settings()
    keyring = Keyring.from_secret(settings.resolved_secret_key())
    engine = create_db_engine(settings.resolved_database_url, echo=settings.sql_echo)
    return Hub(
        settings=settings,
        keyring=keyring,
        engine=engine,
        sessions=make_sessionmaker(engine),
    )
