"""Repository rows → the Data API's JSON (DESIGN §5).

An object is ``$sys``, ``$ext``, its own fields (``data`` without ``"$ext"``) and its relationship
fields. Nothing here touches the database: :class:`Relations` holds what the queries loaded for a
whole page, and :func:`render` reads an object's share of it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from interop_hub.rostering.queries import (
    COURSE,
    GRADING_CATEGORY,
    ORG,
    PERSON,
    SECTION,
    TERM,
    Linked,
    Member,
    Refs,
)

KIND_TYPES = {
    ORG: "Org",
    PERSON: "Person",
    COURSE: "Course",
    SECTION: "Section",
    TERM: "Term",
    GRADING_CATEGORY: "GradingCategory",
}
SUBTYPE_TYPES = {
    (ORG, "lea"): "LEA",
    (ORG, "school"): "School",
    (PERSON, "student"): "Student",
    (PERSON, "teacher"): "Teacher",
    (PERSON, "staff"): "Staff",
    (PERSON, "contact"): "Contact",
}
SUBTYPE_KEYS = {ORG: "org_type", PERSON: "person_type", TERM: "term_type"}

OUT_RELS: dict[str, tuple[str, ...]] = {
    ORG: ("parent",),
    PERSON: ("schools",),
    COURSE: ("orgs",),
    SECTION: ("terms", "course", "org"),
    TERM: ("parent",),
    GRADING_CATEGORY: ("term", "section", "schools"),
}
"""The links an object's JSON shows, by kind."""

IN_RELS: dict[str, tuple[str, ...]] = {ORG: ("parent",), TERM: ("parent",), COURSE: ("course",)}
"""The links pointing at an object that its JSON shows (``$children``, a course's
``$sections``), by kind."""

SECTION_ROLES = ("student", "teacher")


class ObjectRow(Protocol):
    """What rendering reads of an object: a ``RepoObject``, or a row of
    :data:`interop_hub.rostering.queries.OBJECT_COLUMNS`."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def subtype(self) -> str | None: ...
    @property
    def source_id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def school_year(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def updated_at(self) -> dt.datetime: ...


def type_name(kind: str, subtype: str | None) -> str:
    return SUBTYPE_TYPES.get((kind, subtype or ""), KIND_TYPES.get(kind, kind))


def reference(object_id: uuid.UUID, kind: str, subtype: str | None, label: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"id": object_id, "type": type_name(kind, subtype), "label": label}
    key = SUBTYPE_KEYS.get(kind)
    if key is not None:
        ref[key] = subtype
    return ref


def _member_ref(ref: dict[str, Any], row: Member) -> dict[str, Any]:
    return {
        **ref,
        "membership": {
            "id": row.membership_id,
            "role": row.role,
            "primary": row.data.get("primary"),
            "begin_date": row.data.get("begin_date"),
            "end_date": row.data.get("end_date"),
        },
    }


def sys_block(obj: ObjectRow) -> dict[str, Any]:
    block: dict[str, Any] = {
        "id": obj.id,
        "type": type_name(obj.kind, obj.subtype),
        "label": obj.label,
        "school_year": obj.school_year,
    }
    key = SUBTYPE_KEYS.get(obj.kind)
    if key is not None:
        block[key] = obj.subtype
    block["source_id"] = {"sis": obj.source_id}
    block["app_id"] = {}
    block["created_at"] = obj.created_at
    block["updated_at"] = obj.updated_at
    return block


@dataclass
class Relations:
    """What was loaded for a page, grouped by the page's object and relationship name."""

    out: dict[tuple[uuid.UUID, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    into: dict[tuple[uuid.UUID, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    members: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @classmethod
    def of(
        cls, out: Iterable[Linked], into: Iterable[Linked], members: Iterable[Member], refs: Refs
    ) -> Relations:
        """Group what was loaded, each related object shown as ``refs`` has it (those it
        lacks are left out). An object's reference is made once and shared by every body
        that shows it: bodies are read, never changed."""
        relations = cls()
        made: dict[int, dict[str, Any]] = {}

        def ref(object_id: uuid.UUID) -> dict[str, Any] | None:
            found = made.get(object_id.int)
            if found is None and (known := refs.get(object_id)) is not None:
                found = made[object_id.int] = reference(*known)
            return found

        for rows, grouped in ((out, relations.out), (into, relations.into)):
            for link in rows:
                if (shown := ref(link.id)) is not None:
                    grouped[link.owner, link.rel].append(shown)
        for member in members:
            if (shown := ref(member.id)) is not None:
                relations.members[member.owner].append((member.role, _member_ref(shown, member)))
        return relations

    def many(self, owner: uuid.UUID, rel: str) -> list[dict[str, Any]]:
        return list(self.out.get((owner, rel), ()))

    def one(self, owner: uuid.UUID, rel: str) -> dict[str, Any] | None:
        found = self.out.get((owner, rel))
        return found[0] if found else None

    def reverse(self, owner: uuid.UUID, rel: str) -> list[dict[str, Any]]:
        return list(self.into.get((owner, rel), ()))

    def roles(self, owner: uuid.UUID, *roles: str) -> list[dict[str, Any]]:
        """Membership refs of ``owner`` with one of ``roles`` (any role when none is given), in
        the order they were loaded (by the referenced object's id)."""
        found = self.members.get(owner, ())
        return [ref for role, ref in found if not roles or role in roles]


def render(obj: ObjectRow, rel: Relations) -> dict[str, Any]:
    data = obj.data or {}
    body: dict[str, Any] = {"$sys": sys_block(obj), "$ext": data.get("$ext") or {}}
    body.update((key, value) for key, value in data.items() if key != "$ext")
    oid = obj.id
    if obj.kind in (ORG, TERM):
        body["$parent"] = rel.one(oid, "parent")
        body["$children"] = rel.reverse(oid, "parent")
    elif obj.kind == PERSON:
        body["$schools"] = rel.many(oid, "schools")
        body["$sections"] = rel.roles(oid)
    elif obj.kind == COURSE:
        body["$orgs"] = rel.many(oid, "orgs")
        body["$sections"] = rel.reverse(oid, "course")
    elif obj.kind == SECTION:
        body["$terms"] = rel.many(oid, "terms")
        body["$course"] = rel.one(oid, "course")
        body["$org"] = rel.one(oid, "org")
        body["$teachers"] = rel.roles(oid, "teacher")
        body["$students"] = rel.roles(oid, "student")
    elif obj.kind == GRADING_CATEGORY:
        body["$term"] = rel.one(oid, "term")
        body["$section"] = rel.one(oid, "section")
        body["$schools"] = rel.many(oid, "schools") or None
    return body
