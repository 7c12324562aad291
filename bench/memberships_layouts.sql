-- How long PostgreSQL takes to store a district's memberships in four layouts (issue 3: what the
-- initial collection's largest write would cost stored another way). Plain SQL, no hub code:
--
--   createdb interop_layouts
--   psql -d interop_layouts -v csv=/tmp/interop-bench/district-n100000-s1/enrollments.csv \
--        -f bench/memberships_layouts.sql
--   dropdb interop_layouts
--
-- The ids are derived once beforehand (as the hub derives them in Python), so each INSERT times
-- the storing alone. Figures: docs/BENCHMARKS.md, "Memberships stored another way".
\timing on
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE TABLE stage (sourcedId text, status text, dateLastModified text, classSourcedId text,
    schoolSourcedId text, userSourcedId text, role text, "primary" text, beginDate text,
    endDate text);
\set copy '\\copy stage FROM ' :'csv' ' WITH (FORMAT csv, HEADER true)'
:copy
CREATE TABLE ids AS SELECT
    uuid_generate_v5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', sourcedId) AS id, sourcedId,
    uuid_generate_v5('6ba7b811-9dad-11d1-80b4-00c04fd430c8', userSourcedId) AS person_id,
    uuid_generate_v5('6ba7b812-9dad-11d1-80b4-00c04fd430c8', classSourcedId) AS section_id,
    uuid_generate_v5('6ba7b814-9dad-11d1-80b4-00c04fd430c8', schoolSourcedId) AS school_id,
    role, "primary", beginDate, endDate
FROM stage;

-- 1. today's repo_memberships (migration 0009): JSON data, a digest, five indexes
CREATE TABLE m_today (id uuid PRIMARY KEY, cloud_id uuid NOT NULL, source_id varchar(255) NOT NULL,
    person_id uuid NOT NULL, section_id uuid NOT NULL, school_id uuid, role varchar(32) NOT NULL,
    data json NOT NULL, digest varchar(32) NOT NULL, created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL);
CREATE INDEX ON m_today (cloud_id);
CREATE INDEX ON m_today (section_id, role);
CREATE INDEX ON m_today (person_id);
CREATE INDEX ON m_today (school_id);
INSERT INTO m_today SELECT id, '6ba7b810-9dad-11d1-80b4-00c04fd430c8', sourcedId, person_id,
    section_id, school_id, role,
    json_build_object('primary', "primary" = 'true', 'begin_date', nullif(beginDate, ''),
        'end_date', nullif(endDate, ''), '$ext', '{}'::json),
    md5(sourcedId), now(), now()
FROM ids ORDER BY 1;

-- 2. typed columns, two secondary indexes
CREATE TABLE m_typed (id uuid PRIMARY KEY, cloud_id uuid NOT NULL, source_id text NOT NULL,
    person_id uuid NOT NULL, section_id uuid NOT NULL, school_id uuid, role text NOT NULL,
    is_primary bool, begin_date date, end_date date, digest bytea, updated_at timestamptz NOT NULL);
CREATE INDEX ON m_typed (section_id);
CREATE INDEX ON m_typed (person_id);
INSERT INTO m_typed SELECT id, '6ba7b810-9dad-11d1-80b4-00c04fd430c8', sourcedId, person_id,
    section_id, school_id, role, "primary" = 'true', nullif(beginDate, '')::date,
    nullif(endDate, '')::date, decode(md5(sourcedId), 'hex'), now()
FROM ids ORDER BY 1;

-- 3. one row per class: its memberships as arrays, persons found through a GIN index
CREATE TABLE m_by_class (section_id uuid PRIMARY KEY, cloud_id uuid NOT NULL, ids uuid[],
    source_ids text[], person_ids uuid[], roles text[]);
INSERT INTO m_by_class SELECT section_id, '6ba7b810-9dad-11d1-80b4-00c04fd430c8', array_agg(id),
    array_agg(sourcedId), array_agg(person_id), array_agg(role)
FROM ids GROUP BY section_id;
CREATE INDEX ON m_by_class USING gin (person_ids);

-- 4. today's layout, partitioned by cloud: a cloud's first collection fills a new partition
--    that has no index yet, builds the five indexes by sorting, then attaches it (its CHECK
--    constraint spares ATTACH the scan). Another cloud's partition exists, with its indexes.
CREATE TABLE m_parted (id uuid NOT NULL, cloud_id uuid NOT NULL,
    source_id varchar(255) NOT NULL, person_id uuid NOT NULL, section_id uuid NOT NULL,
    school_id uuid, role varchar(32) NOT NULL, data json NOT NULL, digest varchar(32) NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (cloud_id, id)) PARTITION BY LIST (cloud_id);
CREATE INDEX ON m_parted (cloud_id);
CREATE INDEX ON m_parted (section_id, role);
CREATE INDEX ON m_parted (person_id);
CREATE INDEX ON m_parted (school_id);
CREATE TABLE m_parted_other PARTITION OF m_parted
    FOR VALUES IN ('00000000-0000-0000-0000-000000000001');
BEGIN;
CREATE TABLE m_parted_new (LIKE m_parted,
    CHECK (cloud_id = '6ba7b810-9dad-11d1-80b4-00c04fd430c8'));
INSERT INTO m_parted_new SELECT id, '6ba7b810-9dad-11d1-80b4-00c04fd430c8', sourcedId,
    person_id, section_id, school_id, role,
    json_build_object('primary', "primary" = 'true', 'begin_date', nullif(beginDate, ''),
        'end_date', nullif(endDate, ''), '$ext', '{}'::json),
    md5(sourcedId), now(), now()
FROM ids;
ALTER TABLE m_parted_new ADD PRIMARY KEY (cloud_id, id);
CREATE INDEX ON m_parted_new (cloud_id);
CREATE INDEX ON m_parted_new (section_id, role);
CREATE INDEX ON m_parted_new (person_id);
CREATE INDEX ON m_parted_new (school_id);
ALTER TABLE m_parted ATTACH PARTITION m_parted_new
    FOR VALUES IN ('6ba7b810-9dad-11d1-80b4-00c04fd430c8');
COMMIT;

SELECT pg_size_pretty(pg_total_relation_size('m_today')) AS today,
    pg_size_pretty(pg_total_relation_size('m_typed')) AS typed,
    pg_size_pretty(pg_total_relation_size('m_by_class')) AS by_class,
    pg_size_pretty(pg_total_relation_size('m_parted_new')) AS parted;
