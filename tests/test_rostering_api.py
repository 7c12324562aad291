"""Interop Data API #60–#80 over HTTP (the rostering query API), on each backend.

The Repository is written directly (:mod:`tests.repo_seed`): the same tiny district in two
clouds, so that every list also shows that the other cloud's copies stay invisible.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from interop_hub.kit.db import transaction
from interop_hub.runtime import Hub
from tests.factories import (
    World,
    add_version,
    bearer,
    data,
    error,
    full_blueprint,
    install,
    make_world,
    token,
)
from tests.repo_seed import Seed, seed_district

BASE = "/v2/interop/data"
R = f"{BASE}/rostering"
SOME_ID = "5b0c6a8e-2f4d-4e0b-9c1a-7d3e2f1a0b9c"
CREATED = "2025-08-01T12:00:00Z"
UPDATED = "2025-08-02T06:30:15.250000Z"

LIST_ROUTES = [
    "/rostering/orgs",
    "/rostering/leas",
    "/rostering/schools",
    "/rostering/persons",
    "/rostering/students",
    "/rostering/teachers",
    "/rostering/courses",
    "/rostering/sections",
    "/rostering/terms",
    "/grades/gradingCategories",
]
FOUND_BY = {  # route → a source id of the seed it finds (or lists for)
    "/rostering/orgs/{id}": "s1",
    "/rostering/orgs/{id}/students": "d1",
    "/rostering/orgs/{id}/teachers": "d1",
    "/rostering/orgs/{id}/courses": "d1",
    "/rostering/orgs/{id}/sections": "d1",
    "/rostering/orgs/{id}/terms": "s1",
    "/rostering/leas/{id}": "d1",
    "/rostering/persons/{id}": "st1",
    "/rostering/courses/{id}": "c-math",
    "/rostering/sections/{id}": "sec-math",
    "/rostering/terms/{id}": "fall",
}
ID_ROUTES = list(FOUND_BY)


@dataclass
class Env:
    world: World
    seed: Seed
    other: Seed
    headers: dict[str, str]

    def get(self, client: TestClient, path: str, **params: Any) -> Any:
        return data(client.get(BASE + path, headers=self.headers, params=params))

    def ref(self, source: str, **extra: Any) -> dict[str, Any]:
        """The reference the API should give for ``source`` (type and subtype key given)."""
        obj = self.seed.objects[source]
        return {"id": str(obj.id), "label": obj.label, **extra}


@pytest.fixture
def env(client: TestClient, hub: Hub) -> Env:
    world = make_world(client, hub)
    with transaction(hub.sessions) as session:
        seed = seed_district(session, world.cloud_id)
        other = seed_district(session, world.other_cloud_id)
    add_version(client, world, full_blueprint("2.0"))
    tenant = install(client, world, version="2.0")
    headers = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    return Env(world, seed, other, headers)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["$sys"]["id"] for item in items]


def by_source(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["$sys"]["source_id"]["sis"]: item for item in items}


def lea(env: Env, source: str = "d1") -> dict[str, Any]:
    return env.ref(source, type="LEA", org_type="lea")


def school(env: Env, source: str) -> dict[str, Any]:
    return env.ref(source, type="School", org_type="school")


def term(env: Env, source: str, term_type: str = "semester") -> dict[str, Any]:
    return env.ref(source, type="Term", term_type=term_type)


def member(
    ref: dict[str, Any],
    env: Env,
    membership: str,
    role: str,
    primary: bool,
    begin: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    return {
        **ref,
        "membership": {
            "id": env.seed.membership(membership),
            "role": role,
            "primary": primary,
            "begin_date": begin,
            "end_date": end,
        },
    }


# --- orgs ---------------------------------------------------------------------------------------


def test_list_orgs_gives_the_whole_object(client: TestClient, env: Env) -> None:
    body = client.get(f"{R}/orgs", headers=env.headers).json()
    assert body["paging"] == {"next": None}
    assert ids(body["data"]) == env.seed.ids("d1", "s1", "s2")
    orgs = by_source(body["data"])
    assert orgs["d1"] == {
        "$sys": {
            "id": env.seed.id("d1"),
            "type": "LEA",
            "label": "Springfield USD",
            "school_year": None,
            "org_type": "lea",
            "source_id": {"sis": "d1"},
            "app_id": {},
            "created_at": CREATED,
            "updated_at": UPDATED,
        },
        "$ext": {"metadata.region": "north"},
        "name": "Springfield USD",
        "local_id": "D1",
        "$parent": None,
        "$children": sorted([school(env, "s1"), school(env, "s2")], key=lambda r: r["id"]),
    }
    assert orgs["s1"]["$sys"]["type"] == "School"
    assert orgs["s1"]["$sys"]["org_type"] == "school"
    assert orgs["s1"]["$ext"] == {}
    assert orgs["s1"]["$parent"] == lea(env)
    assert orgs["s1"]["$children"] == []


def test_leas_and_schools(client: TestClient, env: Env) -> None:
    assert ids(env.get(client, "/rostering/leas")) == env.seed.ids("d1")
    schools = env.get(client, "/rostering/schools")
    assert ids(schools) == env.seed.ids("s1", "s2")
    assert [s["name"] for s in schools] == [
        env.seed.objects[source].label for source in sorted(("s1", "s2"), key=env.seed.id)
    ]


def test_find_org_and_lea(client: TestClient, env: Env) -> None:
    found = env.get(client, f"/rostering/orgs/{env.seed.id('s2')}")
    assert found["$sys"]["id"] == env.seed.id("s2")
    assert found["name"] == "Springfield High"
    assert found["$parent"] == lea(env)
    the_lea = env.get(client, f"/rostering/leas/{env.seed.id('d1')}")
    assert the_lea["$sys"]["type"] == "LEA"
    assert the_lea["$ext"] == {"metadata.region": "north"}
    assert the_lea == env.get(client, f"/rostering/orgs/{env.seed.id('d1')}")


WRONG_KIND = [
    ("/rostering/leas/{id}", "s1"),  # a school is not an LEA
    ("/rostering/orgs/{id}", "st1"),  # a person is not an org
    ("/rostering/persons/{id}", "d1"),
    ("/rostering/courses/{id}", "sec-math"),
    ("/rostering/sections/{id}", "c-math"),
    ("/rostering/terms/{id}", "gc-hw"),
    ("/rostering/orgs/{id}/students", "c-math"),
    ("/rostering/orgs/{id}/terms", "fall"),
]


def test_an_object_of_the_wrong_kind_is_404(client: TestClient, env: Env) -> None:
    for path, source in WRONG_KIND:
        url = BASE + path.format(id=env.seed.id(source))
        assert error(client.get(url, headers=env.headers), 404)["code"] == "not_found", path


# --- per-org lists ------------------------------------------------------------------------------


PER_ORG = [
    ("students", "d1", ["st1", "st2", "st3"]),  # an LEA lists its schools' members
    ("students", "s1", ["st1", "st2"]),
    ("students", "s2", ["st2", "st3"]),
    ("teachers", "d1", ["t1", "t2"]),
    ("teachers", "s1", ["t1"]),
    ("teachers", "s2", ["t2"]),
    ("courses", "d1", ["c-art", "c-bio", "c-math"]),
    ("courses", "s1", ["c-math"]),
    ("courses", "s2", ["c-bio"]),
    ("sections", "d1", ["sec-bio", "sec-math"]),
    ("sections", "s2", ["sec-bio"]),
    ("terms", "d1", ["fall", "spring", "y2025"]),  # every term of the cloud
    ("terms", "s1", ["fall", "spring"]),  # those its sections refer to
    ("terms", "s2", ["fall"]),
]


def test_per_org_lists(client: TestClient, env: Env) -> None:
    for what, org, expected in PER_ORG:
        listed = env.get(client, f"/rostering/orgs/{env.seed.id(org)}/{what}")
        assert ids(listed) == env.seed.ids(*expected), (what, org)


def test_per_org_list_objects_are_whole(client: TestClient, env: Env) -> None:
    students = by_source(env.get(client, f"/rostering/orgs/{env.seed.id('s2')}/students"))
    assert students["st2"]["$schools"] == [school(env, s) for s in env.seed.descending("s1", "s2")]
    sections = env.get(client, f"/rostering/orgs/{env.seed.id('s1')}/sections")
    assert sections[0]["$course"] == env.ref("c-math", type="Course")


# --- persons ------------------------------------------------------------------------------------


def test_list_persons_with_types(client: TestClient, env: Env) -> None:
    persons = env.get(client, "/rostering/persons")
    sources = ["t1", "t2", "st1", "st2", "st3", "staff1", "contact1"]
    assert ids(persons) == env.seed.ids(*sources)
    types = {
        key: (p["$sys"]["type"], p["$sys"]["person_type"]) for key, p in by_source(persons).items()
    }
    assert types == {
        "t1": ("Teacher", "teacher"),
        "t2": ("Teacher", "teacher"),
        "st1": ("Student", "student"),
        "st2": ("Student", "student"),
        "st3": ("Student", "student"),
        "staff1": ("Staff", "staff"),
        "contact1": ("Contact", "contact"),
    }
    contact = by_source(persons)["contact1"]
    assert contact["$schools"] == []
    assert contact["$sections"] == []
    staff = by_source(persons)["staff1"]
    math = env.ref("sec-math", type="Section")
    assert staff["$sections"] == [member(math, env, "m-staff1-math", "administrator", False)]


def test_students_and_teachers(client: TestClient, env: Env) -> None:
    assert ids(env.get(client, "/rostering/students")) == env.seed.ids("st1", "st2", "st3")
    assert ids(env.get(client, "/rostering/teachers")) == env.seed.ids("t1", "t2")


def test_find_person(client: TestClient, env: Env) -> None:
    bart = env.get(client, f"/rostering/persons/{env.seed.id('st1')}")
    math = env.ref("sec-math", type="Section")
    assert bart == {
        "$sys": {
            "id": env.seed.id("st1"),
            "type": "Student",
            "label": "Bart Simpson",
            "school_year": None,
            "person_type": "student",
            "source_id": {"sis": "st1"},
            "app_id": {},
            "created_at": CREATED,
            "updated_at": UPDATED,
        },
        "$ext": {"metadata.nickname": "El Barto"},
        "name": {"first": "Bart", "last": "Simpson", "middle": None},
        "local_id": "ST1",
        "grad_year": "2033",
        "$schools": [school(env, "s1")],
        "$sections": [
            member(math, env, "m-st1-math", "student", False, "2025-08-15", "2026-06-15")
        ],
    }
    lisa = env.get(client, f"/rostering/persons/{env.seed.id('st2')}")
    assert [s["id"] for s in lisa["$schools"]] == env.seed.ids("s1", "s2")[::-1]  # by position
    assert [s["id"] for s in lisa["$sections"]] == env.seed.ids("sec-math", "sec-bio")
    assert {s["membership"]["id"] for s in lisa["$sections"]} == {
        env.seed.membership("m-st2-math"),
        env.seed.membership("m-st2-bio"),
    }


# --- courses, sections, terms, grading categories -----------------------------------------------


def test_courses(client: TestClient, env: Env) -> None:
    courses = env.get(client, "/rostering/courses")
    assert ids(courses) == env.seed.ids("c-math", "c-bio", "c-art")
    art = by_source(courses)["c-art"]
    assert art["$orgs"] == [lea(env)]
    assert art["$sections"] == []
    math = env.get(client, f"/rostering/courses/{env.seed.id('c-math')}")
    assert math["$sys"]["type"] == "Course"
    assert "org_type" not in math["$sys"]
    assert math["title"] == "Math 3"
    assert math["local_id"] == "MATH3"
    assert math["$ext"] == {}
    assert math["$orgs"] == [school(env, "s1")]
    assert math["$sections"] == [env.ref("sec-math", type="Section")]


def test_sections(client: TestClient, env: Env) -> None:
    assert ids(env.get(client, "/rostering/sections")) == env.seed.ids("sec-math", "sec-bio")
    section = env.get(client, f"/rostering/sections/{env.seed.id('sec-math')}")
    assert section["$sys"]["school_year"] == 2026
    assert section["title"] == "Math 3 - A"
    # the source's order (position), which the seed made the reverse of the id order
    assert section["$terms"] == [term(env, t) for t in env.seed.descending("fall", "spring")]
    assert section["$course"] == env.ref("c-math", type="Course")
    assert section["$org"] == school(env, "s1")
    teacher = env.ref("t1", type="Teacher", person_type="teacher")
    assert section["$teachers"] == [
        member(teacher, env, "m-t1-math", "teacher", True, "2025-08-15")
    ]
    students = {
        "st1": member(
            env.ref("st1", type="Student", person_type="student"),
            env,
            "m-st1-math",
            "student",
            False,
            "2025-08-15",
            "2026-06-15",
        ),
        "st2": member(
            env.ref("st2", type="Student", person_type="student"),
            env,
            "m-st2-math",
            "student",
            False,
        ),
    }
    # by person id; the administrator's membership is neither a teacher nor a student
    assert section["$students"] == [students[s] for s in sorted(students, key=env.seed.id)]


def test_terms(client: TestClient, env: Env) -> None:
    terms = env.get(client, "/rostering/terms")
    assert ids(terms) == env.seed.ids("y2025", "fall", "spring")
    year = env.get(client, f"/rostering/terms/{env.seed.id('y2025')}")
    assert year["$sys"]["type"] == "Term"
    assert year["$sys"]["term_type"] == "schoolYear"
    assert year["$sys"]["school_year"] == 2026
    assert year["name"] == "2025-2026"
    assert year["start_date"] == "2025-08-15"
    assert year["$parent"] is None
    assert year["$children"] == sorted(
        [term(env, "fall"), term(env, "spring")], key=lambda r: r["id"]
    )
    fall = by_source(terms)["fall"]
    assert fall["$parent"] == term(env, "y2025", "schoolYear")
    assert fall["$children"] == []


def test_grading_categories(client: TestClient, env: Env) -> None:
    listed = client.get(f"{BASE}/grades/gradingCategories", headers=env.headers).json()
    assert listed["paging"] == {"next": None}
    assert ids(listed["data"]) == env.seed.ids("gc-hw", "gc-tests")
    categories = by_source(listed["data"])
    homework = categories["gc-hw"]
    assert homework["$sys"]["type"] == "GradingCategory"
    assert homework["name"] == "Homework"
    assert homework["weight"] == "0.4"
    assert homework["$term"] == term(env, "fall")
    assert homework["$section"] == env.ref("sec-math", type="Section")
    assert homework["$schools"] == [school(env, "s1")]
    tests = categories["gc-tests"]
    assert (tests["$term"], tests["$section"], tests["$schools"]) == (None, None, None)


# --- paging -------------------------------------------------------------------------------------


def walk(client: TestClient, env: Env, url: str) -> tuple[list[str], int]:
    """Every id of a list, following ``paging.next``; and the number of pages."""
    seen: list[str] = []
    pages = 0
    while url:
        body = client.get(url, headers=env.headers).json()
        assert len(body["data"]) <= 2
        seen += ids(body["data"])
        pages += 1
        url = body["paging"]["next"]
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["page_size"] == ["2"]
            assert query["page"] == [str(pages)]
            assert query["cursor"]
    return seen, pages


PAGED = [
    ("/rostering/orgs", None, ["d1", "s1", "s2"]),
    ("/rostering/terms", None, ["y2025", "fall", "spring"]),
    ("/rostering/courses", None, ["c-math", "c-bio", "c-art"]),
    ("/grades/gradingCategories", None, ["gc-hw", "gc-tests"]),
    ("/rostering/persons", None, ["t1", "t2", "st1", "st2", "st3", "staff1", "contact1"]),
    ("/rostering/students", None, ["st1", "st2", "st3"]),
    ("/rostering/orgs/{id}/students", "d1", ["st1", "st2", "st3"]),
    ("/rostering/orgs/{id}/courses", "d1", ["c-math", "c-bio", "c-art"]),
    ("/rostering/orgs/{id}/terms", "s1", ["fall", "spring"]),
    ("/rostering/orgs/{id}/terms", "d1", ["y2025", "fall", "spring"]),
    ("/rostering/orgs/{id}/sections", "d1", ["sec-math", "sec-bio"]),
]


def test_paging_follows_next(client: TestClient, env: Env) -> None:
    for path, org, expected in PAGED:
        url = BASE + path.format(id=env.seed.id(org) if org else "")
        seen, pages = walk(client, env, f"http://testserver{url}?page_size=2")
        assert seen == env.seed.ids(*expected), path
        assert pages == -(-len(expected) // 2), path  # a last full page has no next


def test_page_number_without_cursor(client: TestClient, env: Env) -> None:
    everyone = env.seed.ids("t1", "t2", "st1", "st2", "st3", "staff1", "contact1")
    second = env.get(client, "/rostering/persons", page=1, page_size=3)
    assert ids(second) == everyone[3:6]


def test_a_foreign_cursor_is_400(client: TestClient, env: Env) -> None:
    response = client.get(f"{R}/persons", headers=env.headers, params={"cursor": "bm90LWpzb24"})
    assert error(response, 400)["code"] == "invalid_cursor"


@contextmanager
def counting(hub: Hub) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(hub.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(hub.engine, "before_cursor_execute", count)


def test_relationships_cost_the_same_for_any_page_size(
    client: TestClient, env: Env, hub: Hub
) -> None:
    """A page's relationships are loaded for the page at once, never one query per object."""
    for path in (*LIST_ROUTES, f"/rostering/orgs/{env.seed.id('d1')}/students"):
        counts = []
        for size in (1, 10):
            with counting(hub) as statements:
                env.get(client, path, page_size=size)
            counts.append(len(statements))
        assert counts[0] == counts[1], path


# --- who may read -------------------------------------------------------------------------------


def test_another_clouds_objects_are_404(client: TestClient, env: Env) -> None:
    for path, source in FOUND_BY.items():
        mine = client.get(BASE + path.format(id=env.seed.id(source)), headers=env.headers)
        assert mine.status_code == 200, path
        theirs = client.get(BASE + path.format(id=env.other.id(source)), headers=env.headers)
        assert error(theirs, 404)["code"] == "not_found", path


def test_an_actor_sees_its_own_cloud_only(client: TestClient, env: Env) -> None:
    assert set(ids(env.get(client, "/rostering/orgs"))).isdisjoint(env.other.ids("d1", "s1", "s2"))
    theirs = install(client, env.world, env.world.other_cloud_id, version="2.0")
    headers = bearer(token(client, theirs["client_id"], theirs["client_secret"]))
    listed = data(client.get(f"{R}/orgs", headers=headers))
    assert ids(listed) == env.other.ids("d1", "s1", "s2")
    students = data(client.get(f"{R}/orgs/{env.other.id('s1')}/students", headers=headers))
    assert ids(students) == env.other.ids("st1", "st2")


def test_account_credentials_are_403(client: TestClient, env: Env) -> None:
    for path in LIST_ROUTES + ID_ROUTES:
        for account in (env.world.district, env.world.vendor, env.world.operator):
            url = BASE + path.format(id=env.seed.id("d1"))
            err = error(client.get(url, headers=account.headers), 403)
            assert "installed actor's credentials" in err["message"], path


@pytest.mark.parametrize("path", LIST_ROUTES + ID_ROUTES)
def test_no_or_wrong_credentials_are_401(client: TestClient, path: str) -> None:
    url = BASE + path.format(id=SOME_ID)
    error(client.get(url), 401)
    error(client.get(url, headers=bearer("not-a-token")), 401)


def test_a_malformed_id_is_400(client: TestClient, env: Env) -> None:
    for path in ID_ROUTES:
        err = error(client.get(BASE + path.format(id="not-a-uuid"), headers=env.headers), 400)
        assert err["details"][0]["location"] == "path.id", path


def test_an_unknown_id_is_404(client: TestClient, env: Env) -> None:
    for path in ID_ROUTES:
        url = BASE + path.format(id=str(uuid.UUID(SOME_ID)))
        assert error(client.get(url, headers=env.headers), 404)["code"] == "not_found", path
