"""``interop-hub worker``: prunes the task history, starts and completes due rollovers, queues
the due schedule ticks, then runs queued ingestions.

Safe to run as several replicas: each job is claimed with a conditional update before it runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import cast

from sqlalchemy import Table

from interop_hub.ingest import service as ingest
from interop_hub.ingest.liveness import fail_dead_runs
from interop_hub.ingest.models import RememberedLines
from interop_hub.kit.db import write_transaction
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.rollovers.service import run_due_rollovers
from interop_hub.runtime import Hub
from interop_hub.schedules.service import run_due_schedules
from interop_hub.tasks import payloads, renderings
from interop_hub.tasks.service import prune_history

log = logging.getLogger("interop_hub.worker")


def run_pending(hub: Hub) -> int:
    """Fail the runs whose process died, drop the task history older than ``TASK_HISTORY_DAYS``, the
    task payloads nothing needs, the memberships partitions of deleted clouds and the memberships
    loaded for collections that ended without them, start and complete the due rollovers (before any
    collection of this run, which then sees the tenants' rollover mode as it is now), queue the
    collections of due schedules, then run queued ingestions until none is left, storing after each
    the renderings it left to store (:mod:`interop_hub.tasks.renderings`); return how many ran."""
    with write_transaction(hub.sessions) as session:
        fail_dead_runs(session, hub.now(), hub.settings.ingestion_stale_seconds)
    # Its own short transaction: a large delete must not hold the locks of the steps around it.
    with write_transaction(hub.sessions) as session:
        pruned = prune_history(session, hub.settings, hub.now())
    if pruned:
        log.info("pruned %d task acknowledgement(s) from the history", pruned)
    with write_transaction(hub.sessions) as session:
        dropped = payloads.prune(session)
    if dropped:
        log.info("dropped %d task payload(s) nothing refers to", dropped)
    for table in (RepoMembership, RepoObject, RepoLink, RememberedLines):
        for name in partitions.drop_orphans(hub.engine, cast(Table, table.__table__)):
            log.info(
                "dropped %s (a deleted cloud's partition, or an ended collection's loading)", name
            )
    moved = run_due_rollovers(hub)
    if moved:
        log.info("%d rollover(s) changed status", moved)
    scheduled = run_due_schedules(hub)
    if scheduled:
        log.info("queued %d scheduled collection(s)", scheduled)
    ran = 0
    while True:
        with write_transaction(hub.sessions) as session:
            claimed = ingest.claim_next(session, hub.now())
        if claimed is None:
            return ran
        result = ingest.run(hub, claimed)
        log.info("ingestion %s: %s", claimed, result.state)
        if result.state != "failed":  # a failed one changed nothing
            renderings.refresh_quietly(hub, result.cloud_id)
        ran += 1


def serve_forever(hub: Hub, poll_seconds: float = 5.0) -> None:
    """Poll for work until SIGINT or SIGTERM; a running job is finished before exiting."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current job", signum)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    renderings.refresh_all(hub)  # what a pass cut short (a crash, a stop) left without one
    while not stop.is_set():
        try:
            run_pending(hub)
        except Exception:  # a broken job must not stop the worker
            log.exception("worker iteration failed")
        stop.wait(poll_seconds)
