"""Telling a running collection from one whose process died.

A collection applies in one transaction, so a process killed halfway leaves the Repository as it
was — but its Ingestion row still says ``executing``. The runner records ``host:pid`` and beats a
heartbeat; a worker on the same host checks whether that process is alive, and elsewhere trusts
the heartbeat's age. A dead run is marked ``failed`` and can simply be run again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from interop_hub.ingest.models import Ingestion

log = logging.getLogger("interop_hub.ingest")
HEARTBEAT_SECONDS = 15.0


def this_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(runner: str) -> bool | None:
    """True/False for a process on this host; None when the runner is on another host."""
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def is_dead(ingestion: Ingestion, now: dt.datetime, stale_seconds: int) -> bool:
    if ingestion.runner:
        alive = _alive_here(ingestion.runner)
        if alive is not None:
            return not alive
    beat = ingestion.heartbeat_at or ingestion.started_at
    return beat is None or (now - beat).total_seconds() > stale_seconds


def fail_dead_runs(session: Session, now: dt.datetime, stale_seconds: int) -> list[uuid.UUID]:
    """Mark ``executing`` ingestions whose process is gone as ``failed``; return their ids."""
    failed = []
    for ingestion in session.scalars(
        select(Ingestion).where(Ingestion.state == "executing").with_for_update(skip_locked=True)
    ):
        if not is_dead(ingestion, now, stale_seconds):
            continue
        ingestion.state = "failed"
        ingestion.finished_at = now
        ingestion.message = (
            f"The process running this collection ({ingestion.runner or 'unknown'}) stopped "
            "before it finished; nothing of it was applied. Run it again."
        )
        failed.append(ingestion.id)
        log.warning("ingestion %s: runner %s is gone", ingestion.id, ingestion.runner)
    session.flush()
    return failed


class Heartbeat:
    """Beats ``heartbeat_at`` from a background thread while a collection runs.

    Best effort: a beat that cannot be written (SQLite while the collection holds the write
    lock) is skipped — on one host the worker checks the process itself instead.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ingestion_id: uuid.UUID,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._sessions = sessions
        self._id = ingestion_id
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="ingest-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self._sessions() as session:
                    session.execute(
                        update(Ingestion)
                        .where(Ingestion.id == self._id, Ingestion.state == "executing")
                        .values(heartbeat_at=self._clock())
                    )
                    session.commit()
            except SQLAlchemyError:
                log.debug("ingestion %s: heartbeat skipped", self._id, exc_info=True)
