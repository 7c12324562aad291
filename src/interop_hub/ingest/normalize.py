"""Source records → Repository rows: stable ids, links and a digest of what the source says.

The digest covers everything the source states about an object (type, label, school year,
fields and references) or a membership (person, section, school, role, fields), so comparing
digests finds changed rows without loading them.

It is computed from the source record itself, references as ``(kind, source id)``
(:func:`object_digest`, :func:`membership_digest`), so a nightly recognizes an unchanged row
before building it: no ids, no links, no row. The record is the reader's output, after
everything a row depends on beyond its own CSV line was folded in (demographics, 1.2 roles,
school years rolled up from terms and courses), so equal digests mean equal rows. These digests
start with :data:`DIGEST_PREFIX`. Digests stored by earlier versions are compared their way:
one starting with :data:`PREVIOUS_PREFIX` is the same digest of the record with BLAKE2b
(:func:`previous_object_digest`, :func:`previous_membership_digest`: computed only for a record
whose digest differs, and left in place when it matches); one without a prefix was computed
over the built row with ids (:func:`legacy_object_digest`, :func:`legacy_membership_digest`).

Why XXH3 (128 bits) rather than BLAKE2b: hashing is per row (871,000 rows in a first collection
of 100,000 students), and BLAKE2b's call cost ~0.7 µs a row here against ~0.1 µs. A changed
record passes for an unchanged one with a chance of 2⁻¹²⁰ per pair. It is not a cryptographic
hash, as the lines' keys are not (:mod:`interop_hub.ingest.oneroster.lines`): whoever writes the
file could only make their own row keep its old values, which editing the row does anyway.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final, cast

import orjson
import xxhash

from interop_hub.ingest.records import SourceMembership, SourceObject
from interop_hub.repository.ids import CachedIds, IdMaker

DIGEST_PREFIX: Final = "r2"
"""Marks a digest of the source record (version 2, XXH3); legacy digests are 32 hex digits, so
they never start with ``r``. The column holds 32 characters: the prefix and 120 bits in hex."""
DIGEST_DIGITS: Final = 30
"""The hex digits of a record digest after its prefix."""
PREVIOUS_PREFIX: Final = "r1"
"""Marks a digest of the source record by the version before (BLAKE2b, 15 bytes)."""

_OPTIONS: Final = orjson.OPT_SORT_KEYS
_ANY_KEYS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_dumps = orjson.dumps
_blake2b = hashlib.blake2b
_xxh3_128 = xxhash.xxh3_128_hexdigest
_by_rel_position = itemgetter(0, 3)


def digest_encoding(value: Any) -> bytes:
    """``value`` as the digests hash it: JSON with sorted keys.

    Digests were first made with ``OPT_NON_STR_KEYS`` too, which gives the same bytes while
    every key is a string (as every key of a record's values is) but made each call ~70 %
    slower (a user's record: 1.4 against 0.8 µs). A key that is not a string is still encoded
    as it was. :func:`_record_digest`, on the hot path, inlines this."""
    try:
        return _dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a key that is not a string, none expected
        return _dumps(value, option=_ANY_KEYS)


@dataclass(frozen=True, slots=True)
class ObjectRow:
    id: uuid.UUID
    kind: str
    subtype: str | None
    source_id: str
    label: str
    school_year: int | None
    data: dict[str, Any]
    links: tuple[tuple[str, uuid.UUID, int], ...]  # (rel, to_id, position)
    digest: str

    def view(self) -> dict[str, Any]:
        """The comparable view of the object: what the change set's prior values are made of."""
        return object_view(self.subtype, self.label, self.school_year, self.data, self.links)


@dataclass(frozen=True, slots=True)
class MembershipRow:
    id: uuid.UUID
    source_id: str
    person_id: uuid.UUID
    section_id: uuid.UUID
    school_id: uuid.UUID | None
    role: str
    data: dict[str, Any]
    digest: str

    def view(self) -> dict[str, Any]:
        return membership_view(
            self.person_id, self.section_id, self.school_id, self.role, self.data
        )


def _slotted(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...] | None:
    """The slot setters of frozen dataclass ``cls`` if its fields are exactly ``names``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; setting
    the slots through their descriptors gives the same object in under half the time (a
    collection builds a row per new or changed record: 870,000 in a first collection of
    100,000 students). None (use the class) should the fields ever differ.
    """
    fields = tuple(f.name for f in dataclasses.fields(cls))
    setters = tuple(getattr(getattr(cls, n, None), "__set__", None) for n in names)
    if fields != names or None in setters:
        return None
    return cast(tuple[Callable[[Any, Any], None], ...], setters)


def _membership_row_maker() -> Callable[..., MembershipRow]:
    names = ("id", "source_id", "person_id", "section_id", "school_id", "role", "data", "digest")
    setters = _slotted(MembershipRow, names)
    if setters is None:
        return MembershipRow
    s_id, s_source, s_person, s_section, s_school, s_role, s_data, s_digest = setters
    new = object.__new__

    def make(
        row_id: uuid.UUID,
        source_id: str,
        person_id: uuid.UUID,
        section_id: uuid.UUID,
        school_id: uuid.UUID | None,
        role: str,
        data: dict[str, Any],
        digest: str,
    ) -> MembershipRow:
        row: MembershipRow = new(MembershipRow)
        s_id(row, row_id)
        s_source(row, source_id)
        s_person(row, person_id)
        s_section(row, section_id)
        s_school(row, school_id)
        s_role(row, role)
        s_data(row, data)
        s_digest(row, digest)
        return row

    return make


_new_membership_row = _membership_row_maker()


def is_record_digest(digest: str) -> bool:
    """Whether a stored digest is a record digest of this version (else one of an earlier)."""
    return digest.startswith(DIGEST_PREFIX)


def is_previous_digest(digest: str) -> bool:
    """Whether a stored digest is a record digest of the version before (BLAKE2b)."""
    return digest.startswith(PREVIOUS_PREFIX)


def _record_digest(value: Any) -> str:
    try:
        encoded = _dumps(value, option=_OPTIONS)
    except TypeError:  # see digest_encoding
        encoded = _dumps(value, option=_ANY_KEYS)
    return DIGEST_PREFIX + _xxh3_128(encoded)[:DIGEST_DIGITS]


def record_digests(encodings: Iterable[bytes]) -> list[str]:
    """The record digest of each of ``encodings`` (values as :func:`digest_encoding` encodes
    them): for a caller that assembles many encodings at once (:mod:`.columnar`)."""
    hexdigest, prefix, digits = _xxh3_128, DIGEST_PREFIX, DIGEST_DIGITS
    return [prefix + hexdigest(encoded)[:digits] for encoded in encodings]


def _previous_digest(value: Any) -> str:
    return PREVIOUS_PREFIX + _blake2b(digest_encoding(value), digest_size=15).hexdigest()


def object_digest(record: SourceObject) -> str:
    """The digest of what ``record`` states: its fields and its links by source id.

    Links as the built row has them: one per distinct reference, numbered in order within
    their relationship, sorted by relationship then position.
    """
    return _record_digest(_object_statement(record))


def previous_object_digest(record: SourceObject) -> str:
    """:func:`object_digest` as the version before computed it."""
    return _previous_digest(_object_statement(record))


def _object_statement(record: SourceObject) -> list[Any]:
    refs = record.refs
    links: list[tuple[str, str, str, int]] = []
    if len(refs) == 1:
        ref = refs[0]
        links.append((ref.rel, ref.kind, ref.source_id, 0))
    elif refs:
        positions: dict[str, int] = {}
        for ref in dict.fromkeys(refs):
            position = positions.get(ref.rel, 0)
            positions[ref.rel] = position + 1
            links.append((ref.rel, ref.kind, ref.source_id, position))
        links.sort(key=_by_rel_position)
    return [record.subtype, record.label, record.school_year, record.data, links]


def membership_digest(record: SourceMembership) -> str:
    """The digest of what ``record`` states (its references by source id)."""
    return membership_values_digest(
        record.person_source_id,
        record.section_source_id,
        record.school_source_id,
        record.role,
        record.data,
    )


def membership_values_digest(
    person: str, section: str, school: str | None, role: str, data: dict[str, Any]
) -> str:
    """:func:`membership_digest` of a record of these values (for a loop without records)."""
    return _record_digest([person, section, school, role, data])


def previous_membership_digest(record: SourceMembership) -> str:
    """:func:`membership_digest` as the version before computed it."""
    return _previous_digest(
        [
            record.person_source_id,
            record.section_source_id,
            record.school_source_id,
            record.role,
            record.data,
        ]
    )


def _legacy_digest(value: Any) -> str:
    return _blake2b(digest_encoding(value), digest_size=16).hexdigest()


def legacy_object_digest(row: ObjectRow) -> str:
    """The digest earlier versions stored for ``row`` (over its ids; links in row order)."""
    return _legacy_digest([row.subtype, row.label, row.school_year, row.data, _link_key(row.links)])


def legacy_membership_digest(row: MembershipRow) -> str:
    """The digest earlier versions stored for ``row``."""
    school = str(row.school_id) if row.school_id is not None else "None"
    return _legacy_digest([str(row.person_id), str(row.section_id), school, row.role, row.data])


class Normalizer:
    """Builds one collection's rows; holds its ids (:class:`CachedIds`) while it runs."""

    def __init__(self, cloud_id: uuid.UUID) -> None:
        self.cloud_id = cloud_id
        self.ids = CachedIds(cloud_id)
        self.membership_id = IdMaker(cloud_id, "membership")
        self._persons = self.ids.cache("person")
        self._sections = self.ids.cache("section")
        self._orgs = self.ids.cache("org")

    def object_id(self, kind: str, source_id: str) -> uuid.UUID:
        return self.ids.get(kind, source_id)

    def object_row(self, record: SourceObject, digest: str) -> ObjectRow:
        """The row of ``record``, whose digest (:func:`object_digest`) the caller has."""
        get = self.ids.get
        positions: dict[str, int] = {}
        links = []
        # A source may name the same target twice in one list ("s1,s1"): it is one relationship.
        for ref in dict.fromkeys(record.refs):
            position = positions.get(ref.rel, 0)
            positions[ref.rel] = position + 1
            links.append((ref.rel, get(ref.kind, ref.source_id), position))
        if len(links) > 1:
            links.sort(key=_by_rel_and_position)
        return ObjectRow(
            get(record.kind, record.source_id),
            record.kind,
            record.subtype,
            record.source_id,
            record.label,
            record.school_year,
            record.data,
            tuple(links),
            digest,
        )

    def membership_row(self, record: SourceMembership, digest: str) -> MembershipRow:
        """The row of ``record``, whose digest (:func:`membership_digest`) the caller has."""
        get = self.ids.get
        person = self._persons.get(record.person_source_id) or get(
            "person", record.person_source_id
        )
        section = self._sections.get(record.section_source_id) or get(
            "section", record.section_source_id
        )
        school_sid = record.school_source_id
        school = (self._orgs.get(school_sid) or get("org", school_sid)) if school_sid else None
        return _new_membership_row(
            self.membership_id(record.source_id),
            record.source_id,
            person,
            section,
            school,
            record.role,
            record.data,
            digest,
        )


_by_rel_and_position = itemgetter(0, 2)


def _link_key(links: tuple[tuple[str, uuid.UUID, int], ...]) -> list[list[Any]]:
    return [[rel, str(to), pos] for rel, to, pos in links]


def object_view(
    subtype: str | None,
    label: str,
    school_year: int | None,
    data: dict[str, Any],
    links: tuple[tuple[str, uuid.UUID, int], ...],
) -> dict[str, Any]:
    view: dict[str, Any] = {"$label": label, "$subtype": subtype, "$school_year": school_year}
    view.update(data)
    grouped: dict[str, list[tuple[int, str]]] = {}
    for rel, to_id, position in links:
        grouped.setdefault(f"${rel}", []).append((position, str(to_id)))
    for key, items in grouped.items():
        view[key] = [to for _, to in sorted(items)]
    return view


def membership_view(
    person_id: uuid.UUID,
    section_id: uuid.UUID,
    school_id: uuid.UUID | None,
    role: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "$person": str(person_id),
        "$section": str(section_id),
        "$school": str(school_id) if school_id else None,
        "role": role,
    }
    view.update(data)
    return view


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The prior values of the fields whose value differs (a field that appeared has prior
    ``None``)."""
    return {
        key: before.get(key)
        for key in before.keys() | after.keys()
        if before.get(key) != after.get(key)
    }
