"""What a tenant sees of an object, by its blueprint (pure logic, no database)."""

from __future__ import annotations

from typing import Any

from interop_hub.integrations.blueprint import parse_blueprint
from interop_hub.tasks.projection import TenantView, changed, differs, sort_key


def view(topics: str) -> TenantView:
    return TenantView.of(
        parse_blueprint(
            f'<IntegrationBlueprint Version="1"><Topics>{topics}</Topics></IntegrationBlueprint>'
        )
    )


STUDENT: dict[str, Any] = {
    "$sys": {"id": "s-1", "type": "Student", "label": "Ann Lee", "updated_at": "t1"},
    "$ext": {"homeroom": "101"},
    "name": {"first": "Ann", "last": "Lee"},
    "email": "ann@example.org",
    "$schools": [{"id": "o-1"}],
    "$sections": [{"id": "k-1"}],
}


def test_a_topic_without_attributes_sees_every_ordinary_attribute_and_no_roll_up() -> None:
    topic, data = view('<Topic Name="Student"/>').project("person", "student", STUDENT) or (
        None,
        None,
    )
    assert topic is not None
    assert topic.object_type == "Student"
    assert data == {k: v for k, v in STUDENT.items() if k not in ("$schools", "$sections")}


def test_listed_attributes_are_all_it_sees_roll_ups_included() -> None:
    seen = view(
        '<Topic Name="Student"><Attributes><Attribute Name="name"/>'
        '<Attribute Name="$schools"/><Attribute Name="missing"/></Attributes></Topic>'
    ).project("person", "student", STUDENT)
    assert seen is not None
    assert seen[1] == {
        "$sys": STUDENT["$sys"],
        "name": STUDENT["name"],
        "$schools": [{"id": "o-1"}],
    }


def test_star_stands_for_every_ordinary_attribute() -> None:
    seen = view(
        '<Topic Name="Student"><Attributes><Attribute Name="*"/>'
        '<Attribute Name="$sections"/></Attributes></Topic>'
    ).project("person", "student", STUDENT)
    assert seen is not None
    assert set(seen[1]) == {"$sys", "$ext", "name", "email", "$sections"}


def test_unlisted_topics_and_missing_objects_are_not_seen() -> None:
    tenant = view('<Topic Name="Student"/>')
    assert tenant.project("person", "teacher", STUDENT) is None
    assert tenant.project("org", "school", {"$sys": {}}) is None
    assert tenant.project("person", "student", None) is None
    assert tenant.sees_kind("person")
    assert not tenant.sees_kind("section")
    assert tenant.subtypes("person") == ["student"]


def test_staff_stands_for_teachers_when_there_is_no_teacher_topic() -> None:
    staff_only = view('<Topic Name="Staff"/>')
    teacher = staff_only.topic("person", "teacher")
    assert teacher is not None
    assert teacher.object_type == "Staff"
    both = view('<Topic Name="Staff"/><Topic Name="Teacher"/>')
    found = both.topic("person", "teacher")
    assert found is not None
    assert found.object_type == "Teacher"


def test_events_are_named_as_the_blueprint_declares_them() -> None:
    tenant = view('<Topic Name="CourseSection"/><Topic Name="PersonSectionMembership"/>')
    section = tenant.topic("section", None)
    assert section is not None
    assert section.object_type == "CourseSection"
    for role in ("student", "teacher"):
        member = tenant.topic("membership", role)
        assert member is not None
        assert member.object_type == "PersonSectionMembership"
    assert tenant.topic("membership", "aide") is None


def test_a_disabled_consumer_role_produces_nothing_of_its_own() -> None:
    tenant = view(
        '<Topic Name="StudentSectionEnrollment"><Roles><Consumer Support="disabled"/></Roles>'
        '</Topic><Topic Name="Term"/>'
    )
    assert tenant.memberships == {}
    assert not tenant.sees_kind("membership")
    assert tenant.topic("term", "semester") is not None  # Term covers every term type


def test_differences_leave_updated_at_aside() -> None:
    later = {**STUDENT, "$sys": {**STUDENT["$sys"], "updated_at": "t2"}}
    assert not differs(STUDENT, later)
    relabelled = {**STUDENT, "$sys": {**STUDENT["$sys"], "label": "Ann Li"}}
    assert differs(STUDENT, relabelled)
    assert changed(STUDENT, relabelled) == {}
    moved = {**STUDENT, "email": None, "phone": "555"}
    assert changed(STUDENT, moved) == {"email": "ann@example.org", "phone": None}


def test_dependency_order() -> None:
    rows = [
        ("membership", "student", "m"),
        ("section", None, "k"),
        ("org", "school", "a"),
        ("term", "semester", "t2"),
        ("org", "lea", "z"),
        ("term", "schoolYear", "t9"),
        ("person", "student", "p"),
        ("course", None, "c"),
    ]
    assert [r[2] for r in sorted(rows, key=lambda r: sort_key(*r))] == [
        "z",
        "a",
        "t9",
        "t2",
        "c",
        "p",
        "k",
        "m",
    ]
