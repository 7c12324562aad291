"""Ingestions: their lifecycle and the collection run.

States: ``preparing`` (queued) → ``executing`` → ``success`` or ``failed``; a collection whose
updates and deletes exceed the configured share of the cloud's objects is held as
``scheduled`` with ``mass_change_pending`` until an operator approves it (it runs again and
applies) or rejects it (``cancelled``).

A run reads the bundle outside any transaction, then plans and applies the whole change — the
Repository rows, the change set, every tenant's tasks (:mod:`interop_hub.tasks.fanout`) and the
ingestion's outcome — in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Actor, Cloud
from interop_hub.ingest import planning, remembered
from interop_hub.ingest.apply import ChangeLog, CollectionPlan, apply_plan, nothing_of
from interop_hub.ingest.liveness import Heartbeat, this_runner
from interop_hub.ingest.loader import LoadJob
from interop_hub.ingest.loading import LoaderFailed, MembershipLoader
from interop_hub.ingest.models import Ingestion, IngestionError, RememberedLines
from interop_hub.ingest.oneroster import StartElsewhere, StartSplitters, read_bundle
from interop_hub.ingest.oneroster.bundle import Source
from interop_hub.ingest.oneroster.skipping import REMEMBERED_FILE_BYTES
from interop_hub.ingest.oneroster.splitter import SplitElsewhere, SplitJob
from interop_hub.ingest.records import Bundle, BundleError, Mode, WrittenElsewhere
from interop_hub.kit import metrics
from interop_hub.kit.db import (
    analyze,
    is_postgresql,
    libpq_url,
    one_of,
    transaction,
    write_transaction,
)
from interop_hub.kit.errors import BadRequest, Conflict, NotFound
from interop_hub.kit.gc import BulkHeap
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from interop_hub.scoping import service as scoping
from interop_hub.tasks.fanout import CollectionFanout, recipients

log = logging.getLogger("interop_hub.ingest")
Progress = Callable[[str], None]


def queue_ingestion(
    session: Session,
    cloud_id: uuid.UUID,
    source: str,
    *,
    now: dt.datetime,
    connector_id: uuid.UUID | None = None,
) -> Ingestion:
    """A new collection waiting for a worker (or for the caller to run it)."""
    if session.get(Cloud, cloud_id) is None:
        raise NotFound(f"Interop Cloud {cloud_id} was not found.")
    if not Path(source).exists():
        raise BadRequest(f"The source {source} does not exist.")
    ingestion = Ingestion(
        cloud_id=cloud_id,
        connector_id=connector_id,
        source=source,
        type="collection",
        state="preparing",
        created_at=now,
        details={},
    )
    session.add(ingestion)
    session.flush()
    return ingestion


def connector_source(session: Session, cloud_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """The cloud's connector and its source path (the first one, if there are several)."""
    connector = session.scalar(
        select(Actor)
        .where(Actor.cloud_id == cloud_id, Actor.type == "connector", Actor.revoked_at.is_(None))
        .order_by(Actor.id)
        .limit(1)
    )
    if connector is None or not connector.source:
        raise BadRequest(f"Interop Cloud {cloud_id} has no connector with a source to collect.")
    return connector.id, str(connector.source["path"])


def claim_next(session: Session, now: dt.datetime) -> uuid.UUID | None:
    """Claim the oldest queued ingestion for this worker, or None when there is none.

    The claim is a conditional update, so two workers racing for one row cannot both win
    (on PostgreSQL the candidate is also picked with SKIP LOCKED so they do not wait).
    """
    candidate = session.scalar(
        select(Ingestion.id)
        .where(Ingestion.state == "preparing")
        .order_by(Ingestion.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if candidate is None or not claim(session, candidate, now):
        return None
    return candidate


def claim(session: Session, ingestion_id: uuid.UUID, now: dt.datetime) -> bool:
    """Move a queued ingestion to ``executing``; False if someone else already did."""
    result = session.execute(
        update(Ingestion)
        .where(Ingestion.id == ingestion_id, Ingestion.state == "preparing")
        .values(state="executing", started_at=now, runner=this_runner(), heartbeat_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def run(hub: Hub, ingestion_id: uuid.UUID, progress: Progress | None = None) -> Ingestion:
    """Run a claimed (``executing``) ingestion to its end state and return it."""
    say = progress or (lambda _: None)
    with write_transaction(hub.sessions) as session:
        ingestion = _get(session, ingestion_id)
        if ingestion.state != "executing":
            raise Conflict(f"Ingestion {ingestion_id} is {ingestion.state}, not executing.")
        cloud_id, source, force = (
            ingestion.cloud_id,
            ingestion.source,
            ingestion.details.get("force", False),
        )
    started = time.perf_counter()
    with Heartbeat(hub.sessions, ingestion_id, hub.clock):
        done = _read_and_apply(hub, ingestion_id, cloud_id, source, bool(force), say)
    metrics.ingestion_finished(done.state, time.perf_counter() - started, done.rows_rejected or 0)
    return done


@dataclass(frozen=True)
class _Read:
    """A bundle as read, and which collection's remembered lines it skipped (None: none)."""

    bundle: Bundle
    source: str
    remembered_from: uuid.UUID | None


_LINES = RememberedLines.__tablename__


class _Loaders:
    """The memberships' loader a read may start (:mod:`interop_hub.ingest.loader`), stopped
    when the collection ends whatever the outcome (its tables are dropped unless taken in, and
    so are those of the objects and links loaded beside the collection's transaction)."""

    def __init__(
        self, hub: Hub, ingestion_id: uuid.UUID, cloud_id: uuid.UUID, *, enabled: bool = True
    ) -> None:
        self.hub, self.ingestion_id, self.cloud_id = hub, ingestion_id, cloud_id
        self.enabled = enabled
        self.started: list[MembershipLoader] = []

    def starter(self, source: str, stamp: dt.datetime) -> StartElsewhere:
        """What starts a loader for the bundle at ``source``, its rows stamped ``stamp``, if
        its enrollments.csv is bulk and large enough to be worth a process."""

        def start(found: Source, version: str, modes: dict[str, Mode]) -> MembershipLoader | None:
            if not self.enabled or not _large_bulk_enrollments(self.hub, found, modes):
                return None
            members = cast(Table, RepoMembership.__table__)
            table = partitions.loading_name(members.name, self.ingestion_id)
            lines = partitions.loading_name(_LINES, self.ingestion_id)
            builds, constraints = partitions.index_statements(members, table)
            job = LoadJob(
                database_url=libpq_url(self.hub.engine),
                path=source,
                max_bytes=self.hub.settings.max_bundle_bytes,
                version=version,
                modes=modes,
                cloud_id=self.cloud_id,
                table=table,
                stamp=stamp,
                create=partitions.loading_statement(members, table, self.cloud_id),
                builds=tuple(builds),
                constraints=tuple(constraints),
                lines_table=lines,
                lines_create=remembered.loading_statements(lines),
            )
            loader = MembershipLoader(job, self.hub.engine)
            self.started.append(loader)
            return loader

        return start

    def stop(self) -> None:
        """Stop the loaders; drop the tables they loaded (memberships, lines to remember) and
        those the collection loaded its first objects and links into beside its transaction
        (``apply._load_first_objects``), unless taken in (then they are gone by these names)."""
        for loader in self.started:
            loader.stop()
        if self.started:
            for table in (RepoObject.__tablename__, RepoLink.__tablename__, _LINES):
                name = partitions.loading_name(table, self.ingestion_id)
                partitions.drop_loading(self.hub.engine, name)
        self.started.clear()


def _read(
    hub: Hub, cloud_id: uuid.UUID, source: str, *, remembering: bool, loaders: _Loaders
) -> _Read:
    """Read the bundle at ``source``; ``remembering``: skip the lines the cloud's last
    collection accepted that still stand (:mod:`interop_hub.ingest.oneroster.lines`).

    Into a cloud without memberships or remembered lines, on PostgreSQL, the rows of
    enrollments.csv are read while their ``COPY`` runs (``defer_memberships``): the server
    stores the rows sent while the next are read and built, instead of idling while all are
    read first (100,000 students: 731,314 rows, ~2 s of reading; the collection ~2 s
    shorter). Not on SQLite, whose one writer would wait for the reading too. Into a cloud
    that has nothing at all and no tenant to tell, a large enrollments.csv is read and written
    by a loader process instead, while this one reads the rest (:mod:`.loader`)."""
    lines: remembered.Loading | None = None
    defer = False
    elsewhere: StartElsewhere | None = None
    if remembering:
        with transaction(hub.sessions) as session:
            stored = remembered.writer(session, cloud_id) is not None
            defer = (
                not stored
                and is_postgresql(session)
                and nothing_of(session, cloud_id, "membership")
            )
            if defer and _empty_and_unwatched(session, cloud_id):
                last = session.scalar(select(Cloud.last_collected_at).where(Cloud.id == cloud_id))
                elsewhere = loaders.starter(source, _after(hub.now(), last))
        if stored:  # loaded while the files are read
            lines = remembered.Loading(hub.sessions, cloud_id)
    bundle = read_bundle(
        Path(source),
        existing=remembered.ExistingIds(hub.sessions, cloud_id),
        existing_memberships=None,
        max_uncompressed_bytes=hub.settings.max_bundle_bytes,
        remembered=lines,
        referrers=remembered.RepositoryReferrers(hub.sessions, cloud_id),
        defer_memberships=defer,
        elsewhere=elsewhere,
        splitters=_splitters(hub, source) if lines is not None else None,
    )
    return _Read(bundle, source, lines.writer if lines is not None and bundle.skipped else None)


def _large_bulk_enrollments(hub: Hub, found: Source, modes: dict[str, Mode]) -> bool:
    """Whether the bundle's enrollments.csv is bulk and large enough to be worth a process of
    its own (``LOADER_MIN_ENROLLMENTS_BYTES``): a loader's, or a splitter's."""
    stored = found.find("enrollments.csv")
    if modes.get("enrollments") != "bulk" or stored is None:
        return False
    return found.size(stored) >= hub.settings.loader_min_enrollments_bytes


def _splitters(hub: Hub, source: str) -> StartSplitters:
    """What starts a process that splits a nightly's enrollments.csv into lines while this
    one reads the other files (:mod:`~interop_hub.ingest.oneroster.splitter`), if it is bulk
    and at least as large as a loader's (``LOADER_MIN_ENROLLMENTS_BYTES``)."""

    def start(found: Source, version: str, modes: dict[str, Mode]) -> dict[str, SplitElsewhere]:
        if not _large_bulk_enrollments(hub, found, modes):
            return {}
        job = SplitJob(
            path=source,
            max_bytes=hub.settings.max_bundle_bytes,
            file="enrollments.csv",
            limit=REMEMBERED_FILE_BYTES,
            version=version,
            modes=dict(modes),
        )
        try:
            return {"enrollments": SplitElsewhere(job)}
        except OSError as exc:  # no process: the file is split here
            log.warning("the splitter of enrollments.csv could not start (%s)", exc)
            return {}

    return start


def _empty_and_unwatched(session: Session, cloud_id: uuid.UUID) -> bool:
    """Whether the cloud has no objects, no memberships, no partition of them and no tenant
    receiving its changes: the case where a loader process may write the memberships (its
    table becomes the partition; nothing compares, renders or fans out their rows)."""
    members = cast(Table, RepoMembership.__table__)
    any_object = select(RepoObject.id).where(RepoObject.cloud_id == cloud_id).limit(1)
    return (
        nothing_of(session, cloud_id, "membership")
        and session.scalar(any_object) is None
        and not partitions.has_partition(session, members, cloud_id)
        and not recipients(session, cloud_id)
    )


def _read_and_apply(
    hub: Hub,
    ingestion_id: uuid.UUID,
    cloud_id: uuid.UUID,
    source: str,
    force: bool,
    say: Progress,
) -> Ingestion:
    """Read and apply, with a loader process if the collection is one for it; should the
    loader fail (not the bundle: the loader raises those as the collection would), the
    collection runs again without one."""
    loaders = _Loaders(hub, ingestion_id, cloud_id)
    try:
        return _read_and_apply_with(loaders, source, force, say)
    except LoaderFailed as exc:
        log.warning("ingestion %s: %s; collecting without a loader", ingestion_id, exc)
        loaders.stop()
        alone = _Loaders(hub, ingestion_id, cloud_id, enabled=False)
        return _read_and_apply_with(alone, source, force, say)
    finally:
        loaders.stop()  # its table is dropped unless attached


def _read_and_apply_with(loaders: _Loaders, source: str, force: bool, say: Progress) -> Ingestion:
    """One attempt of :func:`_read_and_apply`, for the ingestion and cloud of ``loaders``."""
    hub, ingestion_id, cloud_id = loaders.hub, loaders.ingestion_id, loaders.cloud_id
    # Reading and planning build millions of acyclic objects: the collector stays off until
    # the plan is made (a failure ends the pause as it leaves the block).
    with BulkHeap() as heap:
        try:
            say("reading")
            read = _read(hub, cloud_id, source, remembering=True, loaders=loaders)
        except BundleError as exc:
            return _finish_failed(hub, ingestion_id, str(exc))
        except LoaderFailed:
            raise
        except Exception as exc:  # an unreadable bundle must never leave an ingestion running
            log.exception("ingestion %s: reading failed", ingestion_id)
            return _finish_failed(hub, ingestion_id, f"the bundle could not be read: {exc}")
        say("applying")
        try:
            with write_transaction(hub.sessions) as session:
                return _apply(
                    session, hub, ingestion_id, cloud_id, read, heap, loaders, force=force, say=say
                )
        except BundleError as exc:  # from rows read while applying (deferred memberships)
            return _finish_failed(hub, ingestion_id, str(exc))
        except LoaderFailed:
            raise
        except Exception as exc:
            log.exception("ingestion %s: applying failed", ingestion_id)
            return _finish_failed(hub, ingestion_id, f"the collection could not be applied: {exc}")


def _apply(
    session: Session,
    hub: Hub,
    ingestion_id: uuid.UUID,
    cloud_id: uuid.UUID,
    read: _Read,
    heap: BulkHeap,
    loaders: _Loaders,
    *,
    force: bool,
    say: Progress,
) -> Ingestion:
    # One collection per cloud at a time: lock the cloud row (PostgreSQL; SQLite has one writer).
    last = session.execute(
        select(Cloud.last_collected_at).where(Cloud.id == cloud_id).with_for_update()
    ).scalar_one_or_none()
    now = _after(hub.now(), last)
    ingestion = _get(session, ingestion_id)
    members = read.bundle.memberships
    if (
        read.remembered_from is not None
        and remembered.writer(session, cloud_id) != read.remembered_from
    ) or (
        isinstance(members, WrittenElsewhere)
        and not ((last is None or members.stamp > last) and _empty_and_unwatched(session, cloud_id))
    ):
        # Another collection applied while this one read: what it skipped may have changed,
        # or the memberships written by a loader no longer fit (a tenant came, rows came).
        loaders.stop()
        say("reading")
        read = _read(hub, cloud_id, read.source, remembering=False, loaders=loaders)
        say("applying")
    bundle = read.bundle
    collection = planning.plan_collection(session, cloud_id, bundle)
    return _apply_planned(session, hub, ingestion, bundle, collection, now, force, say, heap)


def _after(now: dt.datetime, last: dt.datetime | None) -> dt.datetime:
    """The time a collection applies at: ``now``, or just after the cloud's last collection
    should the clock not have moved past it. The rows a collection writes carry that time, and
    a change set entry standing for every row of a kind finds them by it
    (:mod:`interop_hub.ingest.changes`), so no two collections of a cloud share one."""
    if last is not None and now <= last:
        return last + dt.timedelta(microseconds=1)
    return now


def _apply_planned(
    session: Session,
    hub: Hub,
    ingestion: Ingestion,
    bundle: Bundle,
    collection: CollectionPlan,
    now: dt.datetime,
    force: bool,
    say: Progress,
    heap: BulkHeap,
) -> Ingestion:
    cloud_id = ingestion.cloud_id
    # A first collection's memberships may still be unread (deferred, see _read): nothing
    # before apply_plan may need them all, the adds' count included.
    base = collection.existing_rows
    changes = collection.changes()
    share = changes / base if base else 0.0
    if (
        not force
        and base
        and share > hub.settings.mass_change_threshold
        and changes >= hub.settings.mass_change_min_changes
    ):
        _record_outcome(session, hub, ingestion, bundle, collection)
        ingestion.state = "scheduled"
        ingestion.mass_change_pending = True
        ingestion.message = (
            f"Held: this collection would update or delete {changes} of the cloud's {base} "
            f"objects ({share:.0%}, over the {hub.settings.mass_change_threshold:.0%} limit). "
            "An operator must approve or reject it."
        )
        session.flush()
        return ingestion
    say("rendering what tenants see")
    fanout = CollectionFanout.prepare(session, cloud_id, collection)
    _forget_referrers(session, collection)
    members = cast(Table, RepoMembership.__table__)
    new_partition = not partitions.has_partition(session, members, cloud_id)  # apply_plan makes it
    # Memberships a loader wrote, it analyzed; the objects and links of such a collection are
    # loaded and analyzed beside this transaction (apply_plan), and nothing after.
    loaded = isinstance(collection.memberships.adds, WrittenElsewhere)
    change_log = ChangeLog(ingestion.id, cloud_id)

    def remember() -> None:
        remembered.replace(session, cloud_id, ingestion.id, bundle.remember)

    # with a loader, the lines of the files read here are stored while it finishes (its own
    # are taken in once it is done); otherwise the memberships' may still be unread
    objects_analyzed = apply_plan(
        session, cloud_id, collection, change_log, now, say, remember if loaded else lambda: None
    )
    if loaded and not objects_analyzed:
        say("analyzing")
        refresh_statistics(session, cloud_id, memberships=False)
    added, updated, deleted = _record_outcome(session, hub, ingestion, bundle, collection)
    # The bundle and the plan stay alive to the end; a collector walking them again and again
    # would find nothing (measured: planning and applying a 20,000-student nightly took 2-3x
    # longer with it). A first collection's rows are built while they are written (its plan
    # builds them on demand), so the collector stays off until then; what comes after is
    # collected.
    heap.resume()
    _store_record_digests(session, collection, say)
    if not loaded:
        remember()
    remembered.take_in(session, cloud_id, ingestion.id, bundle.remembered_elsewhere)
    skipped = sum(lines.count for lines in bundle.skipped.values())
    if skipped:
        ingestion.details = {**ingestion.details, "lines_skipped": skipped}
    scopes = scoping.refresh_cloud(session, cloud_id)
    if fanout is not None:
        say("queuing tenants' tasks")
        queued = fanout.finish(session, now, scopes=scopes)
        ingestion.details = {**ingestion.details, "tasks_queued": queued}
    # A new partition has no statistics at all: the planner would take a lookup of a few ids
    # for the whole of it (and compare every row with each id), however few rows it holds.
    if not loaded and (
        new_partition or added + updated + deleted > max(ANALYZE_MIN_ROWS, base // 10)
    ):
        say("analyzing")
        refresh_statistics(session, cloud_id)
    ingestion.state = "success"
    ingestion.mass_change_pending = False
    ingestion.finished_at = now
    ingestion.message = None
    cloud = session.get(Cloud, cloud_id)
    if cloud is not None:
        cloud.last_collected_at = now
    session.flush()
    return ingestion


def _record_outcome(
    session: Session,
    hub: Hub,
    ingestion: Ingestion,
    bundle: Bundle,
    collection: CollectionPlan,
) -> tuple[int, int, int]:
    """Record the bundle's row errors and the ingestion's counts (reading what was deferred,
    if anything still is); returns (added, updated, deleted)."""
    bundle.read_all()
    _record_errors(session, hub, ingestion, bundle)
    added, updated, deleted = collection.counts()
    ingestion.rows_read = bundle.rows_read
    ingestion.rows_rejected = len(bundle.errors)
    ingestion.objects_added, ingestion.objects_updated = added, updated
    ingestion.objects_deleted = deleted
    return added, updated, deleted


ANALYZE_MIN_ROWS = 10_000
_DIGEST_BATCH = 10_000


def _forget_referrers(session: Session, collection: CollectionPlan) -> None:
    """Clear the digest of the rows that lose a reference to an object this collection deletes.

    Such a row stays (the source still sends it, but the reader rejected it for the missing
    reference, and a rejected row is kept) while deleting the object takes its links and its
    memberships' school. Its digest still says what it referred to, so once the object comes
    back a nightly would find the row unchanged and never restore the reference; an empty
    digest matches nothing, so the row is compared as changed and written again.
    """
    deleted = [i for p in collection.objects.values() for i in p.deletes]
    objects, links = cast(Table, RepoObject.__table__), cast(Table, RepoLink.__table__)
    members = cast(Table, RepoMembership.__table__)
    for start in range(0, len(deleted), 1000):
        batch = deleted[start : start + 1000]
        referrers = select(links.c.from_id).where(one_of(session, links.c.to_id, batch))
        session.execute(update(objects).where(objects.c.id.in_(referrers)).values(digest=""))
        session.execute(
            update(members).where(one_of(session, members.c.school_id, batch)).values(digest="")
        )


def _store_record_digests(session: Session, collection: CollectionPlan, say: Progress) -> None:
    """Replace the legacy digests of unchanged rows by their record digests.

    Nothing about those rows changed (their legacy digest matched), so this is no change: no
    change set entry, no ``updated_at``. It happens once per row after an upgrade (measured:
    8 s of server time for 174,000 rows, 20,000 students); from then on a nightly skips the
    row without building it.
    """
    tables: list[tuple[Any, list[tuple[uuid.UUID, str]]]] = [
        (
            RepoObject.__table__,
            [i for p in collection.objects.values() for i in p.unchanged_legacy],
        ),
        (RepoMembership.__table__, collection.memberships.unchanged_legacy),
    ]
    if not any(pairs for _, pairs in tables):
        return
    say("storing record digests")
    postgres = is_postgresql(session)
    for table, pairs in tables:
        for start in range(0, len(pairs), _DIGEST_BATCH):
            batch = pairs[start : start + _DIGEST_BATCH]
            if postgres:  # one statement per batch: arrays of ids and digests
                session.execute(
                    text(
                        f"UPDATE {table.name} AS t SET digest = v.digest FROM unnest("  # noqa: S608
                        "CAST(:ids AS uuid[]), CAST(:digests AS text[])) AS v(id, digest) "
                        "WHERE t.id = v.id"
                    ),
                    {"ids": [i for i, _ in batch], "digests": [d for _, d in batch]},
                )
            else:
                session.execute(
                    update(table).where(table.c.id == bindparam("b_id")),
                    [{"b_id": i, "digest": d} for i, d in batch],
                )


def refresh_statistics(session: Session, cloud_id: uuid.UUID, *, memberships: bool = True) -> None:
    """Refresh the planner's statistics of the Repository tables after a large change to the
    cloud's rows (of the cloud's partitions only: a table's would sample every cloud's; not of
    the memberships without ``memberships``)."""
    split: list[Any] = [RepoObject, RepoLink, *([RepoMembership] if memberships else [])]
    analyze(
        session, *(partitions.table_of(session, cast(Table, t.__table__), cloud_id) for t in split)
    )


def _record_errors(session: Session, hub: Hub, ingestion: Ingestion, bundle: Bundle) -> None:
    session.execute(
        IngestionError.__table__.delete().where(  # type: ignore[attr-defined]
            IngestionError.ingestion_id == ingestion.id
        )
    )
    rows: list[dict[str, Any]] = [
        {
            "ingestion_id": ingestion.id,
            "file": e.file,
            "line": e.line,
            "column": _storable(e.column) if e.column else None,
            "reason": _storable(e.reason)[:2000],
            "source_id": _storable(e.source_id)[:255] if e.source_id else None,
        }
        for e in bundle.errors[: hub.settings.max_row_errors]
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(IngestionError), rows[start : start + 5000])


def _storable(text: str) -> str:
    """``text`` as any database can hold it: the bytes of a rejected value that were not UTF-8
    (lone surrogates) and NUL bytes written as escapes (``\\udcff``, ``\\x00``)."""
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _finish_failed(hub: Hub, ingestion_id: uuid.UUID, message: str) -> Ingestion:
    with write_transaction(hub.sessions) as session:
        ingestion = _get(session, ingestion_id)
        ingestion.state = "failed"
        ingestion.message = message
        ingestion.finished_at = hub.now()
        session.flush()
        return ingestion


def _get(session: Session, ingestion_id: uuid.UUID) -> Ingestion:
    ingestion = session.get(Ingestion, ingestion_id)
    if ingestion is None:
        raise NotFound(f"Ingestion {ingestion_id} was not found.")
    return ingestion


def approve(session: Session, ingestion_id: uuid.UUID) -> Ingestion:
    """Release a held collection: it is queued again and applies whatever it changes."""
    ingestion = _held(session, ingestion_id)
    ingestion.state = "preparing"
    ingestion.details = {**ingestion.details, "force": True}
    session.flush()
    return ingestion


def reject(session: Session, ingestion_id: uuid.UUID, now: dt.datetime) -> Ingestion:
    ingestion = _held(session, ingestion_id)
    ingestion.state = "cancelled"
    ingestion.mass_change_pending = False
    ingestion.finished_at = now
    ingestion.message = "Rejected by an operator; nothing was applied."
    session.flush()
    return ingestion


def _held(session: Session, ingestion_id: uuid.UUID) -> Ingestion:
    ingestion = session.scalar(
        select(Ingestion).where(Ingestion.id == ingestion_id).with_for_update()
    )
    if ingestion is None:
        raise NotFound(f"Ingestion {ingestion_id} was not found.")
    if not ingestion.mass_change_pending or ingestion.state != "scheduled":
        raise Conflict(f"Ingestion {ingestion_id} is {ingestion.state}, not held for approval.")
    return ingestion
