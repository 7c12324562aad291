"""The Repository's rows in ``COPY``'s binary format (PostgreSQL), for :mod:`.apply`.

On PostgreSQL the bulk tables' rows are sent to ``COPY`` in its binary format, each row made
at once (:mod:`interop_hub.kit.bulk`): psycopg's ``write_row`` called a dumper per value (~35 s
of an initial collection at 100,000 students, profiled), and the text format had the server
parse every UUID and timestamp again.

Each function yields the rows of one table in the order of its ``*_COLUMNS``.
:func:`first_membership_rows` makes the same bytes as :func:`membership_rows` straight from the
records, without the rows in between (see there).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from interop_hub.ingest.normalize import MembershipRow, Normalizer, ObjectRow
from interop_hub.ingest.records import SourceMembership
from interop_hub.kit.pgcopy import (
    NULL_BINARY,
    field_count,
    int2_binary,
    int4_binary,
    json_binary,
    text_binary,
    timestamptz_binary,
    uuid_binary,
)

OBJECT_COLUMNS = (
    *("id", "cloud_id", "kind", "source_id", "created_at", "updated_at"),
    *("subtype", "label", "school_year", "data", "digest"),
)
LINK_COLUMNS = ("from_id", "rel", "to_id", "cloud_id", "position")
MEMBERSHIP_COLUMNS = (
    *("id", "cloud_id", "source_id", "created_at", "updated_at"),
    *("person_id", "section_id", "school_id", "role", "data", "digest"),
)

_UUID_FIELD = b"\x00\x00\x00\x10"
"""The length word of a UUID field (16 bytes)."""
_SHARED_DATA = 10_000
"""At most this many ``data`` dicts' encodings are kept (a row with ``$ext`` has its own)."""


def object_rows(
    cloud_id: uuid.UUID, rows: Sequence[ObjectRow], now: dt.datetime
) -> Iterator[bytes]:
    start = field_count(len(OBJECT_COLUMNS))
    cloud = uuid_binary(cloud_id)
    stamps = timestamptz_binary(now) * 2
    for row in rows:
        yield b"".join(
            (
                start,
                uuid_binary(row.id),
                cloud,
                text_binary(row.kind),
                text_binary(row.source_id),
                stamps,
                text_binary(row.subtype),
                text_binary(row.label[:400]),
                int4_binary(row.school_year),
                json_binary(row.data),
                text_binary(row.digest),
            )
        )


def link_rows(cloud_id: uuid.UUID, rows: list[ObjectRow]) -> Iterator[bytes]:
    start = field_count(len(LINK_COLUMNS))
    cloud = uuid_binary(cloud_id)
    rels: dict[str, bytes] = {}
    for row in rows:
        head = start + uuid_binary(row.id)
        for rel, to_id, position in row.links:
            named = rels.get(rel)
            if named is None:
                named = rels[rel] = text_binary(rel)
            yield b"".join((head, named, uuid_binary(to_id), cloud, int2_binary(position)))


def membership_rows(
    cloud_id: uuid.UUID, rows: Sequence[MembershipRow], now: dt.datetime
) -> Iterator[bytes]:
    start = field_count(len(MEMBERSHIP_COLUMNS))
    cloud = uuid_binary(cloud_id)
    stamps = timestamptz_binary(now) * 2
    roles: dict[str, bytes] = {}
    for row in rows:
        role = roles.get(row.role)
        if role is None:
            role = roles[row.role] = text_binary(row.role)
        yield b"".join(
            (
                start,
                uuid_binary(row.id),
                cloud,
                text_binary(row.source_id),
                stamps,
                uuid_binary(row.person_id),
                uuid_binary(row.section_id),
                uuid_binary(row.school_id),
                role,
                json_binary(row.data),
                text_binary(row.digest),
            )
        )


@dataclass
class ReferenceFields:
    """The ``COPY`` fields of the persons, sections and schools memberships refer to, by
    source id (made once each): after :func:`first_membership_rows`, their keys are every
    reference its records made (a school's ``""`` stands for none)."""

    persons: dict[str, bytes] = field(default_factory=dict)
    sections: dict[str, bytes] = field(default_factory=dict)
    schools: dict[str, bytes] = field(default_factory=lambda: {"": NULL_BINARY})


def first_membership_rows(
    normalizer: Normalizer,
    records: Iterable[tuple[SourceMembership, str]],
    now: dt.datetime,
    fields: ReferenceFields | None = None,
) -> Iterator[bytes]:
    """The bytes :func:`membership_rows` makes of ``normalizer.membership_row(record, digest)``
    for each of ``records`` (record, digest), made without those rows.

    For a cloud's first collection, whose memberships are only written (nothing compares or logs
    them one by one): no :class:`MembershipRow` and no UUID object per row — the id's bytes come
    from the hash, a person's, section's and school's field bytes are made once per source id (in
    ``fields``, if given), and equal ``data`` dicts (the reader shares them) are encoded once. Half
    the Python time of :func:`membership_rows` with the rows built first (731,314 memberships: 1.7 s
    against 3.3 s, BENCHMARKS session 11).
    """
    start = field_count(len(MEMBERSHIP_COLUMNS))
    head = uuid_binary(normalizer.cloud_id)
    stamps = timestamptz_binary(now) * 2
    make_id = normalizer.membership_id.bytes_of
    get = normalizer.ids.get
    known = fields if fields is not None else ReferenceFields()
    persons, sections, schools = known.persons, known.sections, known.schools
    roles: dict[str, bytes] = {}
    # id(data) → (data, its field): the dict is kept alongside, so its id cannot be reused
    datas: dict[int, tuple[dict[str, Any], bytes]] = {}
    join = b"".join
    for record, digest in records:
        person = persons.get(record.person_source_id)
        if person is None:
            person = persons[record.person_source_id] = (
                _UUID_FIELD + get("person", record.person_source_id).bytes
            )
        section = sections.get(record.section_source_id)
        if section is None:
            section = sections[record.section_source_id] = (
                _UUID_FIELD + get("section", record.section_source_id).bytes
            )
        school_sid = record.school_source_id or ""
        school = schools.get(school_sid)
        if school is None:
            school = schools[school_sid] = _UUID_FIELD + get("org", school_sid).bytes
        role = roles.get(record.role)
        if role is None:
            role = roles[record.role] = text_binary(record.role)
        data = record.data
        encoded = datas.get(id(data))
        if encoded is None or encoded[0] is not data:
            encoded = (data, json_binary(data))
            if len(datas) < _SHARED_DATA:
                datas[id(data)] = encoded
        yield join(
            (
                start,
                _UUID_FIELD,
                make_id(record.source_id),
                head,
                text_binary(record.source_id),
                stamps,
                person,
                section,
                school,
                role,
                encoded[1],
                text_binary(digest),
            )
        )
