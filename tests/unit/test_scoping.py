"""What a scoped tenant sees (``interop_hub.scoping.visibility``), on hand-built districts.

The district of most tests (``DISTRICT``), by name:

- ``d1`` an LEA; ``s1`` and ``s2`` its schools; ``d1c`` a course of the LEA itself;
- school year ``y1`` with terms ``t1`` (s1's sections) and ``t2`` (s2's); school year ``y2``;
- ``c1`` a course of s1 (school year ``y1``), ``c1b`` another course of s1 (school year ``y2``)
  with no section, ``c2`` a course of s2, ``c4`` a course of s2 taught in s1 (section ``k4``);
- sections ``k1`` (s1, c1, t1), ``k2`` (s2, c2, t2), ``k4`` (s1, c4, t1);
- students ``u1`` (s1, in k1, contact ``p1``), ``u2`` (s2, in k2, contact ``p2``), ``u3`` (s1,
  in no section), ``u4`` (s1, in k4); teacher ``v1`` (s1 and s2, in k1 and k2);
- grading categories ``g1`` (of k1), ``g2`` (of k2), ``g3`` (of s1), ``g4`` (of s2),
  ``g5`` (of nothing).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from interop_hub.scoping.visibility import (
    EVERYTHING,
    District,
    Moved,
    Scope,
    Selection,
    categories_in_scope,
    filter_ids,
    parent_map,
    schools_in_scope,
    visible,
    with_ancestors,
)

NAMESPACE = uuid.UUID("6f1d5a52-3b1e-4f0e-9a57-1d2b7c1e0a11")


def oid(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def names(ids: Any) -> set[str]:
    """The names of ``ids`` (every id of these tests is ``oid`` of a name)."""
    back = {oid(name): name for name in KNOWN}
    return {back[i] for i in ids}


KINDS: dict[str, tuple[str, str | None]] = {
    "d1": ("org", "lea"),
    "s1": ("org", "school"),
    "s2": ("org", "school"),
    "y1": ("term", "schoolYear"),
    "y2": ("term", "schoolYear"),
    "t1": ("term", "term"),
    "t2": ("term", "term"),
    "d1c": ("course", None),
    "c1": ("course", None),
    "c1b": ("course", None),
    "c2": ("course", None),
    "c4": ("course", None),
    "k1": ("section", None),
    "k2": ("section", None),
    "k4": ("section", None),
    "u1": ("person", "student"),
    "u2": ("person", "student"),
    "u3": ("person", "student"),
    "u4": ("person", "student"),
    "v1": ("person", "teacher"),
    "p1": ("person", "contact"),
    "p2": ("person", "contact"),
    "g1": ("grading_category", None),
    "g2": ("grading_category", None),
    "g3": ("grading_category", None),
    "g4": ("grading_category", None),
    "g5": ("grading_category", None),
}
LINKS: list[tuple[str, str, str]] = [
    ("s1", "parent", "d1"),
    ("s2", "parent", "d1"),
    ("t1", "parent", "y1"),
    ("t2", "parent", "y1"),
    ("d1c", "orgs", "d1"),
    ("c1", "orgs", "s1"),
    ("c1", "school_year", "y1"),
    ("c1b", "orgs", "s1"),
    ("c1b", "school_year", "y2"),
    ("c2", "orgs", "s2"),
    ("c4", "orgs", "s2"),
    ("k1", "org", "s1"),
    ("k1", "course", "c1"),
    ("k1", "terms", "t1"),
    ("k2", "org", "s2"),
    ("k2", "course", "c2"),
    ("k2", "terms", "t2"),
    ("k4", "org", "s1"),
    ("k4", "course", "c4"),
    ("k4", "terms", "t1"),
    ("u1", "schools", "s1"),
    ("u1", "agents", "p1"),
    ("u2", "schools", "s2"),
    ("u2", "agents", "p2"),
    ("u3", "schools", "s1"),
    ("u4", "schools", "s1"),
    ("v1", "schools", "s1"),
    ("v1", "schools", "s2"),
    ("g1", "section", "k1"),
    ("g2", "section", "k2"),
    ("g3", "schools", "s1"),
    ("g4", "schools", "s2"),
]
MEMBERS: list[tuple[str, str]] = [
    ("u1", "k1"),
    ("v1", "k1"),
    ("u2", "k2"),
    ("v1", "k2"),
    ("u4", "k4"),
]
KNOWN = {*KINDS, "g6", "nowhere", "ghost", "a", "b", "c", "x", "y"}


def district(
    kinds: dict[str, tuple[str, str | None]] = KINDS,
    links: list[tuple[str, str, str]] = LINKS,
    members: list[tuple[str, str]] = MEMBERS,
) -> District:
    return District(
        objects={oid(name): kind for name, kind in kinds.items()},
        links=[(oid(f), rel, oid(t)) for f, rel, t in links],
        members=[(oid(p), oid(s)) for p, s in members],
    )


DISTRICT = district()


def select(schools: tuple[str, ...] = (), courses: tuple[str, ...] = ()) -> Selection:
    return Selection(frozenset(map(oid, schools)), frozenset(map(oid, courses)))


def seen(schools: tuple[str, ...] = (), courses: tuple[str, ...] = ()) -> set[str]:
    found = visible(DISTRICT, select(schools, courses))
    assert found is not None
    return names(found)


# --- the visible set ----------------------------------------------------------------------------


def test_nothing_selected_is_the_whole_district() -> None:
    assert Selection().whole_district
    assert visible(DISTRICT, Selection()) is None
    assert visible(District(), Selection()) is None


def test_a_selected_school_shows_its_objects_and_what_they_need() -> None:
    assert seen(schools=("s1",)) == {
        # the school and its LEA
        *("d1", "s1"),
        # its sections
        *("k1", "k4"),
        # the courses of those sections (c4 is s2's) and of the school (c1b has no section)
        *("c1", "c4", "c1b"),
        # members of the sections (u4, v1) and persons of the school (u3), and their contacts
        *("u1", "u3", "u4", "v1", "p1"),
        # terms of the sections, school years of the courses, with their ancestors
        *("t1", "y1", "y2"),
        # categories of a visible section, of the school, of nothing
        *("g1", "g3", "g5"),
    }


def test_another_schools_objects_stay_invisible() -> None:
    found = seen(schools=("s1",))
    assert found.isdisjoint({"s2", "k2", "c2", "u2", "p2", "t2", "g2", "g4"})
    # nor does an LEA's own course come with a school
    assert "d1c" not in found


def test_two_selected_schools_see_the_union() -> None:
    assert seen(schools=("s1", "s2")) == seen(schools=("s1",)) | seen(schools=("s2",))
    assert seen(schools=("s2",)) == {
        *("d1", "s2", "k2", "c2", "c4", "u2", "v1", "p2", "t2", "y1", "g2", "g4", "g5"),
    }


def test_selected_courses_narrow_the_sections_and_persons_come_only_through_them() -> None:
    assert seen(schools=("s1",), courses=("c1",)) == {
        *("d1", "s1"),
        "k1",  # not k4 (course c4)
        "c1",  # not c1b: a course of the school that was not selected
        *("u1", "v1", "p1"),  # not u3 (no section), nor u4 (k4)
        *("t1", "y1"),
        *("g1", "g3", "g5"),
    }


def test_a_selected_course_without_a_section_shows_itself_and_its_school_year() -> None:
    found = seen(schools=("s1",), courses=("c1b",))
    assert {"c1b", "y2"} <= found
    assert found.isdisjoint({"k1", "k4", "c1", "c4", "u1", "u3", "u4", "v1", "p1", "t1"})


def test_only_courses_selected_means_every_school() -> None:
    assert seen(courses=("c2",)) == {
        *("d1", "s1", "s2"),
        "k2",
        "c2",
        *("u2", "v1", "p2"),
        *("t2", "y1"),
        *("g2", "g3", "g4", "g5"),
    }
    # a course taught in another school: its section is found at every school
    assert {"k4", "c4", "u4", "t1"} <= seen(courses=("c4",))
    # the LEA's own course, selected: it is the LEA's (an ancestor of the schools)
    assert "d1c" in seen(courses=("d1c",))


def test_a_course_of_another_school_narrows_the_selected_school_to_nothing() -> None:
    found = seen(schools=("s1",), courses=("c2",))
    assert found.isdisjoint({"k1", "k2", "k4", "c1", "c2", "u1", "u2", "u3", "u4", "v1"})
    assert {"d1", "s1"} <= found


def test_a_selected_school_that_does_not_exist_shows_nothing_but_unattached_categories() -> None:
    assert schools_in_scope(select(schools=("nowhere",)), {oid("s1"), oid("s2")}) == set()
    assert seen(schools=("nowhere",)) == {"g5"}
    # an LEA is no school
    assert seen(schools=("d1",)) == {"g5"}
    # and the scope never widens to the whole district
    assert visible(district({"s1": ("org", "school")}, [], []), select(("x",))) == frozenset()


def test_a_missing_school_beside_a_real_one_is_ignored() -> None:
    assert seen(schools=("s1", "nowhere")) == seen(schools=("s1",))


def test_links_to_objects_outside_the_district_are_not_visible() -> None:
    ghostly = district(
        links=[*LINKS, ("u1", "agents", "ghost"), ("k1", "terms", "ghost")],
        members=[*MEMBERS, ("ghost", "k1")],
    )
    found = visible(ghostly, select(schools=("s1",)))
    assert found is not None
    assert oid("ghost") not in found
    assert names(found) == seen(schools=("s1",))


def test_parent_cycles_terminate() -> None:
    cyclic = district(
        kinds={
            "a": ("org", "school"),
            "b": ("org", "lea"),
            "c": ("org", "lea"),
            "x": ("term", "term"),
            "y": ("term", "semester"),
            "k1": ("section", None),
        },
        links=[
            ("a", "parent", "b"),
            ("b", "parent", "c"),
            ("c", "parent", "a"),
            ("k1", "org", "a"),
            ("k1", "terms", "x"),
            ("x", "parent", "y"),
            ("y", "parent", "x"),
        ],
        members=[],
    )
    found = visible(cyclic, select(schools=("a",)))
    assert found is not None
    assert names(found) == {"a", "b", "c", "k1", "x", "y"}


def test_with_ancestors() -> None:
    parents = parent_map(
        [
            (oid("a"), "parent", oid("b")),
            (oid("b"), "parent", oid("a")),
            (oid("c"), "org", oid("x")),
            (oid("c"), "parent", oid("y")),
        ]
    )
    assert parents == {oid("a"): {oid("b")}, oid("b"): {oid("a")}, oid("c"): {oid("y")}}
    assert with_ancestors([oid("a")], parents) == {oid("a"), oid("b")}
    assert with_ancestors([oid("c")], parents) == {oid("c"), oid("y")}
    assert with_ancestors([oid("x")], parents) == {oid("x")}
    assert with_ancestors([], parents) == set()


def test_a_category_of_an_invisible_section_stays_invisible_whatever_its_schools() -> None:
    listed = district(
        kinds={**KINDS, "g6": ("grading_category", None)},
        links=[*LINKS, ("g6", "section", "k2"), ("g6", "schools", "s1")],
    )
    found = visible(listed, select(schools=("s1",)))
    assert found is not None
    assert "g6" not in names(found)


def test_grading_category_rule() -> None:
    k1, k2, s1, s2 = oid("k1"), oid("k2"), oid("s1"), oid("s2")
    categories = {
        oid("a"): ([k1], []),  # of a visible section
        oid("b"): ([k2], []),  # of an invisible section
        oid("c"): ([k2], [s1]),  # a section decides, whatever its schools
        oid("x"): ([], [s2, s1]),  # no section: one of its schools is visible
        oid("y"): ([], [s2]),  # no section, no visible school
        oid("ghost"): ([], []),  # no section, no school: everyone's
    }
    found = categories_in_scope(categories, {k1}, {s1})
    assert names(found) == {"a", "x", "ghost"}
    assert categories_in_scope(categories, set(), set()) == {oid("ghost")}


# --- Scope --------------------------------------------------------------------------------------


def ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"id": str(oid(name)), "type": "X", "label": name, **extra}


def obj(name: str, **rels: Any) -> dict[str, Any]:
    return {
        "$sys": {"id": str(oid(name)), "type": "X", "source_id": {"sis": name}},
        "$ext": {"links": [ref("s2")], "owner": ref("s2")},
        "name": name,
        **rels,
    }


SCOPE = Scope([oid("s1"), oid("k1"), oid("u1"), oid("d1")])


def test_scope_of_everything() -> None:
    assert EVERYTHING.everything
    assert Scope(None) == EVERYTHING
    assert EVERYTHING.has(oid("anything"))
    assert EVERYTHING.has("not even an id")
    body = obj("s2", **{"$parent": ref("nowhere")})
    assert EVERYTHING.sees(body)
    assert EVERYTHING.filter(body) is body
    assert repr(EVERYTHING) == "Scope(everything)"


def test_scope_equality_and_moved() -> None:
    assert Scope([oid("a"), oid("b")]) == Scope({oid("b"), oid("a")})
    assert hash(Scope([oid("a")])) == hash(Scope([oid("a")]))
    assert Scope([]) != EVERYTHING
    assert not Scope([]).everything
    assert Scope([oid("a")]) != Scope([oid("b")])
    assert repr(Scope([oid("a"), oid("b")])) == "Scope(2 objects)"
    moved = Moved(EVERYTHING, SCOPE)
    before, after = moved
    assert before.everything
    assert after == SCOPE


@pytest.mark.parametrize("kind", [str, uuid.UUID])
def test_has_takes_string_and_uuid_ids(kind: type) -> None:
    assert SCOPE.has(kind(str(oid("s1"))))
    assert not SCOPE.has(kind(str(oid("s2"))))
    # both kinds, in either order on the same scope
    fresh = Scope([oid("s1")])
    assert fresh.has(str(oid("s1")))
    assert fresh.has(oid("s1"))
    assert not fresh.has(oid("s2"))
    assert not fresh.has(str(oid("s2")))


def test_sees_objects_by_their_sys_id() -> None:
    assert SCOPE.sees(obj("s1"))
    assert not SCOPE.sees(obj("s2"))
    uuid_body = {"$sys": {"id": oid("k1")}}
    assert SCOPE.sees(uuid_body)
    assert not Scope([]).sees(uuid_body)


def test_sees_a_membership_when_both_sides_are_seen() -> None:
    def membership(person: str, section: str) -> dict[str, Any]:
        return {
            "$sys": {"id": str(oid("m-" + person + section))},  # never in a scope
            "$person": ref(person),
            "$section": {"id": oid(section)},
            "role": "student",
        }

    assert SCOPE.sees(membership("u1", "k1"))
    assert not SCOPE.sees(membership("u2", "k1"))
    assert not SCOPE.sees(membership("u1", "k2"))
    assert not SCOPE.sees(membership("u2", "k2"))
    assert EVERYTHING.sees(membership("u2", "k2"))


def test_filter_drops_references_outside_the_scope() -> None:
    body = obj(
        "k1",
        **{
            "$org": ref("s1"),
            "$course": ref("c2"),
            "$terms": [ref("t2")],
            "$students": [ref("u1", membership={"id": "m1"}), ref("u2")],
            "$teachers": [],
            "$parent": None,
            "tags": ["a", "b"],
        },
    )
    kept = SCOPE.filter(body)
    assert kept is not body
    assert kept["$org"] == ref("s1")
    assert kept["$course"] is None  # a single reference outside the scope
    assert kept["$terms"] == []
    assert kept["$students"] == [ref("u1", membership={"id": "m1"})]
    assert kept["$teachers"] == []
    assert kept["$parent"] is None
    # $sys and $ext are never filtered, nor plain fields
    assert kept["$sys"] is body["$sys"]
    assert kept["$ext"] == body["$ext"]
    assert kept["tags"] == ["a", "b"]
    assert kept["name"] == "k1"
    # the body itself is left alone
    assert body["$course"] == ref("c2")
    assert len(body["$students"]) == 2


def test_filter_returns_the_body_itself_when_nothing_goes() -> None:
    body = obj(
        "k1",
        **{
            "$org": ref("s1"),
            "$students": [ref("u1")],
            "$teachers": [],
            "$parent": None,
            "$grades": ["01", "02"],  # not references
            "$odd": {"no": "id"},
        },
    )
    assert SCOPE.filter(body) is body
    assert SCOPE.filter({"$sys": {"id": str(oid("s1"))}}) == {"$sys": {"id": str(oid("s1"))}}


def test_filter_with_uuid_references() -> None:
    body = {
        "$sys": {"id": oid("k1")},
        "$org": {"id": oid("s2")},
        "$students": [{"id": oid("u1")}, {"id": oid("u2")}],
    }
    kept = SCOPE.filter(body)
    assert kept == {"$sys": {"id": oid("k1")}, "$org": None, "$students": [{"id": oid("u1")}]}


@pytest.mark.parametrize(
    "rels",
    [
        {"$org": ref("s1"), "$students": [ref("u1")], "$teachers": [], "$parent": None},
        {"$org": ref("s2")},
        {"$students": [ref("u1"), ref("u2")]},
        {"$org": {"id": None}},  # a reference without an id is tested, and goes
        {"$students": [{"id": None}, "text", ref("u1")], "$odd": {"no": "id"}},
        {"$org": {"id": oid("s1")}, "$students": [{"id": oid("u2")}]},
    ],
)
def test_has_all_of_what_filter_tests_says_whether_filter_leaves_the_body(
    rels: dict[str, Any],
) -> None:
    body = obj("k1", **rels)
    ids = filter_ids(body)
    assert all(isinstance(i, str) for i in ids)
    assert str(oid("k1")) not in ids  # its own $sys.id is not a reference
    assert SCOPE.has_all(ids) == (SCOPE.filter(body) is body)
    assert EVERYTHING.has_all(ids)
    assert Scope([]).has_all(frozenset())


def test_filter_ids_leave_out_sys_ext_and_plain_fields() -> None:
    body = obj("k1", **{"$org": ref("s1"), "$terms": [ref("t1"), {"no": "id"}], "tags": ["x"]})
    assert filter_ids(body) == {str(oid("s1")), str(oid("t1"))}
