"""Where a cloud's first collection's writes cost: Python's stages, then the server's alone.

Why: a first collection writes its objects, their links and its memberships (139,671, 221,084
and 731,314 rows at 100,000 students) each in one ``COPY`` while Python builds and encodes the
rows (the memberships' records are even read from enrollments.csv inside theirs,
``ingest.service``), so each write takes whichever half is slower. This script times each half on
its own, on the same bundle as :mod:`bench.bench_collection`, to say which binds and what a
change to either would buy (BENCHMARKS, session 11):

1. **Python**, no database: the bundle read with its memberships deferred; then the objects'
   digests and rows, their encoding, their links' encoding; then reading enrollments.csv into
   records, their digests, and encoding them straight from the records (what a first
   collection does, ``copy_rows.first_membership_rows``) — and, to compare, building a
   ``MembershipRow`` per record and encoding those (``copy_rows.membership_rows``). Both
   encodings of the memberships must give the same bytes; the script checks.
2. **The server alone**, in a freshly migrated database, the rows encoded beforehand, for each
   table: their ``COPY`` into it as migrated (its indexes kept up to date row by row), then into
   a copy of the table without indexes, followed by building the same indexes (what a table of
   a cloud's own, loaded before it is indexed, would cost).

Run: ``python -m bench.bench_first_writes --students 100000 --seed 1 --workdir /tmp/interop-bench``
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from bench.bench_collection import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_WORKDIR,
    conninfo,
    create_database,
    drop_database,
    make_partitions,
    new_database_name,
    prepare_bundles,
    prepare_database,
    sqlalchemy_url,
)
from interop_hub.ingest.copy_rows import (
    LINK_COLUMNS,
    MEMBERSHIP_COLUMNS,
    OBJECT_COLUMNS,
    first_membership_rows,
    link_rows,
    membership_rows,
    object_rows,
)
from interop_hub.ingest.normalize import Normalizer, membership_digest, object_digest
from interop_hub.ingest.oneroster import read_bundle
from interop_hub.kit.bulk import chunks
from interop_hub.kit.pgcopy import BINARY_HEADER, BINARY_TRAILER, LINES


@dataclass
class Encoded:
    """One table's rows, encoded for ``COPY`` in batches (without its header and trailer)."""

    table: str
    columns: tuple[str, ...]
    rows: int
    payload: list[bytes]


@dataclass
class PythonStages:
    seconds: dict[str, float]
    tables: list[Encoded]
    cloud_id: uuid.UUID  # the rows'


@dataclass
class ServerAlone:
    table: str
    rows: int
    indexes: int
    seconds: dict[str, float] = field(default_factory=dict)


def python_stages(bundle: Path) -> PythonStages:
    """Time Python's stages of a first collection's writes (the collector off, as a collection
    keeps it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        read = read_bundle(bundle, defer_memberships=True)
        now = dt.datetime.now(dt.UTC)
        cloud_id = uuid.uuid4()
        normalizer = Normalizer(cloud_id)
        seconds: dict[str, float] = {}

        def timed(label: str, started: float) -> None:
            seconds[label] = time.perf_counter() - started

        started = time.perf_counter()
        objects = [normalizer.object_row(record, object_digest(record)) for record in read.objects]
        timed("objects: digests and rows", started)
        started = time.perf_counter()
        encoded_objects = list(object_rows(cloud_id, objects, now))
        timed("objects: encoding", started)
        started = time.perf_counter()
        encoded_links = list(link_rows(cloud_id, objects))
        timed("links: encoding", started)

        started = time.perf_counter()
        records = list(read.memberships)
        timed("memberships: reading enrollments.csv", started)
        started = time.perf_counter()
        digests = [membership_digest(record) for record in records]
        timed("memberships: digests", started)
        started = time.perf_counter()
        pairs = zip(records, digests, strict=True)
        encoded = list(first_membership_rows(normalizer, pairs, now))
        timed("memberships: encoding from the records", started)
        started = time.perf_counter()
        again = Normalizer(cloud_id)
        built = [again.membership_row(r, d) for r, d in zip(records, digests, strict=True)]
        timed("(instead: building rows)", started)
        started = time.perf_counter()
        from_rows = list(membership_rows(cloud_id, built, now))
        timed("(instead: encoding the rows)", started)
        if from_rows != encoded:
            raise RuntimeError("the two encodings of the memberships differ")
        tables = [
            _batched("repo_objects", OBJECT_COLUMNS, encoded_objects),
            _batched("repo_links", LINK_COLUMNS, encoded_links),
            _batched("repo_memberships", MEMBERSHIP_COLUMNS, encoded),
        ]
        return PythonStages(seconds=seconds, tables=tables, cloud_id=cloud_id)
    finally:
        if enabled:
            gc.enable()


def _batched(table: str, columns: tuple[str, ...], rows: list[bytes]) -> Encoded:
    return Encoded(table, columns, len(rows), [b"".join(batch) for batch in chunks(rows, LINES)])


def server_alone(
    admin_url: str, tables: Sequence[Encoded], cloud_id: uuid.UUID
) -> list[ServerAlone]:
    """``COPY`` each table's encoded rows (of cloud ``cloud_id``) into a freshly migrated
    database: into the table as migrated (into the cloud's partition, made empty
    and indexed beforehand), then into an unindexed copy of it, indexed afterwards (what a
    cloud's first collection now does with its memberships partition). Each step is
    committed."""
    name = new_database_name("writes")
    create_database(admin_url, name)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            url = sqlalchemy_url(admin_url, name)
            prepare_database(url, Path(data_dir))
            make_partitions(url, Path(data_dir), cloud_id)
        with psycopg.connect(conninfo(admin_url, name)) as conn:
            return [_table_alone(conn, encoded) for encoded in tables]
    finally:
        drop_database(admin_url, name)


def _table_alone(conn: psycopg.Connection, encoded: Encoded) -> ServerAlone:
    table, unindexed = encoded.table, f"bench_{encoded.table}_unindexed"
    definitions = [
        row[0]
        for row in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", (table,)
        )
    ]
    seconds = {"COPY, as migrated": _copy(conn, table, encoded)}
    conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
            sql.Identifier(unindexed), sql.Identifier(table)
        )
    )
    conn.commit()
    seconds["COPY, no indexes"] = _copy(conn, unindexed, encoded)
    started = time.perf_counter()
    for number, definition in enumerate(definitions):
        conn.execute(_on_copy(definition, table, unindexed, number))
    conn.commit()
    seconds["then building the indexes"] = time.perf_counter() - started
    counted = [
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
        for t in (table, unindexed)
    ]
    if any(found is None or found[0] != encoded.rows for found in counted):
        raise RuntimeError(f"{table}: expected {encoded.rows} rows in each table, found {counted}")
    return ServerAlone(table, encoded.rows, len(definitions), seconds)


def _copy(conn: psycopg.Connection, table: str, encoded: Encoded) -> float:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, encoded.columns))
    )
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(BINARY_HEADER)
        for batch in encoded.payload:
            copy.write(batch)
        copy.write(BINARY_TRAILER)
    conn.commit()
    return time.perf_counter() - started


def _on_copy(definition: str, table: str, copy: str, number: int) -> sql.Composed:
    """An index definition of ``table``, for its unindexed ``copy`` (a name of its own); a
    partitioned table's indexes are defined ``ON ONLY`` it."""
    _, separator, rest = definition.replace(" ON ONLY ", " ON ").partition(f" ON public.{table} ")
    if not separator:
        raise RuntimeError(f"unexpected index definition: {definition}")
    unique = "UNIQUE " if definition.startswith("CREATE UNIQUE") else ""
    return sql.SQL("CREATE {}INDEX {} ON {} {}").format(
        sql.SQL(unique),
        sql.Identifier(f"{copy}_{number}"),
        sql.Identifier(copy),
        sql.SQL(rest),  # the server's own definition, not input
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_first_writes", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each half (2)")
    args = parser.parse_args(argv)
    bundle, _ = prepare_bundles(args.workdir, args.students, args.seed)
    for run in range(1, args.repeat + 1):
        stages = python_stages(bundle)
        counts = ", ".join(f"{t.table} {t.rows:,}" for t in stages.tables)
        print(f"run {run}: Python ({counts}; no database)")
        for label, seconds in stages.seconds.items():
            print(f"  {label:<44} {seconds:6.2f} s")
        print(f"run {run}: the server alone, the rows encoded beforehand")
        for alone in server_alone(args.postgres_url, stages.tables, stages.cloud_id):
            for label, seconds in alone.seconds.items():
                name = f"{alone.table} ({alone.indexes} indexes): {label}"
                print(f"  {name:<58} {seconds:6.2f} s")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
