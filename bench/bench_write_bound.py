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


OBJECTS = [
    (
        "person",
        f"""SELECT {_id("person", "u.sourcedid")}, %(cloud)s::uuid, 'person', u.role,
            u.sourcedid, u.givenname || ' ' || u.familyname, NULL::int,
            (to_jsonb(u) || coalesce(to_jsonb(d) - 'sourcedId', '{{}}'))::json,
            left(md5(u::text || coalesce(d::text, '')), 32), now(), now()
        FROM stage_users u LEFT JOIN stage_demographics d ON d.sourcedid = u.sourcedid""",
    ),
    (
        "section",
        f"""SELECT {_id("section", "c.sourcedid")}, %(cloud)s::uuid, 'section', NULL,
            c.sourcedid, c.title, NULL, to_json(c), md5(c::text), now(), now()
        FROM stage_classes c""",
    ),
    (
        "course",
        f"""SELECT {_id("course", "c.sourcedid")}, %(cloud)s::uuid, 'course', NULL,
            c.sourcedid, c.title, NULL, to_json(c), md5(c::text), now(), now()
        FROM stage_courses c""",
    ),
    (
        "org",
        f"""SELECT {_id("org", "o.sourcedid")}, %(cloud)s::uuid, 'org', o.type,
            o.sourcedid, o.name, NULL, to_json(o), md5(o::text), now(), now()
        FROM stage_orgs o""",
    ),
    (
        "term",
        f"""SELECT {_id("term", "a.sourcedid")}, %(cloud)s::uuid, 'term', a.type,
            a.sourcedid, a.title, a.schoolyear::int, to_json(a), md5(a::text), now(), now()
        FROM stage_academicsessions a""",
    ),
    (
        "category",
        f"""SELECT {_id("category", "g.sourcedid")}, %(cloud)s::uuid, 'category', NULL,
            g.sourcedid, g.title, NULL, to_json(g), md5(g::text), now(), now()
        FROM stage_categories g""",
    ),
]

OBJECT_COLUMNS = (
    "id, cloud_id, kind, subtype, source_id, label, school_year, data, digest, created_at, "
    "updated_at"
)

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

# The nightly, set-based: what arrived (``incoming_*``, the rows as the initial computed them),
# what differs from the Repository by digest, then the writes and the change set. The links of
# changed objects are not re-derived (a lower bound leaves out what it can).
NIGHTLY_INCOMING = [
    "CREATE TEMP TABLE incoming_objects (LIKE repo_objects)",
    *(f"INSERT INTO incoming_objects ({OBJECT_COLUMNS}) {select}" for _, select in OBJECTS),
    "CREATE TEMP TABLE incoming_memberships (LIKE repo_memberships)",
    f"INSERT INTO incoming_memberships ({MEMBERSHIP_COLUMNS}) {MEMBERSHIP_ROWS}",
]
NIGHTLY_DIFF = [
    f"""CREATE TEMP TABLE changed_{table} AS
    SELECT i.*, CASE WHEN r.id IS NULL THEN 'ADD' ELSE 'UPDATE' END AS action
    FROM incoming_{table} i LEFT JOIN repo_{table} r ON r.id = i.id
    WHERE r.id IS NULL OR r.digest <> i.digest"""
    for table in ("objects", "memberships")
] + [
    f"""CREATE TEMP TABLE gone_{table} AS
    SELECT r.id, r.data FROM repo_{table} r WHERE r.cloud_id = %(cloud)s
    AND NOT EXISTS (SELECT FROM incoming_{table} i WHERE i.id = r.id)"""
    for table in ("objects", "memberships")
]
NIGHTLY_WRITES = [
    statement
    for table, columns in (("objects", OBJECT_COLUMNS), ("memberships", MEMBERSHIP_COLUMNS))
    for statement in (
        f"""UPDATE repo_{table} r SET data = c.data, digest = c.digest, updated_at = now()
        FROM changed_{table} c WHERE c.action = 'UPDATE' AND r.id = c.id""",
        f"""INSERT INTO repo_{table} ({columns})
        SELECT {columns} FROM changed_{table} WHERE action = 'ADD'""",
        f"DELETE FROM repo_{table} r USING gone_{table} g WHERE r.id = g.id",
    )
]
NIGHTLY_CHANGES = """
INSERT INTO repo_changes
    (ingestion_id, cloud_id, seq, entity, object_id, kind, subtype, action, prior)
SELECT %(ingestion)s::uuid, %(cloud)s::uuid, row_number() OVER (), entity, id, kind, subtype,
       action, prior
FROM (SELECT 'object' AS entity, c.id, c.kind, c.subtype, c.action, r.data AS prior
      FROM changed_objects c LEFT JOIN repo_objects r ON r.id = c.id
      UNION ALL
      SELECT 'membership', id, 'membership', role, action, NULL FROM changed_memberships
      UNION ALL
      SELECT 'object', id, 'object', NULL, 'DELETE', data FROM gone_objects
      UNION ALL
      SELECT 'membership', id, 'membership', NULL, 'DELETE', data FROM gone_memberships) AS c
"""


@dataclass
class NightlyResult:
    steps: dict[str, float] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    """Objects and memberships added or updated, and deleted."""
    stored: int = 0
    """Objects and memberships in the Repository afterwards."""

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())


@dataclass
class LayoutResult:
    layout: str
    steps: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    """Rows of each Repository table afterwards: what the steps wrote."""
    indexes: int = 0
    """Indexes on the Repository tables afterwards (the same in both layouts)."""
    nightly: NightlyResult | None = None

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())


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
    return [(name, definition, constraint) for name, definition, constraint in rows]


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
            started = time.perf_counter()

            def step(label: str) -> None:
                nonlocal started
                now = time.perf_counter()
                result.steps[label] = now - started
                started = now

            _stage(conn, bundle)
            step("stage (COPY)")
            for _, select in OBJECTS:
                conn.execute(
                    f"INSERT INTO repo_objects ({OBJECT_COLUMNS}) {select}",
                    params,
                )
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
    started = time.perf_counter()

    def step(label: str) -> None:
        nonlocal started
        now = time.perf_counter()
        result.steps[label] = now - started
        started = now

    _stage(conn, bundle)
    step("stage (COPY)")
    for statement in NIGHTLY_INCOMING:
        conn.execute(statement, params)
    step("incoming rows")
    for statement in NIGHTLY_DIFF:
        conn.execute(statement, params)
    step("diff")
    conn.execute(NIGHTLY_CHANGES, params)
    step("change set")
    for statement in NIGHTLY_WRITES:
        conn.execute(statement, params)
    step("writes")
    conn.commit()
    step("commit")
    for label, query in (
        ("added or updated", "SELECT (SELECT count(*) FROM changed_objects) "
         "+ (SELECT count(*) FROM changed_memberships)"),
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
