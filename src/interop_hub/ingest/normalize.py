"""Source records → Repository rows: stable ids, links and a digest of what the source says.

The digest covers everything the source states about an object (type, label, school year,
fields and references), so comparing digests finds changed objects without loading them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from interop_hub.ingest.records import SourceMembership, SourceObject
from interop_hub.repository.ids import CachedIds, IdMaker


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


def _digest(value: Any) -> str:
    encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


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

    def object_row(self, record: SourceObject) -> ObjectRow:
        get = self.ids.get
        positions: dict[str, int] = {}
        links = []
        # A source may name the same target twice in one list ("s1,s1"): it is one relationship.
        for ref in dict.fromkeys(record.refs):
            position = positions.get(ref.rel, 0)
            positions[ref.rel] = position + 1
            links.append((ref.rel, get(ref.kind, ref.source_id), position))
        return make_object_row(
            get(record.kind, record.source_id),
            record.kind,
            record.subtype,
            record.source_id,
            record.label,
            record.school_year,
            record.data,
            tuple(links),
        )

    def membership_row(self, record: SourceMembership) -> MembershipRow:
        get = self.ids.get
        person = self._persons.get(record.person_source_id) or get(
            "person", record.person_source_id
        )
        section = self._sections.get(record.section_source_id) or get(
            "section", record.section_source_id
        )
        school_sid = record.school_source_id
        school = (self._orgs.get(school_sid) or get("org", school_sid)) if school_sid else None
        return MembershipRow(
            id=self.membership_id(record.source_id),
            source_id=record.source_id,
            person_id=person,
            section_id=section,
            school_id=school,
            role=record.role,
            data=record.data,
            digest=_digest([str(person), str(section), str(school), record.role, record.data]),
        )


def make_object_row(
    row_id: uuid.UUID,
    kind: str,
    subtype: str | None,
    source_id: str,
    label: str,
    school_year: int | None,
    data: dict[str, Any],
    links: tuple[tuple[str, uuid.UUID, int], ...],
) -> ObjectRow:
    """An object row with its digest (links in a canonical order)."""
    links = tuple(sorted(links, key=lambda link: (link[0], link[2])))
    digest = _digest([subtype, label, school_year, data, _link_key(links)])
    return ObjectRow(row_id, kind, subtype, source_id, label, school_year, data, links, digest)


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
