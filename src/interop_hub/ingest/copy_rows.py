"""The Repository's rows in ``COPY``'s binary format (PostgreSQL), for :mod:`.apply`.

On PostgreSQL the bulk tables' rows are sent to ``COPY`` in its binary format, each row made
at once (:mod:`interop_hub.kit.bulk`): psycopg's ``write_row`` called a dumper per value (~35 s
of an initial collection at 100,000 students, profiled), and the text format had the server
parse every UUID and timestamp again.

Each function yields the rows of one table in the order of its ``*_COLUMNS``.
:func:`membership_encoder` makes the same bytes as :func:`membership_rows` straight from the
records' values, without the rows in between (see there).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from interop_hub.ingest.normalize import MembershipRow, Normalizer, ObjectRow
from interop_hub.ingest.records import SourceMembership, SourceObject
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

UUID_FIELD = b"\x00\x00\x00\x10"
"""The length word of a UUID field (16 bytes): a UUID's field is it and the UUID's bytes."""
_LENGTH = struct.Struct("!i").pack
"""A field's length word."""
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


def first_object_rows(
    normalizer: Normalizer,
    records: Iterable[tuple[SourceObject, str]],
    now: dt.datetime,
    links: list[bytes],
) -> Iterator[bytes]:
    """The bytes :func:`object_rows` makes of ``normalizer.object_row(record, digest)`` for each
    of ``records`` (record, digest), made without those rows; the rows :func:`link_rows` would
    make of their links are appended to ``links`` meanwhile (in another order: by object, then
    reference).

    For a cloud's first collection, as :func:`membership_encoder` for its memberships: no
    :class:`ObjectRow`, no UUID object, and its links' rows made in the same pass.
    """
    start = field_count(len(OBJECT_COLUMNS)) + UUID_FIELD
    link_start = field_count(len(LINK_COLUMNS)) + UUID_FIELD
    cloud = uuid_binary(normalizer.cloud_id)
    stamps = timestamptz_binary(now) * 2
    maker = normalizer.ids.maker
    fields: dict[str, bytes] = {}  # the fields of kinds, relationships and subtypes, by name
    targets: dict[tuple[str, str], bytes] = {}  # (kind, source id) → its id's field
    join, append = b"".join, links.append
    for record, digest in records:
        kind, subtype = record.kind, record.subtype
        own = maker(kind).bytes_of(record.source_id)
        kind_field = fields.get(kind)
        if kind_field is None:
            kind_field = fields[kind] = text_binary(kind)
        if subtype is None:
            subtype_field = NULL_BINARY
        else:
            found = fields.get(subtype)
            subtype_field = (
                found if found is not None else fields.setdefault(subtype, text_binary(subtype))
            )
        yield join(
            (
                start,
                own,
                cloud,
                kind_field,
                text_binary(record.source_id),
                stamps,
                subtype_field,
                text_binary(record.label[:400]),
                int4_binary(record.school_year),
                json_binary(record.data),
                text_binary(digest),
            )
        )
        if not record.refs:
            continue
        head = link_start + own
        positions: dict[str, int] = {}
        # one link per distinct reference, numbered within its relationship (ObjectRow.links)
        for ref in dict.fromkeys(record.refs) if len(record.refs) > 1 else record.refs:
            rel = ref.rel
            position = positions.get(rel, 0)
            positions[rel] = position + 1
            target = targets.get((ref.kind, ref.source_id))
            if target is None:
                to_id = maker(ref.kind).bytes_of(ref.source_id)
                target = targets[ref.kind, ref.source_id] = UUID_FIELD + to_id
            rel_field = fields.get(rel)
            if rel_field is None:
                rel_field = fields[rel] = text_binary(rel)
            append(join((head, rel_field, target, cloud, int2_binary(position))))


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


MembershipEncoder = Callable[[str, str, str, str | None, str, dict[str, Any], str], bytes]
"""``encode(source_id, person, section, school, role, data, digest)``: a membership's row for
``COPY``, from its record's values (references by source id) and its digest."""


def first_membership_rows(
    normalizer: Normalizer,
    records: Iterable[tuple[SourceMembership, str]],
    now: dt.datetime,
    fields: ReferenceFields | None = None,
) -> Iterator[bytes]:
    """The bytes :func:`membership_rows` makes of ``normalizer.membership_row(record, digest)``
    for each of ``records`` (record, digest), made without those rows
    (:func:`membership_encoder`)."""
    encode = membership_encoder(normalizer, now, fields)
    for r, digest in records:
        yield encode(
            r.source_id,
            r.person_source_id,
            r.section_source_id,
            r.school_source_id,
            r.role,
            r.data,
            digest,
        )


def membership_encoder(
    normalizer: Normalizer, now: dt.datetime, fields: ReferenceFields | None = None
) -> MembershipEncoder:
    """What encodes the rows of a cloud's first memberships from their records' values, as
    :func:`membership_rows` would encode ``normalizer.membership_row(record, digest)``.

    For a cloud's first collection, whose memberships are only written (nothing compares or logs
    them one by one): no :class:`MembershipRow` and no UUID object per row — the id's bytes come
    from the hash, a person's, section's and school's field bytes are made once per source id (in
    ``fields``, if given), and equal ``data`` dicts (the reader shares them) are encoded once. Half
    the Python time of :func:`membership_rows` with the rows built first (731,314 memberships: 1.7 s
    against 3.3 s, BENCHMARKS session 11). The memberships' loader calls it for each row as it is
    read, without a record in between (:mod:`interop_hub.ingest.loader`).
    """
    start = field_count(len(MEMBERSHIP_COLUMNS)) + UUID_FIELD
    head = uuid_binary(normalizer.cloud_id)
    stamps = timestamptz_binary(now) * 2
    make_id = normalizer.membership_id.bytes_of
    person_id, section_id, org_id = (
        normalizer.ids.maker(kind).bytes_of for kind in ("person", "section", "org")
    )
    known = fields if fields is not None else ReferenceFields()
    persons, sections, schools = known.persons, known.sections, known.schools
    roles: dict[str, bytes] = {}
    # id(data) → (data, its field): the dict is kept alongside, so its id cannot be reused
    datas: dict[int, tuple[dict[str, Any], bytes]] = {}
    join = b"".join
    length = _LENGTH

    def encode(
        source_id: str,
        person_sid: str,
        section_sid: str,
        school_sid: str | None,
        role_name: str,
        data: dict[str, Any],
        digest: str,
    ) -> bytes:
        person = persons.get(person_sid)
        if person is None:
            person = persons[person_sid] = UUID_FIELD + person_id(person_sid)
        section = sections.get(section_sid)
        if section is None:
            section = sections[section_sid] = UUID_FIELD + section_id(section_sid)
        school_key = school_sid or ""
        school = schools.get(school_key)
        if school is None:
            school = schools[school_key] = UUID_FIELD + org_id(school_key)
        role = roles.get(role_name)
        if role is None:
            role = roles[role_name] = text_binary(role_name)
        encoded = datas.get(id(data))
        if encoded is None or encoded[0] is not data:
            encoded = (data, json_binary(data))
            if len(datas) < _SHARED_DATA:
                datas[id(data)] = encoded
        sid, digested = source_id.encode(), digest.encode()
        return join(
            (
                start,
                make_id(source_id),
                head,
                length(len(sid)),
                sid,
                stamps,
                person,
                section,
                school,
                role,
                encoded[1],
                length(len(digested)),
                digested,
            )
        )

    return encode
