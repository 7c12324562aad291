"""A cloud's first memberships read and written by a process of their own (PostgreSQL).

The enrollments of a large district are most of its rows (100,000 students: 731,314 of
971,002), and reading, checking, digesting and encoding each costs Python several
microseconds. In one process that work waits for the other files to be read first and then
runs on one core while the other idles. Into a cloud that has nothing yet, it need not wait:
a **loader** process, started as the collection starts reading, reads enrollments.csv on the
second core, streams its rows into a table of their own (``COPY``, on a connection of its own,
so the server stores them while both processes work) and commits them, then indexes the table
on two connections at once. The collection's transaction then makes that table the cloud's
partition of ``repo_memberships``
(:func:`~interop_hub.repository.partitions.attach_loading`): until then nobody reads it, and a
collection that fails or dies leaves a table that is dropped (by the collection, else by the
worker: :func:`~interop_hub.repository.partitions.drop_orphans`).

A file whose every row is good as written is read a column at a time
(:mod:`interop_hub.ingest.columnar`), any other row by row, as the collection would read it.

Whether a row's user, class and school exist is only known once the other process has read orgs,
classes and users. The loader checks and writes every row meanwhile as if they all existed (the
references made are those its rows' fields were made for); when the other process sends the ids
that do exist (:meth:`~.loading.MembershipLoader.send_refs`) and one it wrote does not, it reads
the file again with those ids, exactly as the collection would have read it, and deletes the
rows that read rejects. Its row errors, rows read and remembered lines are the same as that read's.

The conversation, over a socket pair (:mod:`interop_hub.kit.channel`; the loader runs as
``python -m interop_hub.ingest.loader``): the collection sends the job, the loader says whether
the file's header is good (``header``), the collection sends the references (``refs``) or
``stop``, and the loader ends with ``done`` (a
:class:`~interop_hub.ingest.records.LoadedMemberships`), ``bundle`` (the file could not be
read to its end) or ``failed``. The end of the pair, once the collection's process is gone,
stops the loading too (a ``COPY`` under way rolls back; a table already committed is dropped
as above). The collection's side is :mod:`interop_hub.ingest.loading`; this process imports no
SQLAlchemy (its statements come with the job).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from psycopg import sql

from interop_hub.ingest.copy_rows import (
    MEMBERSHIP_COLUMNS,
    ReferenceFields,
    membership_encoder,
)
from interop_hub.ingest.normalize import Normalizer, membership_values_digest
from interop_hub.ingest.oneroster import people
from interop_hub.ingest.oneroster.bundle import Source, open_source
from interop_hub.ingest.oneroster.validate import Reader
from interop_hub.ingest.records import (
    BundleError,
    Kind,
    LoadedMemberships,
    Mode,
)
from interop_hub.kit import channel
from interop_hub.kit.channel import Channel
from interop_hub.kit.gc import paused_gc
from interop_hub.kit.pgbuild import two_at_a_time
from interop_hub.kit.pgcopy import batched, copy_statement, write_pieces

log = logging.getLogger("interop_hub.ingest")
T = TypeVar("T")

REFERENCES: tuple[Kind, ...] = ("person", "section", "org")
"""What an enrollment refers to: its user, class and school."""


@dataclass(frozen=True)
class LoadJob:
    """What a loader process needs (it is sent there: plain values only). The statements are
    made by the collection (:mod:`interop_hub.repository.partitions`), so that this process
    needs no SQLAlchemy (:mod:`interop_hub.kit.pgcopy`)."""

    database_url: str
    """A libpq URL (:func:`~interop_hub.kit.db.libpq_url`)."""
    path: str
    max_bytes: int
    version: str
    modes: dict[str, Mode]
    cloud_id: uuid.UUID
    table: str
    """The table to load (:func:`~interop_hub.repository.partitions.loading_name`)."""
    stamp: dt.datetime
    """The rows' ``created_at`` and ``updated_at``."""
    create: str
    """The statement that creates :attr:`table`
    (:func:`~interop_hub.repository.partitions.loading_statement`)."""
    builds: tuple[str, ...]
    """The statements that index it, run two at a time
    (:func:`~interop_hub.repository.partitions.index_statements`)."""
    constraints: tuple[str, ...]
    """Then those that make the primary key and the unique constraints of its unique indexes."""
    lines_table: str
    """Where the file's lines to remember go (:attr:`.records.Bundle.remembered_elsewhere`)."""
    lines_create: tuple[str, ...]
    """The statements that create :attr:`lines_table`
    (:func:`~interop_hub.ingest.remembered.loading_statements`)."""


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

    def read(
        self, make: Callable[[str, str, str, str | None, str, dict[str, Any]], T]
    ) -> Iterator[T]:
        """``make(...)`` of each membership read (:func:`~.people.read_enrollments`)."""
        with open_source(Path(self.job.path), self.job.max_bytes) as source:
            yield from people.read_enrollments(self, self._open(source), make)
        self._finish()

    def pieces(
        self, normalizer: Normalizer, fields: ReferenceFields
    ) -> Iterator[tuple[bytes | memoryview, int]]:
        """The ``COPY`` rows of the memberships read, in pieces (rows joined, how many): a
        column at a time if the file allows it (:mod:`interop_hub.ingest.columnar`), else
        row by row."""
        # here, not at the top: the collection's process imports this module too, for LoadJob,
        # and need not import pyarrow (~40 MB, 0.2 s)
        from interop_hub.ingest import columnar

        with open_source(Path(self.job.path), self.job.max_bytes) as source:
            opened = self._open(source)
            stamp = self.job.stamp
            found: Iterator[tuple[bytes | memoryview, int]] | None
            found = columnar.first_memberships(self, opened, normalizer, stamp, fields)
            if found is None:
                row = _row_maker(normalizer, stamp, fields)
                found = batched(people.read_enrollments(self, opened, row))
            yield from found
        self._finish()

    def _open(self, source: Source) -> people.Opened:
        super().__init__(source, self.job.version, self.job.modes, {}, None)
        self.checks_references = self.resolving is not None
        opened = self.open("enrollments")
        if opened is None:
            raise BundleError("enrollments.csv is not read: its manifest says absent")
        return opened

    def exists(self, kind: Kind, sid: str) -> bool:
        return self.resolving is None or sid in self.resolving[kind]


def _row_maker(
    normalizer: Normalizer, stamp: dt.datetime, fields: ReferenceFields
) -> Callable[[str, str, str, str | None, str, dict[str, Any]], bytes]:
    """What makes a membership's ``COPY`` row of the values
    :func:`~.people.read_enrollments` reads (its digest made here)."""
    encode = membership_encoder(normalizer, stamp, fields)
    digest = membership_values_digest

    def row(
        sid: str, person: str, section: str, school: str | None, role: str, data: dict[str, Any]
    ) -> bytes:
        return encode(
            sid, person, section, school, role, data, digest(person, section, school, role, data)
        )

    return row


def _load(job: LoadJob, conn: Channel) -> None:
    normalizer = Normalizer(job.cloud_id)
    fields = ReferenceFields()
    first = _Reading(job, None)
    rows = first.pieces(normalizer, fields)
    with paused_gc():
        try:
            head = next(rows, None)
        except BundleError as exc:
            conn.send(("header", str(exc)))
            return
        conn.send(("header", None))
        if head is not None:
            rows = itertools.chain((head,), rows)
        try:
            with psycopg.connect(job.database_url, autocommit=True) as db:
                final, count, stored = _write(db, job, normalizer, first, rows, fields, conn)
        except BundleError as exc:  # the file could not be read to its end
            conn.send(("bundle", str(exc)))
            return
    bundle = final.bundle
    lines = job.lines_table if stored else None
    conn.send(("done", LoadedMemberships(count, bundle.rows_read, bundle.errors, lines)))


def _store_lines(db: psycopg.Connection, job: LoadJob, reading: _Reading) -> bool:
    """Store the lines to remember of ``reading`` (if it remembers any) in a table of their
    own, committed; whether it did. The collection copies them into ``ingest_remembered_lines``
    in its transaction. Sent to it instead, ~35 MB for 731,314 lines were pickled here,
    unpickled there and sent to the server again by that process once this one was done
    (~0.3 s at the end of the collection)."""
    lines = reading.bundle.remember.get("enrollments")
    if lines is None:
        return False
    with db.transaction():
        for statement in job.lines_create:
            db.execute(statement)
        db.execute(
            sql.SQL("INSERT INTO {} (context, keys, source_ids) VALUES (%s, %b, %s)").format(
                sql.Identifier(job.lines_table)
            ),
            # a line-safe file's ids hold no line break (it would need quotes across lines)
            (lines.context, lines.keys, "\n".join(lines.source_ids)),
        )
    return True


def _store_lines_apart(job: LoadJob, reading: _Reading) -> bool:
    """:func:`_store_lines` on a connection of its own."""
    with psycopg.connect(job.database_url, autocommit=True) as db:
        return _store_lines(db, job, reading)


def _write(
    db: psycopg.Connection,
    job: LoadJob,
    normalizer: Normalizer,
    first: _Reading,
    rows: Iterator[tuple[bytes | memoryview, int]],
    fields: ReferenceFields,
    conn: Channel,
) -> tuple[_Reading, int, bool]:
    """Load the rows of the first read, then index them and keep those whose references
    resolve (reading again if one does not), and store the lines to remember
    (:func:`_store_lines`); the read that holds the outcome, the rows kept, and whether lines
    were stored. The lines are stored while the indexes are built, unless the file is read
    again (they are that read's)."""
    mailbox = _Mailbox(conn)
    statement = copy_statement(job.table, MEMBERSHIP_COLUMNS, binary=True)
    # committed with its rows (or not at all, should the loading stop), so that another
    # connection can index it too; until it is attached nobody else reads it
    with db.transaction():
        db.execute(job.create)
        with db.cursor() as cursor, cursor.copy(statement) as copy:
            written = write_pieces(copy, rows, mailbox.sent)
    refs = mailbox.refs()
    mailbox.check()
    referred = {"person": fields.persons, "section": fields.sections, "org": fields.schools}
    unknown = {k: set(referred[k]).difference(refs[k], ("",)) for k in REFERENCES}
    final, count = first, written
    if any(unknown.values()):
        _index(db, job)
        final, count = _keep_resolved(db, job, normalizer, refs, unknown, count)
        stored = _store_lines(db, job, final)
    else:
        with ThreadPoolExecutor(1) as pool:
            storing = pool.submit(_store_lines_apart, job, first)
            _index(db, job)
            stored = storing.result()
    # the collection need not: the statistics stay the table's as it becomes the partition
    db.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(job.table)))
    return final, count, stored


def _index(db: psycopg.Connection, job: LoadJob) -> None:
    """Build the indexes two at a time, then the constraints that take them."""
    two_at_a_time(db, job.database_url, job.builds)
    for constraint in job.constraints:
        db.execute(constraint)


_REFERRING = {"person": "person_id", "section": "section_id", "org": "school_id"}
"""The column of each reference in the memberships' table."""


def _keep_resolved(
    db: psycopg.Connection,
    job: LoadJob,
    normalizer: Normalizer,
    refs: Mapping[Kind, AbstractSet[str]],
    unknown: Mapping[Kind, set[str]],
    written: int,
) -> tuple[_Reading, int]:
    """Read the file again with the references that resolve, and delete the rows written that
    make one that does not; that read, and how many rows stay."""
    final = _Reading(job, refs)
    count = sum(1 for _ in final.read(_nothing))
    deleted = 0
    for k, sids in unknown.items():
        if not sids:
            continue
        statement = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
            sql.Identifier(job.table), sql.Identifier(_REFERRING[k])
        )
        deleted += db.execute(statement, ([normalizer.ids.get(k, s) for s in sids],)).rowcount
    if written - deleted != count:  # the second read rejects these rows, no other
        raise RuntimeError(f"{written} rows written, {deleted} deleted, {count} accepted")
    return final, count


class _Mailbox:
    """The loader's end of the channel: the references once they come, and whether to stop
    (the collection said so, or its process is gone: the channel's end)."""

    CHECK_EVERY = 20_000
    """Rows sent between two checks (:meth:`sent`)."""

    def __init__(self, conn: Channel) -> None:
        self.conn = conn
        self._refs: dict[Kind, frozenset[str]] | None = None
        self._check_at = self.CHECK_EVERY

    def sent(self, count: int) -> None:
        """``count`` rows are sent: :meth:`check` every :attr:`CHECK_EVERY` (a collection that
        stopped or died stops the loading, which rolls back)."""
        if count >= self._check_at:
            self._check_at = count + self.CHECK_EVERY
            self.check()

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


def _nothing(*values: object) -> None:
    """A read's ``make`` when only its outcome counts (not its rows)."""


if __name__ == "__main__":  # started by MembershipLoader (kit.channel.start)
    # by the module's own name: the job's and the outcome's classes are pickled by it
    from interop_hub.ingest import loader

    loader.run_loader(channel.child_channel(sys.argv))
