"""The hub's runtime: settings, keys, database sessions and the clock, built once per process.

The HTTP app and the CLI both build a :class:`Hub`; tests build one on their own database and
may swap the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import create_db_engine, make_sessionmaker, utcnow
from interop_hub.kit.settings import Settings, get_settings

Clock = Callable[[], dt.datetime]


@dataclass
class Hub:
    settings: Settings
    keyring: Keyring
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default=utcnow)

    def now(self) -> dt.datetime:
        return self.clock()


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
