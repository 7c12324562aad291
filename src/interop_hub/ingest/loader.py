"""A cloud's first memberships read and written by a process of their own (PostgreSQL).

The enrollments of a large district are most of its rows (100,000 students: 731,314 of
971,002), and reading, checking, digesting and encoding each costs Python several
microseconds. In one process that work waits for the other files to be read first and then
runs on one core while the other idles. Into a cloud that has nothing yet, it need not wait:
a **loader** process, started as the collection starts reading, reads enrollments.csv on the
second core, streams its rows into a table of their own (``COPY``, on a connection of its own,
so the server stores them while both processes work), indexes it and commits it. The
collection's transaction then makes that table the cloud's partition of ``repo_memberships``
(:func:`~interop_hub.repository.partitions.attach_loading`): until then nobody reads it, and a
collection that fails or dies leaves a table that is dropped (by the collection, else by the
worker: :func:`~interop_hub.repository.partitions.drop_orphans`).

Whether a row's user, class and school exist is only known once the other process has read orgs,
classes and users. The loader checks and writes every row meanwhile as if they all existed (the
references made are those its rows' fields were made for); when the other process sends the ids that
do exist (:meth:`MembershipLoader.send_refs`) and one it wrote does not, it reads the file again
with those ids, exactly as the collection would have read it, and deletes the rows that read
rejects. Its row errors, rows read and remembered lines are the same as that read's.

The conversation, over a socket pair (:mod:`interop_hub.kit.channel`; the loader runs as
``python -m interop_hub.ingest.loader``): the collection sends the job, the loader says whether
the file's header is good (``header``), the collection sends the references (``refs``) or
``stop``, and the loader ends with ``done`` (a
:class:`~interop_hub.ingest.records.LoadedMemberships`), ``bundle`` (the file could not be
read to its end) or ``failed``. The end of the pair, once the collection's process is gone,
stops the loading too (it rolls back).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from interop_hub.ingest.copy_rows import (
    MEMBERSHIP_COLUMNS,
    ReferenceFields,
    first_membership_rows,
)
from interop_hub.ingest.normalize import Normalizer, membership_digest
from interop_hub.ingest.oneroster import people
from interop_hub.ingest.oneroster.bundle import open_source
from interop_hub.ingest.oneroster.validate import Reader
from interop_hub.ingest.records import (
    BundleError,
    Kind,
    LoadedMemberships,
    Mode,
    SourceMembership,
)
from interop_hub.kit import channel
from interop_hub.kit.bulk import chunks, copy_binary
from interop_hub.kit.channel import Channel
from interop_hub.kit.db import analyze, create_db_engine, one_of
from interop_hub.kit.gc import paused_gc
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoMembership

log = logging.getLogger("interop_hub.ingest")

REFERENCES: tuple[Kind, ...] = ("person", "section", "org")
"""What an enrollment refers to: its user, class and school."""


class LoaderFailed(Exception):
    """The loader process failed or ended without a result (not a problem of the bundle)."""


@dataclass(frozen=True)
class LoadJob:
    """What a loader process needs (it is sent there: plain values only)."""

    database_url: str
    path: str
    max_bytes: int
    version: str
    modes: dict[str, Mode]
    cloud_id: uuid.UUID
    table: str
    """The table to load (:func:`~interop_hub.repository.partitions.loading_name`)."""
    stamp: dt.datetime
    """The rows' ``created_at`` and ``updated_at``."""


class MembershipLoader:
    """The collection's side of one loader process (started at once)."""

    def __init__(self, job: LoadJob, engine: Engine) -> None:
        self.job = job
        self._engine = engine
        try:
            self._process, self._channel = channel.start(__name__)
        except OSError as exc:
            raise LoaderFailed(f"the memberships' loader could not start ({exc})") from exc
        self._send(job)
        self._header: str | None = None
        self._heard_header = False
        self._result: LoadedMemberships | None = None

    @property
    def table(self) -> str:
        return self.job.table

    @property
    def stamp(self) -> dt.datetime:
        return self.job.stamp

    def check_header(self) -> None:
        """Raise the :class:`BundleError` the loader found opening enrollments.csv, if any."""
        if not self._heard_header:
            kind, value = self._receive()
            if kind != "header":
                raise LoaderFailed(f"the memberships' loader said {kind!r} first: {value}")
            self._header, self._heard_header = value, True
        if self._header is not None:
            raise BundleError(self._header)

    def send_refs(self, resolvable: Mapping[Kind, AbstractSet[str]]) -> None:
        """The source ids a user, class and school reference resolves to."""
        self._send(("refs", {kind: frozenset(resolvable[kind]) for kind in REFERENCES}))

    def result(self) -> LoadedMemberships:
        """Wait for the loader's end: what it loaded (committed), or :class:`LoaderFailed`."""
        if self._result is None:
            self.check_header()
            kind, value = self._receive()
            if kind == "bundle":
                raise BundleError(value)
            if kind != "done":
                raise LoaderFailed(f"the memberships' loader failed: {value}")
            self._result = cast(LoadedMemberships, value)
            self._process.wait(timeout=10)
        return self._result

    def stop(self) -> None:
        """End the loader (if it still runs) and drop its table unless it was attached: the
        collection is over, applied or not. Safe to call more than once."""
        if self._process.poll() is None:
            with contextlib.suppress(LoaderFailed):
                self._send(("stop", None))
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._channel.close()
        partitions.drop_loading(self._engine, self.job.table)

    def _send(self, message: tuple[str, Any] | LoadJob) -> None:
        try:
            self._channel.send(message)
        except OSError as exc:
            raise LoaderFailed(f"the memberships' loader is gone ({exc})") from exc

    def _receive(self) -> tuple[str, Any]:
        try:
            return cast(tuple[str, Any], self._channel.recv())
        except (EOFError, OSError) as exc:
            code = self._process.wait(timeout=10)
            raise LoaderFailed(f"the memberships' loader ended (exit code {code})") from exc


# -- the loader process ----------------------------------------------------------------------


class _Stopped(Exception):
    """The collection said stop, or its process is gone: the loading is rolled back."""


def run_loader(conn: Channel) -> None:
    """The loader process: see the module docstring."""
    try:
        _load(cast(LoadJob, conn.recv()), conn)
    except (_Stopped, EOFError):  # told to stop, or the collection's process is gone
        pass
    except BaseException as exc:
        log.exception("the memberships' loader failed")
        with contextlib.suppress(OSError):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class _Reading(Reader):
    """A read of enrollments.csv alone; references resolve to ``resolvable`` (None: every
    reference resolves)."""

    def __init__(self, job: LoadJob, resolvable: Mapping[Kind, AbstractSet[str]] | None) -> None:
        self.job = job
        self.resolving = resolvable

    def read(self) -> Iterator[SourceMembership]:
        with open_source(Path(self.job.path), self.job.max_bytes) as source:
            super().__init__(source, self.job.version, self.job.modes, {}, None)
            self.checks_references = self.resolving is not None
            opened = self.open("enrollments")
            if opened is None:
                raise BundleError("enrollments.csv is not read: its manifest says absent")
            yield from people.enrollments(self, opened)
        self._finish()

    def exists(self, kind: Kind, sid: str) -> bool:
        return self.resolving is None or sid in self.resolving[kind]


def _load(job: LoadJob, conn: Channel) -> None:
    normalizer = Normalizer(job.cloud_id)
    first = _Reading(job, None)
    records = first.read()
    with paused_gc():
        try:
            head = next(records, None)
        except BundleError as exc:
            conn.send(("header", str(exc)))
            return
        conn.send(("header", None))
        engine = create_db_engine(job.database_url)
        try:
            with Session(engine) as session, session.begin():
                final, count = _write(session, job, normalizer, first, head, records, conn)
        except BundleError as exc:  # the file could not be read to its end
            conn.send(("bundle", str(exc)))
            return
        finally:
            engine.dispose()
    bundle = final.bundle
    remember = bundle.remember.get("enrollments")
    conn.send(("done", LoadedMemberships(count, bundle.rows_read, bundle.errors, remember)))


def _write(
    session: Session,
    job: LoadJob,
    normalizer: Normalizer,
    first: _Reading,
    head: SourceMembership | None,
    records: Iterator[SourceMembership],
    conn: Channel,
) -> tuple[_Reading, int]:
    """Load the rows of the first read, then keep those whose references resolve (reading
    again if one does not), then index them; the read that holds the outcome and the rows
    kept."""
    members = cast(Table, RepoMembership.__table__)
    table = partitions.create_loading(session, members, job.table, job.cloud_id)
    mailbox = _Mailbox(conn)
    written = _Digested(head, records, mailbox)
    fields = ReferenceFields()
    encoded = first_membership_rows(normalizer, written, job.stamp, fields)
    copy_binary(session, table, MEMBERSHIP_COLUMNS, encoded)
    refs = mailbox.refs()
    mailbox.check()
    partitions.build_indexes(session, members, job.table)
    referred = {"person": fields.persons, "section": fields.sections, "org": fields.schools}
    unknown = {k: set(referred[k]).difference(refs[k], ("",)) for k in REFERENCES}
    final, count = first, written.count
    if any(unknown.values()):
        final, count = _keep_resolved(session, job, normalizer, table, refs, unknown, count)
    # the collection need not: the statistics stay the table's as it becomes the partition
    analyze(session, job.table)
    return final, count


def _keep_resolved(
    session: Session,
    job: LoadJob,
    normalizer: Normalizer,
    table: Table,
    refs: Mapping[Kind, AbstractSet[str]],
    unknown: Mapping[Kind, set[str]],
    written: int,
) -> tuple[_Reading, int]:
    """Read the file again with the references that resolve, and delete the rows written that
    make one that does not; that read, and how many rows stay."""
    final = _Reading(job, refs)
    count = sum(1 for _ in final.read())
    columns = {"person": table.c.person_id, "section": table.c.section_id, "org": table.c.school_id}
    deleted = 0
    for k, sids in unknown.items():
        for batch in chunks([normalizer.ids.get(k, s) for s in sids]):
            result = session.execute(delete(table).where(one_of(session, columns[k], batch)))
            deleted += result.rowcount  # type: ignore[attr-defined]
    if written - deleted != count:  # the second read rejects these rows, no other
        raise RuntimeError(f"{written} rows written, {deleted} deleted, {count} accepted")
    return final, count


class _Mailbox:
    """The loader's end of the channel: the references once they come, and whether to stop
    (the collection said so, or its process is gone: the channel's end)."""

    def __init__(self, conn: Channel) -> None:
        self.conn = conn
        self._refs: dict[Kind, frozenset[str]] | None = None

    def check(self) -> None:
        """Raise :class:`_Stopped` if the loading is to stop; take in what has come."""
        while self.conn.poll():
            self._take()

    def refs(self) -> dict[Kind, frozenset[str]]:
        """The references (waiting for them)."""
        while self._refs is None:
            self._take()
        return self._refs

    def _take(self) -> None:
        try:
            kind, value = self.conn.recv()
        except EOFError:  # the collection's process is gone
            raise _Stopped from None
        if kind != "refs":
            raise _Stopped
        self._refs = value


class _Digested:
    """The records of the first read with their digests, counted; the mailbox is checked
    every :attr:`CHECK_EVERY` records (a collection that stopped or died stops the loading,
    which rolls back)."""

    CHECK_EVERY = 20_000

    def __init__(
        self, head: SourceMembership | None, rest: Iterator[SourceMembership], mailbox: _Mailbox
    ) -> None:
        self.head, self.rest, self.mailbox, self.count = head, rest, mailbox, 0

    def __iter__(self) -> Iterator[tuple[SourceMembership, str]]:
        if self.head is None:
            return
        yield self.head, membership_digest(self.head)
        count, check = 1, self.CHECK_EVERY
        for record in self.rest:
            count += 1
            if count == check:
                check += self.CHECK_EVERY
                self.mailbox.check()
            yield record, membership_digest(record)
        self.count = count


if __name__ == "__main__":  # started by MembershipLoader (kit.channel.start)
    # by the module's own name: the job's and the outcome's classes are pickled by it
    from interop_hub.ingest import loader

    loader.run_loader(channel.child_channel(sys.argv))
