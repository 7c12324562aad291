"""Where a cloud's first memberships cost: Python's stages, then the server's alone.

Why: a first collection writes its memberships (731,314 at 100,000 students) in one ``COPY``
while Python reads, digests and encodes them (``ingest.service``: the enrollments are read
inside the ``COPY``), so its time is whichever half is slower. This script times each half on
its own, on the same bundle as :mod:`bench.bench_collection`, to say which binds and what a
change to either would buy (BENCHMARKS, session 11):

1. **Python**, no database: the bundle read with its memberships deferred, then, in order,
   reading enrollments.csv into records, their digests, and encoding them for ``COPY`` straight
   from the records (what a first collection does, ``copy_rows.first_membership_rows``) — and,
   to compare, building a ``MembershipRow`` per record and encoding those
   (``copy_rows.membership_rows``). Both encodings must give the same bytes; the script checks.
2. **The server alone**, in a freshly migrated database, the rows encoded beforehand: their
   ``COPY`` into ``repo_memberships`` as migrated (its indexes kept up to date row by row), then
   into a copy of the table without indexes, followed by building the same indexes (what a
   table of a cloud's own, loaded before it is indexed, would cost).

Run: ``python -m bench.bench_memberships --students 100000 --seed 1 --workdir /tmp/interop-bench``
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
    new_database_name,
    prepare_bundles,
    prepare_database,
    sqlalchemy_url,
)
from interop_hub.ingest.copy_rows import (
    MEMBERSHIP_COLUMNS,
    first_membership_rows,
    membership_rows,
)
from interop_hub.ingest.normalize import Normalizer, membership_digest
from interop_hub.ingest.oneroster import read_bundle
from interop_hub.kit.bulk import BINARY_HEADER, BINARY_TRAILER, LINES, chunks

TABLE = "repo_memberships"
UNINDEXED = "bench_memberships_unindexed"


@dataclass
class PythonStages:
    rows: int
    seconds: dict[str, float] = field(default_factory=dict)
    payload: list[bytes] = field(default_factory=list)
    """The encoded rows, in ``COPY``-sized batches (without the binary header and trailer)."""


@dataclass
class ServerAlone:
    rows: int
    indexes: int
    seconds: dict[str, float] = field(default_factory=dict)


def python_stages(bundle: Path) -> PythonStages:
    """Time Python's stages of a first collection's memberships (the collector off, as a
    collection keeps it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        read = read_bundle(bundle, defer_memberships=True)
        now = dt.datetime.now(dt.UTC)
        cloud_id = uuid.uuid4()
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        records = list(read.memberships)
        seconds["reading enrollments.csv into records"] = time.perf_counter() - started
        started = time.perf_counter()
        digests = [membership_digest(record) for record in records]
        seconds["their digests"] = time.perf_counter() - started
        started = time.perf_counter()
        pairs = zip(records, digests, strict=True)
        encoded = list(first_membership_rows(Normalizer(cloud_id), pairs, now))
        seconds["encoding them from the records"] = time.perf_counter() - started
        started = time.perf_counter()
        normalizer = Normalizer(cloud_id)
        built = [normalizer.membership_row(r, d) for r, d in zip(records, digests, strict=True)]
        seconds["(instead: building rows)"] = time.perf_counter() - started
        started = time.perf_counter()
        again = list(membership_rows(cloud_id, built, now))
        seconds["(instead: encoding the rows)"] = time.perf_counter() - started
        if again != encoded:
            raise RuntimeError("the two encodings of the memberships differ")
        payload = [b"".join(batch) for batch in chunks(encoded, LINES)]
        return PythonStages(rows=len(encoded), seconds=seconds, payload=payload)
    finally:
        if enabled:
            gc.enable()


def server_alone(admin_url: str, payload: Sequence[bytes], rows: int) -> ServerAlone:
    """``COPY`` the encoded rows into a freshly migrated database: into the table as migrated,
    then into an unindexed copy of it, indexed afterwards. Each step is committed."""
    name = new_database_name("members")
    create_database(admin_url, name)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            prepare_database(sqlalchemy_url(admin_url, name), Path(data_dir))
        with psycopg.connect(conninfo(admin_url, name)) as conn:
            definitions = [
                row[0]
                for row in conn.execute(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
                    (TABLE,),
                )
            ]
            seconds = {"COPY, as migrated": _copy(conn, TABLE, payload)}
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                    sql.Identifier(UNINDEXED), sql.Identifier(TABLE)
                )
            )
            conn.commit()
            seconds["COPY, no indexes"] = _copy(conn, UNINDEXED, payload)
            started = time.perf_counter()
            for number, definition in enumerate(definitions):
                conn.execute(_on_unindexed(definition, number))
            conn.commit()
            seconds["then building the indexes"] = time.perf_counter() - started
            counted = [
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()
                for table in (TABLE, UNINDEXED)
            ]
        if any(found is None or found[0] != rows for found in counted):
            raise RuntimeError(f"expected {rows} rows in each table, found {counted}")
        return ServerAlone(rows=rows, indexes=len(definitions), seconds=seconds)
    finally:
        drop_database(admin_url, name)


def _copy(conn: psycopg.Connection, table: str, payload: Sequence[bytes]) -> float:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, MEMBERSHIP_COLUMNS))
    )
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(BINARY_HEADER)
        for batch in payload:
            copy.write(batch)
        copy.write(BINARY_TRAILER)
    conn.commit()
    return time.perf_counter() - started


def _on_unindexed(definition: str, number: int) -> sql.Composed:
    """An index definition of the migrated table, for the unindexed copy (a name of its own)."""
    _, separator, rest = definition.partition(f" ON public.{TABLE} ")
    if not separator:
        raise RuntimeError(f"unexpected index definition: {definition}")
    unique = "UNIQUE " if definition.startswith("CREATE UNIQUE") else ""
    return sql.SQL("CREATE {}INDEX {} ON {} {}").format(
        sql.SQL(unique),
        sql.Identifier(f"{UNINDEXED}_{number}"),
        sql.Identifier(UNINDEXED),
        sql.SQL(rest),  # the server's own definition, not input
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_memberships", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each half (2)")
    args = parser.parse_args(argv)
    bundle, _ = prepare_bundles(args.workdir, args.students, args.seed)
    for run in range(1, args.repeat + 1):
        stages = python_stages(bundle)
        print(f"run {run}: Python, {stages.rows:,} memberships (no database)")
        for label, seconds in stages.seconds.items():
            print(f"  {label:<40} {seconds:6.2f} s")
        alone = server_alone(args.postgres_url, stages.payload, stages.rows)
        print(f"run {run}: the server alone, rows encoded beforehand ({alone.indexes} indexes)")
        for label, seconds in alone.seconds.items():
            print(f"  {label:<40} {seconds:6.2f} s")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
