"""What a scoped tenant sees (DESIGN §3.6, issue 5). Pure logic, no database.

With no school and no course selected, a tenant sees the whole district. Otherwise, with
``S`` the selected schools (every school of the district when only courses are selected) and
``C`` the selected courses:

- **orgs**: ``S`` and their ancestors (the LEA);
- **sections**: those at a school of ``S`` — of a course of ``C`` when courses are selected;
- **courses**: the courses of those sections, and the courses of the schools of ``S`` (of
  ``C`` only, when courses are selected);
- **persons**: the members of those sections, and — when no course is selected — the persons
  of the schools of ``S``; then the agents (contacts) of those persons;
- **terms**: the terms of those sections and the school years of those courses, with their
  ancestors;
- **grading categories**: those of a visible section, or, without a section, of a school of
  ``S`` or of no school;
- **section memberships**: those whose person and section are both visible.

Relationships shown in an object's JSON (``$schools``, ``$children``, ``$students``, ...) list
only what the tenant sees: :meth:`Scope.filter` drops the others. :func:`visible` computes the
set from a :class:`District` held in memory; :mod:`interop_hub.scoping.queries` computes the
same set in SQL, and the property tests hold the two against each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, NamedTuple

SCHOOL = ("org", "school")


@dataclass(frozen=True)
class Selection:
    """The schools and courses a district selected for a tenant (by Repository id)."""

    schools: frozenset[uuid.UUID] = frozenset()
    courses: frozenset[uuid.UUID] = frozenset()

    @property
    def whole_district(self) -> bool:
        return not self.schools and not self.courses


@dataclass
class District:
    """What visibility depends on: each object's kind and subtype, the links between objects
    (``from --rel--> to``) and the section memberships (person, section)."""

    objects: dict[uuid.UUID, tuple[str, str | None]] = field(default_factory=dict)
    links: list[tuple[uuid.UUID, str, uuid.UUID]] = field(default_factory=list)
    members: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)

    def linked(self, rel: str, targets: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Objects with a ``rel`` link to one of ``targets``."""
        return {f for f, r, t in self.links if r == rel and t in targets}

    def targets(self, sources: Collection[uuid.UUID], rel: str) -> set[uuid.UUID]:
        """What ``sources`` link to through ``rel``."""
        return {t for f, r, t in self.links if r == rel and f in sources}

    def of_kind(self, kind: str, subtype: str | None = None) -> set[uuid.UUID]:
        return {
            i
            for i, (k, s) in self.objects.items()
            if k == kind and (subtype is None or s == subtype)
        }


def with_ancestors(
    start: Iterable[uuid.UUID], parents: Mapping[uuid.UUID, Collection[uuid.UUID]]
) -> set[uuid.UUID]:
    """``start`` and everything up their ``parent`` links (a source may have cycles)."""
    found = set(start)
    pending = list(found)
    while pending:
        for parent in parents.get(pending.pop(), ()):
            if parent not in found:
                found.add(parent)
                pending.append(parent)
    return found


def parent_map(
    links: Iterable[tuple[uuid.UUID, str, uuid.UUID]],
) -> dict[uuid.UUID, set[uuid.UUID]]:
    parents: dict[uuid.UUID, set[uuid.UUID]] = {}
    for source, rel, target in links:
        if rel == "parent":
            parents.setdefault(source, set()).add(target)
    return parents


def schools_in_scope(selection: Selection, schools: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """``S``: the selected schools that exist, or every school when only courses are selected."""
    if selection.schools:
        return set(selection.schools) & set(schools)
    return set(schools)


def categories_in_scope(
    categories: Mapping[uuid.UUID, tuple[Collection[uuid.UUID], Collection[uuid.UUID]]],
    sections: Collection[uuid.UUID],
    schools: Collection[uuid.UUID],
) -> set[uuid.UUID]:
    """Grading categories (id → its sections, its schools) that the tenant sees."""
    return {
        category
        for category, (of_sections, of_schools) in categories.items()
        if (any(s in sections for s in of_sections))
        or (not of_sections and (not of_schools or any(s in schools for s in of_schools)))
    }


def visible(district: District, selection: Selection) -> frozenset[uuid.UUID] | None:
    """The objects a tenant with ``selection`` sees (None: the whole district)."""
    if selection.whole_district:
        return None
    parents = parent_map(district.links)
    schools = schools_in_scope(selection, district.of_kind(*SCHOOL))
    orgs = with_ancestors(schools, parents)
    sections = district.linked("org", schools) & district.of_kind("section")
    if selection.courses:
        sections &= district.linked("course", selection.courses)
    courses = district.targets(sections, "course")
    if selection.courses:
        courses |= district.linked("orgs", orgs) & selection.courses
    else:
        courses |= district.linked("orgs", schools)
    persons = {person for person, section in district.members if section in sections}
    if not selection.courses:
        persons |= district.linked("schools", schools) & district.of_kind("person")
    persons |= district.targets(persons, "agents")
    terms = with_ancestors(
        district.targets(sections, "terms") | district.targets(courses, "school_year"), parents
    )
    categories = categories_in_scope(
        {
            category: (
                district.targets({category}, "section"),
                district.targets({category}, "schools"),
            )
            for category in district.of_kind("grading_category")
        },
        sections,
        schools,
    )
    found = orgs | sections | courses | persons | terms | categories
    return frozenset(found & district.objects.keys())


class Scope:
    """A tenant's visible objects, as a test and a filter (``ids`` None: the whole district).

    Works on JSON bodies as the hub renders them: an object is seen when its ``$sys.id`` is; a
    section membership (a body with ``$person`` and ``$section``) when both sides are.
    """

    __slots__ = ("_text", "ids")

    def __init__(self, ids: Collection[uuid.UUID] | None) -> None:
        self.ids = None if ids is None else frozenset(ids)
        self._text: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        return self.ids is None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scope) and self.ids == other.ids

    def __hash__(self) -> int:
        return hash(self.ids)

    def __repr__(self) -> str:
        return "Scope(everything)" if self.ids is None else f"Scope({len(self.ids)} objects)"

    def has(self, object_id: uuid.UUID | str) -> bool:
        if self.ids is None:
            return True
        if isinstance(object_id, uuid.UUID):
            return object_id in self.ids
        return str(object_id) in self._texts()

    def has_all(self, object_ids: AbstractSet[str]) -> bool:
        """Whether the scope holds every one of ``object_ids`` (ids as text, as in JSON): one
        set comparison where :meth:`filter` would test each reference."""
        return self.ids is None or object_ids <= self._texts()

    def _texts(self) -> frozenset[str]:
        if self._text is None:
            self._text = frozenset(str(i) for i in self.ids or ())
        return self._text

    def sees(self, body: Mapping[str, Any]) -> bool:
        if self.ids is None:
            return True
        person = body.get("$person")
        if person is not None:  # a section membership (no object has a ``$person``)
            return self.has(person["id"]) and self.has(body["$section"]["id"])
        return self.has(body["$sys"]["id"])

    def filter(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` without the references to objects outside the scope (``body`` itself when
        nothing goes)."""
        if self.ids is None:
            return body
        has = self.has
        changed: dict[str, Any] = {}
        for key, value in body.items():
            if key[0] != "$" or key in ("$sys", "$ext"):
                continue
            if isinstance(value, Mapping):
                if "id" in value and not has(value["id"]):
                    changed[key] = None
            elif isinstance(value, list) and value:
                kept = [ref for ref in value if _kept(ref, has)]
                if len(kept) != len(value):
                    changed[key] = kept
        return {**body, **changed} if changed else body


def references(body: Mapping[str, Any]) -> Iterator[Any]:
    """The ids an object's JSON refers to (in its relationship fields, the ``$`` ones but
    ``$sys`` and ``$ext``): what :meth:`Scope.filter` may drop."""
    for key, value in body.items():
        if key[0] != "$" or key in ("$sys", "$ext"):
            continue
        for ref in value if isinstance(value, list) else (value,):
            if isinstance(ref, Mapping) and ref.get("id"):
                yield ref["id"]


def filter_ids(body: Mapping[str, Any]) -> frozenset[str]:
    """The ids (as text) :meth:`Scope.filter` tests in ``body``: a scope that
    :meth:`~Scope.has_all` of them leaves ``body`` as it is."""
    found: set[str] = set()
    for key, value in body.items():
        if key[0] != "$" or key in ("$sys", "$ext"):
            continue
        if isinstance(value, Mapping):
            if "id" in value:
                found.add(str(value["id"]))
        elif isinstance(value, list):
            found.update(str(r["id"]) for r in value if isinstance(r, Mapping) and r.get("id"))
    return frozenset(found)


def _kept(ref: Any, has: Callable[[Any], bool]) -> bool:
    """Whether a list item stays: anything but a reference to an object outside the scope."""
    if not isinstance(ref, Mapping):
        return True
    ref_id = ref.get("id")
    return not ref_id or has(ref_id)


EVERYTHING = Scope(None)


class Moved(NamedTuple):
    """A tenant's scope before and after a change (a collection, a new selection)."""

    before: Scope
    after: Scope
