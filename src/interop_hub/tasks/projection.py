"""What one tenant sees of the Repository, as its blueprint says (DESIGN §5, §6). Pure logic.

A :class:`TenantView` maps Repository objects and section memberships to the tenant's topics and
projects their JSON (as the query API renders it) to the attributes the topic lists:

- only listed topics are seen; a topic whose consumer role is disabled produces nothing of its
  own (a membership topic's changes then reach the tenant only through the roll-ups);
- ``$sys`` is always there; a topic without ``<Attributes>`` sees every ordinary attribute and
  no roll-up; a topic with ``<Attributes>`` sees exactly those (roll-ups included when listed),
  and the attribute ``*`` stands for every ordinary attribute (an extension: ``*`` plus the
  roll-ups is "everything");
- ``Staff`` stands for teachers too when the blueprint has no ``Teacher`` topic;
- events are named by the topic the blueprint declared (``CourseSection``, ``Staff``, ...), so a
  driver finds the names its blueprint uses.

School enrollments (``StudentSchoolEnrollment``, ``TeacherSchoolEnrollment``) are stored as a
person's ``$schools`` and reach tenants through that roll-up; they have no events of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from interop_hub.integrations.blueprint import ROLLUP_ATTRIBUTES, Blueprint, TopicSpec

OBJECT_TOPICS: dict[str, tuple[str, str | None]] = {
    "LEA": ("org", "lea"),
    "School": ("org", "school"),
    "Student": ("person", "student"),
    "Teacher": ("person", "teacher"),
    "Staff": ("person", "staff"),
    "Contact": ("person", "contact"),
    "Term": ("term", None),
    "Course": ("course", None),
    "Section": ("section", None),
    "GradingCategory": ("grading_category", None),
}
"""Canonical object topics → (kind, subtype); ``None``: every subtype of the kind."""

SECTION_MEMBERSHIP_TOPICS: dict[str, str] = {
    "StudentSectionEnrollment": "student",
    "TeacherSectionEnrollment": "teacher",
}
"""Section membership topics → the membership role they carry."""

KIND_ORDER = ("org", "term", "course", "person", "section", "grading_category", "membership")
"""Dependency order of a sync: what an object refers to comes before it."""
SUBTYPE_ORDER = {"lea": 0, "schoolYear": 0, "semester": 1, "term": 2, "gradingPeriod": 3}
"""Within a kind: an LEA before its schools, a school year before its semesters and terms."""


@dataclass(frozen=True, slots=True)
class Topic:
    object_type: str  # the topic name the blueprint declared
    attributes: tuple[str, ...] | None

    def project(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.attributes is None or "*" in self.attributes:
            projected = {k: v for k, v in body.items() if k not in ROLLUP_ATTRIBUTES}
        else:
            projected = {"$sys": body["$sys"]}
        if self.attributes is not None:
            projected.update((k, body[k]) for k in self.attributes if k in body)
        return projected

    def dropped(self) -> frozenset[str] | None:
        """The keys :meth:`project` removes from a body when it keeps every other one: the
        roll-ups the topic does not list. None when the topic keeps only the attributes it lists
        (whether that removes anything depends on the body)."""
        return _dropped(self.attributes)


@cache
def _dropped(attributes: tuple[str, ...] | None) -> frozenset[str] | None:
    if attributes is not None and "*" not in attributes:
        return None
    return ROLLUP_ATTRIBUTES.difference(attributes or ())


@dataclass(frozen=True)
class TenantView:
    objects: dict[tuple[str, str | None], Topic]
    memberships: dict[str, Topic]  # by role

    @classmethod
    def of(cls, blueprint: Blueprint) -> TenantView:
        objects: dict[tuple[str, str | None], Topic] = {}
        memberships: dict[str, Topic] = {}
        for name, spec in blueprint.topics.items():
            if spec.consumer_disabled:
                continue
            topic = _topic(spec)
            if name in OBJECT_TOPICS:
                objects[OBJECT_TOPICS[name]] = topic
            elif name in SECTION_MEMBERSHIP_TOPICS:
                memberships[SECTION_MEMBERSHIP_TOPICS[name]] = topic
        staff = objects.get(("person", "staff"))
        if staff is not None and ("person", "teacher") not in objects:
            objects["person", "teacher"] = staff
        return cls(objects, memberships)

    @classmethod
    def from_json(cls, blueprint: dict[str, Any]) -> TenantView:
        return cls.of(Blueprint.from_json(blueprint))

    def topic(self, kind: str, subtype: str | None) -> Topic | None:
        if kind == "membership":
            return self.memberships.get(subtype or "")
        return self.objects.get((kind, subtype)) or self.objects.get((kind, None))

    def named(self, object_type: str) -> Topic | None:
        """The topic a data event's ``object_type`` names."""
        for topic in (*self.objects.values(), *self.memberships.values()):
            if topic.object_type == object_type:
                return topic
        return None

    def sees_kind(self, kind: str) -> bool:
        if kind == "membership":
            return bool(self.memberships)
        return any(k == kind for k, _ in self.objects)

    def subtypes(self, kind: str) -> list[str | None] | None:
        """The subtypes of ``kind`` the tenant sees; None: all of them; [] none."""
        found = [subtype for k, subtype in self.objects if k == kind]
        return None if None in found else found

    def project(
        self, kind: str, subtype: str | None, body: Mapping[str, Any] | None
    ) -> tuple[Topic, dict[str, Any]] | None:
        """The topic and the projected JSON of an object, or None when the tenant does not see
        it (or it does not exist)."""
        if body is None:
            return None
        topic = self.topic(kind, subtype)
        if topic is None:
            return None
        return topic, topic.project(body)


def _topic(spec: TopicSpec) -> Topic:
    return Topic(spec.declared_name, spec.attributes)


def sort_key(kind: str, subtype: str | None, object_id: Any) -> tuple[int, int, str]:
    return (KIND_ORDER.index(kind), SUBTYPE_ORDER.get(subtype or "", 5), str(object_id))


def differs(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether the tenant sees a difference: any attribute, or ``$sys`` but its ``updated_at``
    (which moves whenever the Repository object does, whether the change is visible or not)."""
    if changed(before, after):
        return True
    sys_before = {k: v for k, v in before.get("$sys", {}).items() if k != "updated_at"}
    sys_after = {k: v for k, v in after.get("$sys", {}).items() if k != "updated_at"}
    return sys_before != sys_after


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The prior values of the attributes that differ (``$sys`` aside)."""
    return {
        key: before.get(key)
        for key in before.keys() | after.keys()
        if key != "$sys" and before.get(key) != after.get(key)
    }
