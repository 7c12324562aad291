"""What the database alone costs a set-based initial collection, against the floor.

A lower bound for issue 3's "initial collection ≤ 5× the floor": whatever the hub does in Python,
a collection must at least get the rows into PostgreSQL and write them into the Repository's
indexed tables, with a change set naming each of them. This script does only that, in SQL, on the
same bundle as ``bench.bench_collection``:

1. **stage** — ``COPY`` every CSV file into text tables (the floor's own work);
2. **objects** — ``INSERT … SELECT`` into ``repo_objects`` (persons with their demographics,
   sections, courses, orgs, sessions, categories), ids as random-looking UUIDs from the source ids
   (as the hub's ``uuid5`` ids are), ``data`` as each staged row's JSON;
3. **links** — what refers to what (a person's orgs, a section's course, school and terms, a
   course's org, an org's parent);
4. **memberships** — the enrollments;
5. **change set** — one ``repo_changes`` row per object and membership added.

No validation, no normalization, no diff: every figure the hub adds to these is Python's. Two
layouts are measured, each in a freshly migrated database, one transaction each:

- **as migrated** — into the tables the migrations make (their indexes in place; foreign keys
  dropped unless ``--keep-foreign-keys``), as a collection into one cloud of many must;
- **indexes after** — the same rows into the tables with their indexes dropped, then the indexes
  built: what a layout with one partition per cloud (loaded, then indexed) could do.

Run: ``python -m bench.bench_write_bound --students 100000 --seed 1 --workdir /tmp/interop-bench``
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from bench.bench_collection import (
    COPY_CHUNK,
    DEFAULT_POSTGRES_URL,
    DEFAULT_WORKDIR,
    bench_settings,
    conninfo,
    create_database,
    csv_files,
    drop_database,
    make_partitions,
    measure_floor,
    new_database_name,
    prepare_bundles,
    prepare_database,
    sqlalchemy_url,
)
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction
from interop_hub.runtime import build_hub

REPO_TABLES = ("repo_objects", "repo_links", "repo_memberships", "repo_changes")


def _id(kind: str, column: str) -> str:
    """SQL for a random-looking UUID derived from the cloud and a source id (as ``uuid5``)."""
    return f"md5(%(cloud)s || '/{kind}/' || {column})::uuid"


@dataclass(frozen=True)
class ObjectSource:
    """Where one kind of object comes from: its staged rows, their digest and their Repository
    row (``rows``: every column of ``OBJECT_COLUMNS`` after the id)."""

    kind: str
    source: str  # FROM …, the staged row aliased as ``s``
    digest: str
    rows: str

    def select(self, where: str = "") -> str:
        return (
            f"SELECT {_id(self.kind, 's.sourcedid')}, %(cloud)s::uuid, '{self.kind}', "
            f"{self.rows}, {self.digest}, now(), now() FROM {self.source} {where}"
        )


OBJECT_SOURCES = [
    ObjectSource(
        "person",
        "stage_users s LEFT JOIN stage_demographics d ON d.sourcedid = s.sourcedid",
        "md5(s::text || coalesce(d::text, ''))",
        "s.role, s.sourcedid, s.givenname || ' ' || s.familyname, NULL::int, "
        "(to_jsonb(s) || coalesce(to_jsonb(d) - 'sourcedid', '{}'))::json",
    ),
    ObjectSource(
        "section", "stage_classes s", "md5(s::text)", "NULL, s.sourcedid, s.title, NULL, to_json(s)"
    ),
    ObjectSource(
        "course", "stage_courses s", "md5(s::text)", "NULL, s.sourcedid, s.title, NULL, to_json(s)"
    ),
    ObjectSource(
        "org", "stage_orgs s", "md5(s::text)", "s.type, s.sourcedid, s.name, NULL, to_json(s)"
    ),
    ObjectSource(
        "term",
        "stage_academicsessions s",
        "md5(s::text)",
        "s.type, s.sourcedid, s.title, s.schoolyear::int, to_json(s)",
    ),
    ObjectSource(
        "category",
        "stage_categories s",
        "md5(s::text)",
        "NULL, s.sourcedid, s.title, NULL, to_json(s)",
    ),
]

OBJECT_COLUMNS = (
    "id, cloud_id, kind, subtype, source_id, label, school_year, data, digest, created_at, "
    "updated_at"
)
OBJECTS = [f"INSERT INTO repo_objects ({OBJECT_COLUMNS}) {o.select()}" for o in OBJECT_SOURCES]

LINKS = f"""
INSERT INTO repo_links (from_id, rel, to_id, cloud_id, position)
SELECT {_id("person", "u.sourcedid")}, 'org', {_id("org", "o.value")}, %(cloud)s::uuid,
       (o.ordinality - 1)::smallint
FROM stage_users u,
     unnest(string_to_array(u.orgsourcedids, ',')) WITH ORDINALITY o(value, ordinality)
UNION ALL
SELECT {_id("section", "c.sourcedid")}, 'course', {_id("course", "c.coursesourcedid")},
       %(cloud)s::uuid, 0 FROM stage_classes c
UNION ALL
SELECT {_id("section", "c.sourcedid")}, 'school', {_id("org", "c.schoolsourcedid")},
       %(cloud)s::uuid, 0 FROM stage_classes c
UNION ALL
SELECT {_id("section", "c.sourcedid")}, 'term', {_id("term", "t.value")}, %(cloud)s::uuid,
       (t.ordinality - 1)::smallint
FROM stage_classes c,
     unnest(string_to_array(c.termsourcedids, ',')) WITH ORDINALITY t(value, ordinality)
UNION ALL
SELECT {_id("course", "c.sourcedid")}, 'org', {_id("org", "c.orgsourcedid")},
       %(cloud)s::uuid, 0 FROM stage_courses c
UNION ALL
SELECT {_id("org", "o.sourcedid")}, 'parent', {_id("org", "o.parentsourcedid")},
       %(cloud)s::uuid, 0 FROM stage_orgs o WHERE o.parentsourcedid <> ''
"""

MEMBERSHIP_COLUMNS = (
    "id, cloud_id, source_id, person_id, section_id, school_id, role, data, digest, created_at, "
    "updated_at"
)
MEMBERSHIP_ROWS = f"""
SELECT {_id("membership", "e.sourcedid")}, %(cloud)s::uuid, e.sourcedid,
       {_id("person", "e.usersourcedid")}, {_id("section", "e.classsourcedid")},
       {_id("org", "e.schoolsourcedid")}, e.role, to_json(e), md5(e::text), now(), now()
FROM stage_enrollments e
"""
MEMBERSHIPS = f"INSERT INTO repo_memberships ({MEMBERSHIP_COLUMNS}) {MEMBERSHIP_ROWS}"

CHANGES = """
INSERT INTO repo_changes (ingestion_id, cloud_id, seq, entity, object_id, kind, subtype, action)
SELECT %(ingestion)s::uuid, %(cloud)s::uuid, row_number() OVER (), entity, id, kind, subtype, 'ADD'
FROM (SELECT 'object' AS entity, id, kind, subtype FROM repo_objects WHERE cloud_id = %(cloud)s
      UNION ALL
      SELECT 'membership', id, 'membership', role FROM repo_memberships
      WHERE cloud_id = %(cloud)s) AS added
"""

# The nightly, set-based: first only the digest of each staged row, compared with the stored
# digests by source id (no id, no JSON for an unchanged row); then the rows of what changed, the
# change set (prior values from the stored rows) and the writes. The links of changed objects
# are not re-derived (a lower bound leaves out what it can).
NIGHTLY_DIGESTS = [
    "CREATE TEMP TABLE incoming_objects AS "
    + " UNION ALL ".join(
        f"SELECT '{o.kind}'::text AS kind, s.sourcedid AS source_id, {o.digest} AS digest "
        f"FROM {o.source}"
        for o in OBJECT_SOURCES
    ),
    "CREATE TEMP TABLE incoming_memberships AS "
    "SELECT s.sourcedid AS source_id, md5(s::text) AS digest FROM stage_enrollments s",
    "ANALYZE incoming_objects",
    "ANALYZE incoming_memberships",
]
NIGHTLY_DIFF = [
    """CREATE TEMP TABLE changed_objects AS
    SELECT i.kind, i.source_id, r.id AS stored FROM incoming_objects i
    LEFT JOIN repo_objects r
      ON r.cloud_id = %(cloud)s AND r.kind = i.kind AND r.source_id = i.source_id
    WHERE r.id IS NULL OR r.digest <> i.digest""",
    """CREATE TEMP TABLE changed_memberships AS
    SELECT i.source_id, r.id AS stored FROM incoming_memberships i
    LEFT JOIN repo_memberships r ON r.cloud_id = %(cloud)s AND r.source_id = i.source_id
    WHERE r.id IS NULL OR r.digest <> i.digest""",
    """CREATE TEMP TABLE gone_objects AS
    SELECT r.id, r.kind, r.data FROM repo_objects r WHERE r.cloud_id = %(cloud)s
    AND NOT EXISTS (SELECT FROM incoming_objects i
                    WHERE i.kind = r.kind AND i.source_id = r.source_id)""",
    """CREATE TEMP TABLE gone_memberships AS
    SELECT r.id, r.data FROM repo_memberships r WHERE r.cloud_id = %(cloud)s
    AND NOT EXISTS (SELECT FROM incoming_memberships i WHERE i.source_id = r.source_id)""",
]
NIGHTLY_ROWS = [
    "CREATE TEMP TABLE rows_objects (LIKE repo_objects)",
    *(
        f"INSERT INTO rows_objects ({OBJECT_COLUMNS}) "
        + o.select(
            f"WHERE s.sourcedid IN (SELECT source_id FROM changed_objects WHERE kind = '{o.kind}')"
        )
        for o in OBJECT_SOURCES
    ),
    "CREATE TEMP TABLE rows_memberships (LIKE repo_memberships)",
    f"INSERT INTO rows_memberships ({MEMBERSHIP_COLUMNS}) {MEMBERSHIP_ROWS} "
    "WHERE e.sourcedid IN (SELECT source_id FROM changed_memberships)",
]
NIGHTLY_CHANGES = """
INSERT INTO repo_changes
    (ingestion_id, cloud_id, seq, entity, object_id, kind, subtype, action, prior)
SELECT %(ingestion)s::uuid, %(cloud)s::uuid, row_number() OVER (), entity, id, kind, subtype,
       action, prior
FROM (SELECT 'object' AS entity, n.id, n.kind, n.subtype,
             CASE WHEN r.id IS NULL THEN 'ADD' ELSE 'UPDATE' END AS action, r.data AS prior
      FROM rows_objects n LEFT JOIN repo_objects r ON r.id = n.id
      UNION ALL
      SELECT 'membership', n.id, 'membership', n.role,
             CASE WHEN r.id IS NULL THEN 'ADD' ELSE 'UPDATE' END, r.data
      FROM rows_memberships n LEFT JOIN repo_memberships r ON r.id = n.id
      UNION ALL
      SELECT 'object', id, kind, NULL, 'DELETE', data FROM gone_objects
      UNION ALL
      SELECT 'membership', id, 'membership', NULL, 'DELETE', data FROM gone_memberships) AS c
"""
NIGHTLY_WRITES = [
    statement
    for table, columns in (("objects", OBJECT_COLUMNS), ("memberships", MEMBERSHIP_COLUMNS))
    for statement in (
        f"""UPDATE repo_{table} r SET data = n.data, digest = n.digest, updated_at = now()
        FROM rows_{table} n WHERE r.id = n.id""",
        f"""INSERT INTO repo_{table} ({columns}) SELECT {columns} FROM rows_{table} n
        WHERE NOT EXISTS (SELECT FROM repo_{table} r WHERE r.id = n.id)""",
        f"DELETE FROM repo_{table} r USING gone_{table} g WHERE r.id = g.id",
    )
]


class Stopwatch:
    """``step(label)`` records the seconds since the previous step (or since it was made)."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into, self.mark = into, time.perf_counter()

    def __call__(self, label: str) -> None:
        now = time.perf_counter()
        self.into[label] = now - self.mark
        self.mark = now


@dataclass
class Timed:
    steps: dict[str, float] = field(default_factory=dict, kw_only=True)

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())


@dataclass
class NightlyResult(Timed):
    changed: dict[str, int] = field(default_factory=dict)
    """Objects and memberships added or updated, and deleted."""
    stored: int = 0
    """Objects and memberships in the Repository afterwards."""


@dataclass
class LayoutResult(Timed):
    layout: str
    rows: dict[str, int] = field(default_factory=dict)
    """Rows of each Repository table afterwards: what the steps wrote."""
    indexes: int = 0
    """Indexes on the Repository tables afterwards (the same in both layouts)."""
    nightly: NightlyResult | None = None


def _stage(conn: psycopg.Connection, bundle: Path) -> None:
    for path in csv_files(bundle):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
        table = sql.Identifier(f"stage_{path.stem.lower()}")
        columns = sql.SQL(", ").join(
            sql.SQL("{} text").format(sql.Identifier(column.lower().replace(".", "_")))
            for column in header
        )
        conn.execute(sql.SQL("CREATE TEMP TABLE {} ({})").format(table, columns))
        statement = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, HEADER true)").format(table)
        with conn.cursor().copy(statement) as copy, path.open("rb") as data:
            while chunk := data.read(COPY_CHUNK):
                copy.write(chunk)


def _drop_foreign_keys(conn: psycopg.Connection) -> None:
    found = conn.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
        [list(REPO_TABLES)],
    ).fetchall()
    for table, name in found:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )


def _index_definitions(conn: psycopg.Connection) -> list[tuple[str, str, str | None]]:
    """(index name, CREATE INDEX statement, the constraint it backs) of the repo tables."""
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname "
        "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
        "WHERE i.indrelid::regclass::text = ANY(%s)",
        [list(REPO_TABLES)],
    ).fetchall()
    # A partitioned table's indexes are defined ON ONLY it; built again, they must recurse.
    return [
        (name, definition.replace(" ON ONLY ", " ON "), constraint)
        for name, definition, constraint in rows
    ]


def _new_ingestion(database_url: str, data_dir: Path, cloud_id: uuid.UUID) -> uuid.UUID:
    """An ingestion of the cloud for the change set to name (as the hub queues one)."""
    hub = build_hub(bench_settings(database_url, data_dir))
    try:
        with transaction(hub.sessions) as session:
            ingestion = Ingestion(cloud_id=cloud_id, state="executing", source="bench")
            session.add(ingestion)
            session.flush()
            return ingestion.id
    finally:
        hub.engine.dispose()


def measure_layout(
    admin_url: str,
    bundle: Path,
    data_dir: Path,
    *,
    indexes_after: bool,
    keep_foreign_keys: bool,
    nightly: Path | None = None,
) -> LayoutResult:
    """The initial collection's database work in one layout; then, given the ``nightly``
    bundle, the nightly's (into the layout as it then is: indexed)."""
    name = new_database_name("bound")
    create_database(admin_url, name)
    result = LayoutResult("indexes after" if indexes_after else "as migrated")
    try:
        cloud_id = prepare_database(sqlalchemy_url(admin_url, name), data_dir)
        make_partitions(sqlalchemy_url(admin_url, name), data_dir, cloud_id)
        ingestion_id = _new_ingestion(sqlalchemy_url(admin_url, name), data_dir, cloud_id)
        with psycopg.connect(conninfo(admin_url, name)) as conn:
            if not keep_foreign_keys:
                _drop_foreign_keys(conn)
            indexes = _index_definitions(conn)
            if indexes_after:
                for index, _, constraint in indexes:
                    table = index.split(".")[0]
                    if constraint:
                        owner = conn.execute(
                            "SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = %s",
                            [constraint],
                        ).fetchone()
                        assert owner is not None
                        conn.execute(
                            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {} CASCADE").format(
                                sql.Identifier(owner[0]), sql.Identifier(constraint)
                            )
                        )
                    else:
                        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(table)))
            conn.commit()
            params = {"cloud": str(cloud_id), "ingestion": str(ingestion_id)}
            step = Stopwatch(result.steps)
            _stage(conn, bundle)
            step("stage (COPY)")
            for statement in OBJECTS:
                conn.execute(statement, params)
            step("objects")
            conn.execute(LINKS, params)
            step("links")
            conn.execute(MEMBERSHIPS, params)
            step("memberships")
            conn.execute(CHANGES, params)
            step("change set")
            if indexes_after:
                for _, definition, _ in indexes:  # unique indexes stand for their constraints
                    conn.execute(definition)
                step("building indexes")
            conn.commit()
            step("commit")
            for table in REPO_TABLES:
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()
                result.rows[table] = int(count[0]) if count else 0
            result.indexes = len(_index_definitions(conn))
            if nightly is not None:
                result.nightly = _measure_nightly(conn, nightly, params)
    finally:
        drop_database(admin_url, name)
    return result


def _measure_nightly(
    conn: psycopg.Connection, bundle: Path, params: dict[str, str]
) -> NightlyResult:
    for (name,) in conn.execute(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'stage\\_%%'"
    ).fetchall():
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
    conn.commit()
    result = NightlyResult()
    step = Stopwatch(result.steps)
    _stage(conn, bundle)
    step("stage (COPY)")
    for statement in NIGHTLY_DIGESTS:
        conn.execute(statement, params)
    step("digests")
    for statement in NIGHTLY_DIFF:
        conn.execute(statement, params)
    step("diff")
    for statement in NIGHTLY_ROWS:
        conn.execute(statement, params)
    step("changed rows")
    conn.execute(NIGHTLY_CHANGES, params)
    step("change set")
    for statement in NIGHTLY_WRITES:
        conn.execute(statement, params)
    step("writes")
    conn.commit()
    step("commit")
    for label, query in (
        ("added or updated", "SELECT (SELECT count(*) FROM rows_objects) "
         "+ (SELECT count(*) FROM rows_memberships)"),
        ("deleted", "SELECT (SELECT count(*) FROM gone_objects) "
         "+ (SELECT count(*) FROM gone_memberships)"),
    ):  # fmt: skip
        found = conn.execute(query).fetchone()
        result.changed[label] = int(found[0]) if found else 0
    stored = conn.execute(
        "SELECT (SELECT count(*) FROM repo_objects) + (SELECT count(*) FROM repo_memberships)"
    ).fetchone()
    result.stored = int(stored[0]) if stored else 0
    return result


def python_read(bundle: Path) -> tuple[float, int]:
    """Seconds for Python's ``csv`` module just to split every file of ``bundle`` into rows
    (decoded, no validation, nothing kept) — the least a collection that reads in Python pays —
    and the records it split (headers excluded)."""
    records = 0
    started = time.perf_counter()
    for path in csv_files(bundle):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for row in reader:
                records += bool(row)
    return time.perf_counter() - started, records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_write_bound")
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--floor-runs", type=int, default=3)
    parser.add_argument("--keep-foreign-keys", action="store_true")
    args = parser.parse_args(argv)
    bundle, nightly = prepare_bundles(args.workdir, args.students, args.seed)
    data_dir = args.workdir / "bound-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    floor = measure_floor(bundle, args.postgres_url, runs=args.floor_runs)
    print(f"floor: {floor.seconds:.2f} s (runs {', '.join(f'{s:.2f}' for s in floor.runs)})")
    reading, _ = python_read(bundle)
    print(f"Python csv.reader over the bundle: {reading:.2f} s = {reading / floor.seconds:.1f}x")
    for indexes_after in (False, True):
        result = measure_layout(
            args.postgres_url,
            bundle,
            data_dir,
            indexes_after=indexes_after,
            keep_foreign_keys=args.keep_foreign_keys,
            nightly=None if indexes_after else nightly,
        )
        print(f"\n{result.layout}: {result.seconds:.2f} s = {result.seconds / floor.seconds:.1f}x")
        for label, seconds in result.steps.items():
            print(f"  {label:<18} {seconds:7.2f} s  {seconds / floor.seconds:5.1f}x")
        if result.nightly is not None:
            night = result.nightly
            print(f"\nnightly: {night.seconds:.2f} s = {night.seconds / floor.seconds:.1f}x")
            for label, seconds in night.steps.items():
                print(f"  {label:<18} {seconds:7.2f} s  {seconds / floor.seconds:5.1f}x")
            print("  " + ", ".join(f"{count:,} {label}" for label, count in night.changed.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
