"""The example driver: it mirrors its tenants' rosters into a SQLite database of its own.

One table, ``objects``: every object a tenant sees (memberships included), by id, with its topic
and its JSON as the data events carry it. A full sync (origin ``initial``, ``resend`` or
``rollover``) is the whole state: at its ``SYNC_END`` whatever it did not send is deleted;
``TENANT_UNINSTALLED`` deletes everything of the tenant. Every handler is idempotent (an
``ADD`` is an upsert, a ``DELETE`` of something absent does nothing), as at-least-once delivery
requires. ``examples/roster_mirror.py`` runs it; ``interop-hub quickstart`` runs it in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from interop_hub.client import Context, Driver, is_full_sync
from interop_hub.client.models import DataEvent, LifecycleEvent, SyncEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    tenant_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    type      TEXT NOT NULL,
    data      TEXT NOT NULL,
    full_sync TEXT,            -- group_id of the last full sync that sent it
    PRIMARY KEY (tenant_id, id)
)
"""
UPSERT = """
INSERT INTO objects (tenant_id, id, type, data, full_sync) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant_id, id) DO UPDATE SET
    type = excluded.type,
    data = excluded.data,
    full_sync = coalesce(excluded.full_sync, objects.full_sync)
"""
MEMBERSHIP_SUFFIXES = ("Enrollment", "Membership")


class RosterMirror:
    """The mirror database, with a connection per thread (the runtime runs each tenant in a
    thread of its own; SQLite serializes their writes)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        with self.connect() as db:
            db.execute("PRAGMA journal_mode = WAL")  # a commit per task: keep them cheap
            db.execute(SCHEMA)

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed when the block ends without an exception."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA synchronous = NORMAL")  # durable enough: the hub can resend
        with db:
            yield db

    # --- the handlers ---------------------------------------------------------------------------

    def register(self, driver: Driver) -> Driver:
        driver.on_data(action="DELETE")(self.delete)
        driver.on_data()(self.upsert)  # ADD and UPDATE
        driver.on_sync("SYNC_END")(self.end_sync)
        driver.on_lifecycle("TENANT_UNINSTALLED")(self.uninstalled)
        return driver

    def upsert(self, event: DataEvent, ctx: Context) -> None:
        full_sync = event.group_id if is_full_sync(event) else None
        row = (str(ctx.tenant_id), event.object_id, event.object_type, _json(event.data), full_sync)
        with self.connect() as db:
            db.execute(UPSERT, row)

    def delete(self, event: DataEvent, ctx: Context) -> None:
        with self.connect() as db:
            db.execute(
                "DELETE FROM objects WHERE tenant_id = ? AND id = ?",
                (str(ctx.tenant_id), event.object_id),
            )

    def end_sync(self, event: SyncEvent, ctx: Context) -> None:
        """The end of a full sync: what it did not send is gone."""
        if not is_full_sync(event):
            return
        with self.connect() as db:
            db.execute(
                "DELETE FROM objects WHERE tenant_id = ? AND full_sync IS NOT ?",
                (str(ctx.tenant_id), event.group_id),
            )

    def uninstalled(self, event: LifecycleEvent, ctx: Context) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM objects WHERE tenant_id = ?", (str(ctx.tenant_id),))

    # --- reading --------------------------------------------------------------------------------

    def objects(self, tenant_id: uuid.UUID | str) -> dict[str, tuple[str, dict[str, Any]]]:
        """The tenant's objects: id → (topic, data)."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT id, type, data FROM objects WHERE tenant_id = ?", (str(tenant_id),)
            ).fetchall()
        return {object_id: (topic, json.loads(data)) for object_id, topic, data in rows}

    def counts(self, tenant_id: uuid.UUID | str) -> Counter[str]:
        """Objects by topic."""
        return Counter(topic for topic, _ in self.objects(tenant_id).values())


def is_membership(topic: str) -> bool:
    return topic.endswith(MEMBERSHIP_SUFFIXES)


def _json(data: dict[str, Any] | None) -> str:
    return json.dumps(data or {}, sort_keys=True)


# --- the command line -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roster_mirror.py", description="Mirror tenants' rosters into a SQLite database."
    )
    add = parser.add_argument
    add("--hub", required=True, help="the hub's URL, e.g. http://127.0.0.1:8080")
    add("--client-id", help="a tenant's client id (with --client-secret): that tenant")
    add("--client-secret", help="the tenant's client secret")
    add("--api-key", help="or a vendor's API key: every tenant of the vendor")
    add("--db", type=Path, default=Path("mirror.db"), help="the mirror database (mirror.db)")
    add("--once", action="store_true", help="stop when every queue is empty")
    add("--poll-interval", type=float, default=5.0, help="seconds between empty polls")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.api_key:
        driver = Driver(args.hub, api_key=args.api_key, poll_interval=args.poll_interval)
    elif args.client_id and args.client_secret:
        driver = Driver(
            args.hub,
            client_id=args.client_id,
            client_secret=args.client_secret,
            poll_interval=args.poll_interval,
        )
    else:
        parser().error("give --client-id and --client-secret, or --api-key")
    mirror = RosterMirror(args.db)
    mirror.register(driver)
    if args.once:
        driver.drain()
    else:
        driver.run()  # until Ctrl-C (SIGINT) or SIGTERM
    for tenant_id, stats in driver.stats.items():
        counts = ", ".join(f"{topic} {n}" for topic, n in sorted(mirror.counts(tenant_id).items()))
        acked = sum(stats.acknowledged.values())
        print(f"tenant {tenant_id}: {stats.delivered} tasks delivered, {acked} acknowledged")
        print(f"  {mirror.path}: {counts or 'empty'}")
    return 0
