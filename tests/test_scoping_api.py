"""Scoping over HTTP (Interop API #22–#33, DESIGN §3.6), on SQLite and PostgreSQL: the lists and
their writes, bad input, who may touch whose scoping, the sync a change of scoping sends, what
collections and full syncs send a scoped tenant, and what the query API shows it.

The district (:func:`two_schools`): LEA ``d1`` with schools ``s1`` and ``s2``; per school a term
(``t1``, ``t2``), a course (``c1``, ``c2``), a class (``k1``, ``k2``) and an enrolled student
(``u1``, ``u2``); teacher ``v1`` belongs to both schools and teaches both classes.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from interop_hub.kit.db import transaction
from interop_hub.runtime import Hub
from interop_hub.scoping import queries
from interop_hub.scoping.models import TenantScoping
from interop_hub.scoping.visibility import Selection, visible
from tests.factories import (
    add_version,
    bearer,
    data,
    error,
    full_blueprint,
    install,
    make_world,
    token,
)
from tests.repo_seed import SeedWriter, seed_district
from tests.test_collection_property import BundleSpec, _minimal_bundle
from tests.test_tasks_api import Env, event

SCOPING = "/v2/interop/tenant/scoping"
SCHOOLS = f"{SCOPING}/schools"
COURSES = f"{SCOPING}/courses"
R = "/v2/interop/data/rostering"
SCHOOL_FIELDS = {
    "account_id",
    "tenant_id",
    "school_id",
    "school_ref_id",
    "name",
    "local_id",
    "keywords",
    "selected",
}
COURSE_FIELDS = SCHOOL_FIELDS | {"course_id", "course_ref_id"}
UNKNOWN_ID = "6f1d5a52-3b1e-4f0e-9a57-1d2b7c1e0a11"
"""An id of nothing (fixed: parameters must be the same in every test process)."""

# What s2 brings, as (object type, label), in the order its deletes must come.
S2_DELETES = [
    ("Section", "K2"),
    ("Student", "Bea B"),
    ("Course", "C2"),
    ("Term", "T2"),
    ("School", "S2"),
]


def two_schools() -> BundleSpec:
    """The district of this module (see its docstring)."""
    bundle = _minimal_bundle()
    bundle["orgs"][1].update(identifier="S-001")
    bundle["orgs"].append(
        {"sourcedId": "s2", "name": "S2", "type": "school", "parentSourcedId": "d1"}
    )
    bundle["academicSessions"].append(
        {**bundle["academicSessions"][0], "sourcedId": "t2", "title": "T2"}
    )
    bundle["courses"][0].update(courseCode="C-101")
    bundle["courses"].append({"sourcedId": "c2", "title": "C2", "orgSourcedId": "s2"})
    bundle["classes"].append(
        {
            **bundle["classes"][0],
            "sourcedId": "k2",
            "title": "K2",
            "courseSourcedId": "c2",
            "schoolSourcedId": "s2",
            "termSourcedIds": "t2",
        }
    )
    student = bundle["users"][0]
    bundle["users"] += [
        {**student, "sourcedId": "u2", "username": "u2", "orgSourcedIds": "s2", "givenName": "Bea"},
        {
            **student,
            "sourcedId": "v1",
            "username": "v1",
            "orgSourcedIds": "s1,s2",
            "role": "teacher",
            "givenName": "Vic",
        },
    ]
    bundle["enrollments"] += [
        enrollment("e2", "k2", "s2", "u2", "student"),
        enrollment("e3", "k1", "s1", "v1", "teacher"),
        enrollment("e4", "k2", "s2", "v1", "teacher"),
    ]
    return bundle


def enrollment(sid: str, klass: str, school: str, user: str, role: str) -> dict[str, str]:
    return {
        "sourcedId": sid,
        "classSourcedId": klass,
        "schoolSourcedId": school,
        "userSourcedId": user,
        "role": role,
    }


def with_student(bundle: BundleSpec, sid: str, school: str, klass: str) -> BundleSpec:
    """``bundle`` with one more student, of ``school`` and enrolled in ``klass``."""
    changed = copy.deepcopy(bundle)
    changed["users"].append(
        {**changed["users"][0], "sourcedId": sid, "username": sid, "orgSourcedIds": school}
    )
    changed["users"][-1]["givenName"] = sid.upper()
    changed["enrollments"].append(enrollment(f"e-{sid}", klass, school, sid, "student"))
    return changed


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def env(client: TestClient, hub: Hub, tmp_path: Path) -> Env:
    """A tenant in setup mode, its district (two schools) collected."""
    world = make_world(client, hub)
    add_version(client, world, full_blueprint("2.0"))
    tenant = install(client, world, version="2.0")
    headers = bearer(token(client, tenant["client_id"], tenant["client_secret"]))
    found = Env(client, hub, world, tenant, headers, tmp_path)
    found.collect(two_schools())
    return found


@pytest.fixture
def active(env: Env) -> Env:
    """The tenant activated, its queue drained."""
    env.operator(f"/tenants/{env.tenant['id']}/activate")
    env.drain()
    return env


def listed(env: Env, path: str = SCHOOLS, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data(env.client.get(path, headers=env.headers, params=params))
    return found


def selected(env: Env, path: str = SCHOOLS) -> set[str]:
    """The source ids of the selected schools (or courses)."""
    key = "school_ref_id" if path == SCHOOLS else "course_ref_id"
    return {entry[key] for entry in listed(env, path) if entry["selected"]}


def post(env: Env, items: list[dict[str, Any]], path: str = SCHOOLS, **params: Any) -> Any:
    return env.client.post(path, json={"data": items}, headers=env.headers, params=params)


def repo_id(env: Env, route: str, source_id: str) -> str:
    """The Repository id of an object, found through the query API (the tenant unscoped)."""
    for item in data(env.client.get(f"{R}/{route}", headers=env.headers)):
        if item["$sys"]["source_id"]["sis"] == source_id:
            found: str = item["$sys"]["id"]
            return found
    raise AssertionError(f"no {source_id} in {route}")


def school_ids(env: Env) -> dict[str, str]:
    return {entry["school_ref_id"]: entry["school_id"] for entry in listed(env)}


def one_sync(env: Env) -> list[dict[str, Any]]:
    """The queue drained: exactly one sync, whose data events are returned."""
    return sync_of(env.drain())


def sync_of(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data events of ``tasks``, checked to be exactly one sync."""
    assert tasks, "no sync was sent"
    assert [t["type"] for t in (tasks[0], tasks[-1])] == ["sync_event", "sync_event"]
    assert [event(tasks[0])["action"], event(tasks[-1])["action"]] == ["SYNC_START", "SYNC_END"]
    middle = tasks[1:-1]
    assert {t["type"] for t in middle} == {"data_event"}
    assert len({event(t)["group_id"] for t in tasks}) == 1
    return [event(t) for t in middle]


def moves(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["action"], e["object_type"], e["label"]) for e in events]


RANK = {"LEA": 0, "School": 1, "Term": 2, "Course": 3, "Student": 4, "Teacher": 4, "Section": 5}
"""Dependency order of the object types (persons of one rank: their order goes by id)."""


def in_order(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The events' moves, sorted, once it is checked that adds and updates come in dependency
    order and deletes after them in reverse dependency order."""
    found = moves(events)
    kept = [RANK[kind] for action, kind, _ in found if action != "DELETE"]
    gone = [RANK[kind] for action, kind, _ in found if action == "DELETE"]
    assert [m[0] == "DELETE" for m in found] == sorted(m[0] == "DELETE" for m in found), found
    assert kept == sorted(kept), found
    assert gone == sorted(gone, reverse=True), found
    return sorted(found)


def ref_labels(body: dict[str, Any], key: str) -> list[str]:
    value = body[key]
    if value is None:
        return []
    refs = value if isinstance(value, list) else [value]
    return sorted(ref["label"] for ref in refs)


def refs_in(body: Any) -> set[str]:
    """Every referenced id in a body (``$sys`` aside)."""
    found: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "$sys":
                continue
            if key.startswith("$") and isinstance(value, dict) and "id" in value:
                found.add(str(value["id"]))
            found |= refs_in(value)
    elif isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and "id" in item:
                found.add(str(item["id"]))
            found |= refs_in(item)
    return found


def labels(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["$sys"]["label"] for item in items)


# --- listing ------------------------------------------------------------------------------------


def test_lists_the_districts_schools_unselected(env: Env) -> None:
    schools = listed(env)
    assert [s["school_ref_id"] for s in schools] == sorted(
        ["s1", "s2"], key=lambda ref: school_ids(env)[ref]
    )
    by_ref = {s["school_ref_id"]: s for s in schools}
    assert set(by_ref["s1"]) == SCHOOL_FIELDS
    assert by_ref["s1"] == {
        "account_id": str(env.world.district.id),
        "tenant_id": env.tenant["id"],
        "school_id": repo_id(env, "schools", "s1"),
        "school_ref_id": "s1",
        "name": "S",
        "local_id": "S-001",
        "keywords": "S S-001 s1",
        "selected": False,
    }
    assert by_ref["s2"]["local_id"] is None
    assert by_ref["s2"]["keywords"] == "S2 s2"
    assert by_ref["s2"]["school_id"] == repo_id(env, "schools", "s2")
    # the LEA is no school
    assert "d1" not in by_ref


def test_schools_page(env: Env) -> None:
    body = env.client.get(SCHOOLS, headers=env.headers, params={"page_size": 1}).json()
    assert len(body["data"]) == 1
    assert body["paging"]["next"] is not None
    second = env.client.get(body["paging"]["next"], headers=env.headers).json()
    assert len(second["data"]) == 1
    assert second["paging"]["next"] is None
    assert {body["data"][0]["school_ref_id"], second["data"][0]["school_ref_id"]} == {"s1", "s2"}


def test_lists_the_districts_courses_with_their_schools(env: Env) -> None:
    courses = {c["course_ref_id"]: c for c in listed(env, COURSES)}
    assert set(courses) == {"c1", "c2"}
    assert set(courses["c1"]) == COURSE_FIELDS
    ids = school_ids(env)
    assert courses["c1"] == {
        "account_id": str(env.world.district.id),
        "tenant_id": env.tenant["id"],
        "course_id": repo_id(env, "courses", "c1"),
        "course_ref_id": "c1",
        "school_id": ids["s1"],
        "school_ref_id": "s1",
        "name": "C",
        "local_id": "C-101",
        "keywords": "C C-101 c1",
        "selected": False,
    }
    assert (courses["c2"]["school_id"], courses["c2"]["school_ref_id"]) == (ids["s2"], "s2")
    page = env.client.get(COURSES, headers=env.headers, params={"page_size": 1}).json()
    assert len(page["data"]) == 1
    assert page["paging"]["next"] is not None


def test_selected_filter(env: Env) -> None:
    data(post(env, [{"school_ref_id": "s2"}]))
    assert [s["school_ref_id"] for s in listed(env, selected="true")] == ["s2"]
    assert [s["school_ref_id"] for s in listed(env, selected="false")] == ["s1"]


# --- selecting ----------------------------------------------------------------------------------


def test_post_replaces_by_default(env: Env) -> None:
    answer = data(post(env, [{"school_ref_id": "s1"}]))
    assert [(s["school_ref_id"], s["selected"]) for s in answer] == [("s1", True)]
    assert set(answer[0]) == SCHOOL_FIELDS
    assert selected(env) == {"s1"}
    data(post(env, [{"school_ref_id": "s2"}]))
    assert selected(env) == {"s2"}
    data(post(env, [{"school_ref_id": "s1"}], replace="true"))
    assert selected(env) == {"s1"}
    data(post(env, []))
    assert selected(env) == set()


def test_post_without_replace_appends_and_unselects(env: Env) -> None:
    data(post(env, [{"school_ref_id": "s1"}]))
    answer = data(post(env, [{"school_ref_id": "s2"}], replace="false"))
    assert [(s["school_ref_id"], s["selected"]) for s in answer] == [("s2", True)]
    assert selected(env) == {"s1", "s2"}
    # selecting one that is selected already changes nothing
    data(post(env, [{"school_ref_id": "s2"}], replace="false"))
    assert selected(env) == {"s1", "s2"}
    answer = data(post(env, [{"school_ref_id": "s1", "selected": False}], replace="false"))
    assert [(s["school_ref_id"], s["selected"]) for s in answer] == [("s1", False)]
    assert selected(env) == {"s2"}


def test_post_by_school_id_and_with_the_fields_a_list_showed(env: Env) -> None:
    ids = school_ids(env)
    data(post(env, [{"school_id": ids["s2"]}]))
    assert selected(env) == {"s2"}
    # an entry sent back as the list showed it (every field, both ids agreeing)
    entry = next(s for s in listed(env) if s["school_ref_id"] == "s1")
    data(post(env, [{**entry, "selected": True}], replace="false"))
    assert selected(env) == {"s1", "s2"}


@pytest.mark.parametrize("key", ["uuid", "ref"])
def test_put_selects_and_unselects(env: Env, key: str) -> None:
    path_id = school_ids(env)["s1"] if key == "uuid" else "s1"
    found = data(env.client.put(f"{SCHOOLS}/{path_id}", json={}, headers=env.headers))
    assert (found["school_ref_id"], found["selected"]) == ("s1", True)
    assert set(found) == SCHOOL_FIELDS
    assert selected(env) == {"s1"}
    found = data(
        env.client.put(f"{SCHOOLS}/{path_id}", json={"selected": False}, headers=env.headers)
    )
    assert (found["school_ref_id"], found["selected"]) == ("s1", False)
    assert selected(env) == set()
    # the body may name the school too, as long as it is the path's
    body = {"school_ref_id": "s1", "school_id": school_ids(env)["s1"], "selected": True}
    data(env.client.put(f"{SCHOOLS}/{path_id}", json=body, headers=env.headers))
    assert selected(env) == {"s1"}


@pytest.mark.parametrize("key", ["uuid", "ref"])
def test_find_one_school(env: Env, key: str) -> None:
    data(post(env, [{"school_ref_id": "s2"}]))
    path_id = school_ids(env)["s2"] if key == "uuid" else "s2"
    found = data(env.client.get(f"{SCHOOLS}/{path_id}", headers=env.headers))
    assert found == next(s for s in listed(env) if s["school_ref_id"] == "s2")
    assert found["selected"] is True


@pytest.mark.parametrize("unknown", ["nowhere", UNKNOWN_ID, "d1", "c1"])
def test_find_an_unknown_school_is_404(env: Env, unknown: str) -> None:
    error(env.client.get(f"{SCHOOLS}/{unknown}", headers=env.headers), 404)


def test_delete_one_school_and_all_of_them(env: Env) -> None:
    data(post(env, [{"school_ref_id": "s1"}, {"school_ref_id": "s2"}]))
    response = env.client.delete(f"{SCHOOLS}/{school_ids(env)['s1']}", headers=env.headers)
    assert response.status_code == 204, response.text
    assert selected(env) == {"s2"}
    assert env.client.delete(f"{SCHOOLS}/s2", headers=env.headers).status_code == 204
    assert selected(env) == set()
    data(post(env, [{"school_ref_id": "s1"}, {"school_ref_id": "s2"}]))
    assert env.client.delete(SCHOOLS, headers=env.headers).status_code == 204
    assert selected(env) == set()
    # deleting what is not selected is no error
    assert env.client.delete(f"{SCHOOLS}/s2", headers=env.headers).status_code == 204


# --- bad input ----------------------------------------------------------------------------------


def assert_nothing_changed(env: Env, before: list[dict[str, Any]]) -> None:
    assert listed(env) == before
    assert env.poll() == []


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"school_ref_id": "nowhere"}, "unknown_school"),
        ({"school_ref_id": "d1"}, "unknown_school"),  # the LEA
        ({"school_ref_id": "c1"}, "unknown_school"),  # a course
        ({"school_id": UNKNOWN_ID}, "unknown_school"),
        ({"selected": True}, "missing_reference"),
        ({"school_ref_id": "s1", "tenant_id": UNKNOWN_ID}, None),
        ({"school_ref_id": "s1", "account_id": UNKNOWN_ID}, None),
    ],
)
def test_post_naming_what_the_district_lacks_is_400_and_changes_nothing(
    active: Env, item: dict[str, Any], code: str | None
) -> None:
    data(post(active, [{"school_ref_id": "s2"}]))
    active.drain()
    before = listed(active)
    for replace in ("true", "false"):
        body = error(post(active, [{"school_ref_id": "s1"}, item], replace=replace), 400)
        assert body["code"] == (code or "id_mismatch")
        assert body["message"].startswith("data[1]: ")
        assert body["details"] == {"index": 1}
        assert_nothing_changed(active, before)


def test_mismatched_school_id_and_ref_is_400(active: Env) -> None:
    ids = school_ids(active)
    before = listed(active)
    body = error(post(active, [{"school_id": ids["s1"], "school_ref_id": "s2"}]), 400)
    assert body["code"] == "id_mismatch"
    assert_nothing_changed(active, before)
    # PUT: the body's school is not the path's
    for payload in ({"school_ref_id": "s2"}, {"school_id": ids["s2"]}):
        body = error(active.client.put(f"{SCHOOLS}/s1", json=payload, headers=active.headers), 400)
        assert body["code"] == "id_mismatch"
    assert_nothing_changed(active, before)


@pytest.mark.parametrize("method", ["put", "delete"])
@pytest.mark.parametrize("unknown", ["nowhere", UNKNOWN_ID, "d1"])
def test_put_or_delete_of_an_unknown_school_is_400(active: Env, method: str, unknown: str) -> None:
    data(post(active, [{"school_ref_id": "s2"}]))
    active.drain()
    before = listed(active)
    kwargs: dict[str, Any] = {"json": {"selected": True}} if method == "put" else {}
    response = getattr(active.client, method)(
        f"{SCHOOLS}/{unknown}", headers=active.headers, **kwargs
    )
    assert error(response, 400)["code"] == "unknown_school"
    assert_nothing_changed(active, before)


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"school_ref_id": "s1", "colour": "red"}]},
        {"data": [{"school_ref_id": "s1"}], "extra": 1},
        {"data": [{"school_ref_id": ""}]},
        {"data": [{"school_id": "not-a-uuid"}]},
        {"data": [{"school_ref_id": "s1", "selected": "maybe"}]},
        {"data": {"school_ref_id": "s1"}},
        {},
    ],
)
def test_malformed_posts_are_400(active: Env, body: dict[str, Any]) -> None:
    before = listed(active)
    error(active.client.post(SCHOOLS, json=body, headers=active.headers), 400)
    assert_nothing_changed(active, before)


def test_unknown_fields_in_a_put_are_400(active: Env) -> None:
    before = listed(active)
    response = active.client.put(f"{SCHOOLS}/s1", json={"colour": "red"}, headers=active.headers)
    error(response, 400)
    assert_nothing_changed(active, before)


# --- courses ------------------------------------------------------------------------------------


def test_course_selection(env: Env) -> None:
    course_ids = {c["course_ref_id"]: c["course_id"] for c in listed(env, COURSES)}
    answer = data(post(env, [{"course_ref_id": "c1"}], COURSES))
    assert [(c["course_ref_id"], c["school_ref_id"], c["selected"]) for c in answer] == [
        ("c1", "s1", True)
    ]
    assert set(answer[0]) == COURSE_FIELDS
    assert selected(env, COURSES) == {"c1"}
    assert selected(env) == set()  # schools are the other half
    data(post(env, [{"course_id": course_ids["c2"]}], COURSES, replace="false"))
    assert selected(env, COURSES) == {"c1", "c2"}
    data(post(env, [{"course_ref_id": "c1", "selected": False}], COURSES, replace="false"))
    assert selected(env, COURSES) == {"c2"}
    data(post(env, [{"course_ref_id": "c1"}], COURSES))
    assert selected(env, COURSES) == {"c1"}
    found = data(env.client.put(f"{COURSES}/c2", json={}, headers=env.headers))
    assert (found["course_ref_id"], found["school_ref_id"], found["selected"]) == ("c2", "s2", True)
    found = data(
        env.client.put(
            f"{COURSES}/{course_ids['c1']}", json={"selected": False}, headers=env.headers
        )
    )
    assert found["selected"] is False
    assert selected(env, COURSES) == {"c2"}
    found = data(env.client.get(f"{COURSES}/c2", headers=env.headers))
    assert found == data(env.client.get(f"{COURSES}/{course_ids['c2']}", headers=env.headers))
    assert found["selected"] is True
    assert env.client.delete(f"{COURSES}/c2", headers=env.headers).status_code == 204
    assert selected(env, COURSES) == set()
    data(post(env, [{"course_ref_id": "c1"}, {"course_ref_id": "c2"}], COURSES))
    assert env.client.delete(COURSES, headers=env.headers).status_code == 204
    assert selected(env, COURSES) == set()


def test_course_entries_sent_back_as_listed_are_accepted(env: Env) -> None:
    entry = next(c for c in listed(env, COURSES) if c["course_ref_id"] == "c2")
    data(post(env, [{**entry, "selected": True}], COURSES))
    assert selected(env, COURSES) == {"c2"}


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"course_ref_id": "nowhere"}, "unknown_course"),
        ({"course_ref_id": "s1"}, "unknown_course"),  # a school
        ({"course_id": UNKNOWN_ID}, "unknown_course"),
        ({"school_ref_id": "s1"}, "missing_reference"),  # a school is no course
        ({"course_ref_id": "c1", "course_id": "CID2"}, "id_mismatch"),
    ],
)
def test_bad_course_writes_are_400_and_change_nothing(
    active: Env, item: dict[str, Any], code: str
) -> None:
    c2 = next(c["course_id"] for c in listed(active, COURSES) if c["course_ref_id"] == "c2")
    item = {key: c2 if value == "CID2" else value for key, value in item.items()}
    data(post(active, [{"course_ref_id": "c2"}], COURSES))
    active.drain()
    before = listed(active, COURSES)
    body = error(post(active, [item], COURSES), 400)
    assert body["code"] == code
    assert body["details"] == {"index": 0}
    assert listed(active, COURSES) == before
    response = active.client.put(f"{COURSES}/nowhere", json={}, headers=active.headers)
    assert error(response, 400)["code"] == "unknown_course"
    response = active.client.put(f"{COURSES}/s1", json={}, headers=active.headers)
    assert error(response, 400)["code"] == "unknown_course"
    response = active.client.put(
        f"{COURSES}/c1", json={"course_ref_id": "c2"}, headers=active.headers
    )
    assert error(response, 400)["code"] == "id_mismatch"
    response = active.client.delete(f"{COURSES}/nowhere", headers=active.headers)
    assert error(response, 400)["code"] == "unknown_course"
    error(active.client.get(f"{COURSES}/s1", headers=active.headers), 404)
    error(
        active.client.post(
            COURSES, json={"data": [{"course_ref_id": "c1", "x": 1}]}, headers=active.headers
        ),
        400,
    )
    assert listed(active, COURSES) == before
    assert active.poll() == []


def test_a_course_named_with_a_school_must_be_of_that_school(active: Env) -> None:
    s1 = school_ids(active)["s1"]
    for item in (
        {"course_ref_id": "c1", "school_ref_id": "s2"},
        {"course_ref_id": "c1", "school_id": school_ids(active)["s2"]},
        {"course_ref_id": "c1", "school_ref_id": "s1", "school_id": school_ids(active)["s2"]},
    ):
        body = error(post(active, [item], COURSES), 400)
        assert body["code"] == "id_mismatch", item
    assert selected(active, COURSES) == set()
    assert active.poll() == []
    data(post(active, [{"course_ref_id": "c1", "school_ref_id": "s1", "school_id": s1}], COURSES))
    assert selected(active, COURSES) == {"c1"}


# --- who may ------------------------------------------------------------------------------------


def test_account_credentials_cannot_read_or_change_a_tenants_scoping(env: Env) -> None:
    for account in (env.world.vendor, env.world.district, env.world.operator):
        for response in (
            env.client.get(SCHOOLS, headers=account.headers),
            env.client.get(f"{COURSES}/c1", headers=account.headers),
            env.client.post(
                SCHOOLS, json={"data": [{"school_ref_id": "s1"}]}, headers=account.headers
            ),
            env.client.put(f"{SCHOOLS}/s1", json={}, headers=account.headers),
            env.client.delete(SCHOOLS, headers=account.headers),
            env.client.delete(f"{COURSES}/c1", headers=account.headers),
        ):
            assert error(response, 403)["code"] == "actor_required"
    error(env.client.get(SCHOOLS), 401)
    assert selected(env) == set()
    assert selected(env, COURSES) == set()


def test_another_tenants_token_sees_and_changes_only_its_own_scoping(env: Env) -> None:
    world = env.world
    other = install(env.client, world, cloud_id=world.other_cloud_id, version="2.0")
    headers = bearer(token(env.client, other["client_id"], other["client_secret"]))
    env.collect(two_schools(), cloud_id=world.other_cloud_id)  # the same source ids
    mine = school_ids(env)
    theirs = {s["school_ref_id"]: s for s in data(env.client.get(SCHOOLS, headers=headers))}
    assert {s["tenant_id"] for s in theirs.values()} == {other["id"]}
    assert {s["account_id"] for s in theirs.values()} == {str(world.other_district.id)}
    assert {s["school_id"] for s in theirs.values()}.isdisjoint(mine.values())
    # this tenant's schools are not the other's to name
    body = {"data": [{"school_id": mine["s1"]}]}
    error(env.client.post(SCHOOLS, json=body, headers=headers), 400)
    error(env.client.put(f"{SCHOOLS}/{mine['s1']}", json={}, headers=headers), 400)
    error(env.client.get(f"{SCHOOLS}/{mine['s1']}", headers=headers), 404)
    # what it selects by source id is its own cloud's school, in its own scoping
    data(env.client.post(SCHOOLS, json={"data": [{"school_ref_id": "s1"}]}, headers=headers))
    assert selected(env) == set()
    data(post(env, [{"school_ref_id": "s2"}]))
    again = {
        s["school_ref_id"]: s["selected"] for s in data(env.client.get(SCHOOLS, headers=headers))
    }
    assert again == {"s1": True, "s2": False}
    # clearing its own leaves this one's
    assert env.client.delete(SCHOOLS, headers=headers).status_code == 204
    assert selected(env) == {"s2"}


# --- the sync a change of scoping sends --------------------------------------------------------


def test_selecting_a_school_sends_one_scoping_sync(active: Env) -> None:
    data(post(active, [{"school_ref_id": "s1"}]))
    events = one_sync(active)
    assert {e["origin"] for e in events} == {"scoping"}
    assert moves(events) == [
        ("UPDATE", "LEA", "D"),
        ("UPDATE", "Teacher", "Vic B"),
        *(("DELETE", kind, label) for kind, label in S2_DELETES),
    ]
    lea, teacher = events[0], events[1]
    assert ref_labels(lea["data"], "$children") == ["S"]
    assert ref_labels(lea["changes"], "$children") == ["S", "S2"]
    assert ref_labels(teacher["data"], "$schools") == ["S"]
    assert ref_labels(teacher["data"], "$sections") == ["K"]
    assert ref_labels(teacher["changes"], "$schools") == ["S", "S2"]
    # nothing sent refers to what the tenant no longer sees
    gone = {e["object_id"] for e in events if e["action"] == "DELETE"}
    assert gone.isdisjoint(refs_in(lea["data"]) | refs_in(teacher["data"]))
    assert active.poll() == []


def test_clearing_the_selection_sends_what_came_back(active: Env) -> None:
    data(post(active, [{"school_ref_id": "s1"}]))
    active.drain()
    assert active.client.delete(SCHOOLS, headers=active.headers).status_code == 204
    events = one_sync(active)
    assert {e["origin"] for e in events} == {"scoping"}
    assert in_order(events) == sorted(
        [
            ("UPDATE", "LEA", "D"),
            ("ADD", "School", "S2"),
            ("ADD", "Term", "T2"),
            ("ADD", "Course", "C2"),
            ("UPDATE", "Teacher", "Vic B"),
            ("ADD", "Student", "Bea B"),
            ("ADD", "Section", "K2"),
        ]
    )
    by_type = {e["object_type"]: e["data"] for e in events}
    assert ref_labels(by_type["LEA"], "$children") == ["S", "S2"]
    assert ref_labels(by_type["Teacher"], "$schools") == ["S", "S2"]
    assert ref_labels(by_type["Teacher"], "$sections") == ["K", "K2"]
    section = by_type["Section"]
    assert ref_labels(section, "$teachers") == ["Vic B"]
    assert ref_labels(section, "$students") == ["Bea B"]
    assert ref_labels(section, "$org") == ["S2"]


@pytest.mark.parametrize("how", ["put", "delete one", "post"])
def test_every_write_sends_its_change(active: Env, how: str) -> None:
    data(post(active, [{"school_ref_id": "s1"}, {"school_ref_id": "s2"}]))
    assert active.poll() == []  # both schools: the tenant sees what it saw
    if how == "put":
        data(active.client.put(f"{SCHOOLS}/s2", json={"selected": False}, headers=active.headers))
    elif how == "delete one":
        assert active.client.delete(f"{SCHOOLS}/s2", headers=active.headers).status_code == 204
    else:
        data(post(active, [{"school_ref_id": "s2", "selected": False}], replace="false"))
    assert [m for m in moves(one_sync(active)) if m[0] == "DELETE"] == [
        ("DELETE", kind, label) for kind, label in S2_DELETES
    ]


def test_a_write_that_does_not_move_the_scope_sends_nothing(active: Env) -> None:
    data(post(active, [{"school_ref_id": "s1"}]))
    active.drain()
    data(post(active, [{"school_ref_id": "s1"}]))
    data(post(active, [{"school_ref_id": "s1"}], replace="false"))
    data(active.client.put(f"{SCHOOLS}/s1", json={}, headers=active.headers))
    assert active.client.delete(f"{SCHOOLS}/s2", headers=active.headers).status_code == 204
    assert active.poll() == []


def test_selecting_a_course_narrows_sections_and_their_members(active: Env) -> None:
    data(post(active, [{"course_ref_id": "c1"}], COURSES))
    events = one_sync(active)
    assert {e["origin"] for e in events} == {"scoping"}
    # every school stays; s2's course, section, term and student go
    assert moves(events) == [
        ("UPDATE", "Teacher", "Vic B"),
        ("DELETE", "Section", "K2"),
        ("DELETE", "Student", "Bea B"),
        ("DELETE", "Course", "C2"),
        ("DELETE", "Term", "T2"),
    ]
    assert ref_labels(events[0]["data"], "$sections") == ["K"]
    assert ref_labels(events[0]["data"], "$schools") == ["S", "S2"]


def test_a_tenant_in_setup_gets_no_scoping_sync_and_a_scoped_initial_sync(env: Env) -> None:
    assert [event(t)["action"] for t in env.drain()] == ["TENANT_INSTALLED"]
    data(post(env, [{"school_ref_id": "s1"}]))
    assert env.poll() == []
    env.operator(f"/tenants/{env.tenant['id']}/activate")
    tasks = env.drain()
    assert event(tasks[0])["action"] == "TENANT_ACTIVATED"
    events = [event(t) for t in tasks if t["type"] == "data_event"]
    assert {e["origin"] for e in events} == {"initial"}
    assert in_order(events) == sorted(
        [
            ("ADD", "LEA", "D"),
            ("ADD", "School", "S"),
            ("ADD", "Term", "T"),
            ("ADD", "Course", "C"),
            ("ADD", "Student", "A B"),
            ("ADD", "Teacher", "Vic B"),
            ("ADD", "Section", "K"),
        ]
    )
    by_type = {e["object_type"]: e["data"] for e in events}
    assert ref_labels(by_type["LEA"], "$children") == ["S"]
    assert ref_labels(by_type["Teacher"], "$schools") == ["S"]
    assert ref_labels(by_type["Teacher"], "$sections") == ["K"]
    assert ref_labels(by_type["Section"], "$teachers") == ["Vic B"]


def test_a_resend_is_scoped(active: Env) -> None:
    data(post(active, [{"school_ref_id": "s2"}]))
    active.drain()
    active.operator(f"/tenants/{active.tenant['id']}/resend")
    events = one_sync(active)
    assert {e["origin"] for e in events} == {"resend"}
    assert in_order(events) == sorted(
        ("ADD", kind, label)
        for kind, label in [
            ("LEA", "D"),
            ("School", "S2"),
            ("Term", "T2"),
            ("Course", "C2"),
            ("Student", "Bea B"),
            ("Teacher", "Vic B"),
            ("Section", "K2"),
        ]
    )
    teacher = next(e["data"] for e in events if e["object_type"] == "Teacher")
    assert ref_labels(teacher, "$schools") == ["S2"]
    assert ref_labels(teacher, "$sections") == ["K2"]


# --- collections after scoping ------------------------------------------------------------------


@pytest.fixture
def scoped(active: Env) -> Env:
    """The active tenant scoped to s1, its queue drained."""
    data(post(active, [{"school_ref_id": "s1"}]))
    active.drain()
    return active


def test_a_change_outside_the_scope_sends_nothing(scoped: Env) -> None:
    bundle = two_schools()
    bundle["orgs"][2]["name"] = "S2 renamed"
    bundle["users"][1]["givenName"] = "Bob"  # u2
    bundle["courses"][1]["title"] = "C2 renamed"
    scoped.collect(bundle)
    assert scoped.poll() == []
    # a new student of s2, in s2's class
    scoped.collect(with_student(bundle, "u9", "s2", "k2"))
    assert scoped.poll() == []


def test_a_new_student_in_a_scoped_section_arrives(scoped: Env) -> None:
    scoped.collect(with_student(two_schools(), "u9", "s1", "k1"))
    events = one_sync(scoped)
    assert {e["origin"] for e in events} == {"ingestion"}
    assert moves(events) == [("ADD", "Student", "U9 B"), ("UPDATE", "Section", "K")]
    assert ref_labels(events[1]["data"], "$students") == ["A B", "U9 B"]


def test_a_change_inside_the_scope_arrives_with_references_filtered(scoped: Env) -> None:
    bundle = two_schools()
    bundle["users"][2]["givenName"] = "Victor"  # v1, in both schools
    scoped.collect(bundle)
    events = one_sync(scoped)
    assert moves(events) == [
        ("UPDATE", "Teacher", "Victor B"),
        ("UPDATE", "Section", "K"),
    ]
    assert ref_labels(events[0]["data"], "$schools") == ["S"]
    assert ref_labels(events[0]["data"], "$sections") == ["K"]


def test_an_object_moving_into_the_scope_arrives_and_out_of_it_goes(scoped: Env) -> None:
    # u2 (of s2) enrolls in k1 as well: the tenant now sees it
    bundle = two_schools()
    bundle["enrollments"].append(enrollment("e9", "k1", "s1", "u2", "student"))
    scoped.collect(bundle)
    events = one_sync(scoped)
    assert ("ADD", "Student", "Bea B") in moves(events)
    student = next(e["data"] for e in events if e["label"] == "Bea B")
    assert ref_labels(student, "$schools") == []  # its school is s2
    assert ref_labels(student, "$sections") == ["K"]
    section = next(e for e in events if e["object_type"] == "Section")
    assert (section["action"], ref_labels(section["data"], "$students")) == (
        "UPDATE",
        ["A B", "Bea B"],
    )
    # and when the enrollment goes, so does the student
    scoped.collect(two_schools())
    events = one_sync(scoped)
    assert moves(events) == [("UPDATE", "Section", "K"), ("DELETE", "Student", "Bea B")]


@pytest.mark.parametrize("key", ["uuid", "ref"])
def test_a_school_that_leaves_the_district_stays_selected(scoped: Env, key: str) -> None:
    bundle = two_schools()
    s1 = school_ids(scoped)["s1"]
    without = copy.deepcopy(bundle)
    without["orgs"] = [o for o in bundle["orgs"] if o["sourcedId"] != "s1"]
    without["courses"] = [c for c in bundle["courses"] if c["orgSourcedId"] != "s1"]
    without["classes"] = [k for k in bundle["classes"] if k["schoolSourcedId"] != "s1"]
    without["enrollments"] = [e for e in bundle["enrollments"] if e["schoolSourcedId"] != "s1"]
    without["users"] = [
        {**u, "orgSourcedIds": "s2"} for u in bundle["users"] if u["sourcedId"] != "u1"
    ]
    scoped.hub.settings.mass_change_threshold = 1.0
    scoped.collect(without)
    # the tenant sees less (nothing at all: only s1 was selected), never the whole district
    assert in_order(one_sync(scoped)) == sorted(
        ("DELETE", kind, label)
        for kind, label in [
            ("Section", "K"),
            ("Teacher", "Vic B"),
            ("Student", "A B"),
            ("Course", "C"),
            ("Term", "T"),
            ("School", "S"),
            ("LEA", "D"),
        ]
    )
    for route in ("orgs", "persons", "courses", "sections", "terms"):
        assert data(scoped.client.get(f"{R}/{route}", headers=scoped.headers)) == []
    # the list shows the district's schools; the selection holds s1's id still
    assert [(s["school_ref_id"], s["selected"]) for s in listed(scoped)] == [("s2", False)]
    error(scoped.client.get(f"{SCHOOLS}/{s1}", headers=scoped.headers), 404)
    # a PUT cannot name it any more; its answer says how to drop it
    refused = scoped.client.put(f"{SCHOOLS}/{s1}", json={"selected": False}, headers=scoped.headers)
    assert "DELETE" in error(refused, 400)["message"]
    # dropping it (by its id or its source id) makes the whole district visible again
    path_id = s1 if key == "uuid" else "s1"
    assert scoped.client.delete(f"{SCHOOLS}/{path_id}", headers=scoped.headers).status_code == 204
    assert in_order(one_sync(scoped)) == sorted(
        ("ADD", kind, label)
        for kind, label in [
            ("LEA", "D"),
            ("School", "S2"),
            ("Term", "T"),
            ("Term", "T2"),
            ("Course", "C2"),
            ("Student", "Bea B"),
            ("Teacher", "Vic B"),
            ("Section", "K2"),
        ]
    )


# --- the query API ------------------------------------------------------------------------------


def test_the_query_api_shows_a_scoped_tenant_only_its_scope(scoped: Env) -> None:
    def get(path: str) -> Any:
        return data(scoped.client.get(f"{R}/{path}", headers=scoped.headers))

    assert labels(get("orgs")) == ["D", "S"]
    assert labels(get("leas")) == ["D"]
    assert labels(get("schools")) == ["S"]
    assert labels(get("persons")) == ["A B", "Vic B"]
    assert labels(get("students")) == ["A B"]
    assert labels(get("teachers")) == ["Vic B"]
    assert labels(get("courses")) == ["C"]
    assert labels(get("sections")) == ["K"]
    assert labels(get("terms")) == ["T"]
    (lea,) = get("leas")
    assert ref_labels(lea, "$children") == ["S"]
    assert ref_labels(get(f"leas/{lea['$sys']['id']}"), "$children") == ["S"]
    assert ref_labels(get(f"orgs/{lea['$sys']['id']}"), "$children") == ["S"]
    (teacher,) = get("teachers")
    assert ref_labels(teacher, "$schools") == ["S"]
    assert ref_labels(teacher, "$sections") == ["K"]
    found = get(f"persons/{teacher['$sys']['id']}")
    assert ref_labels(found, "$schools") == ["S"]
    assert ref_labels(found, "$sections") == ["K"]
    assert labels(get(f"orgs/{lea['$sys']['id']}/courses")) == ["C"]
    assert labels(get(f"orgs/{lea['$sys']['id']}/terms")) == ["T"]


@pytest.mark.parametrize(
    ("route", "source_id", "find"),
    [
        ("schools", "s2", "orgs"),
        ("students", "u2", "persons"),
        ("courses", "c2", "courses"),
        ("sections", "k2", "sections"),
        ("terms", "t2", "terms"),
    ],
)
def test_the_query_api_finds_nothing_outside_the_scope(
    active: Env, route: str, source_id: str, find: str
) -> None:
    object_id = repo_id(active, route, source_id)
    data(active.client.get(f"{R}/{find}/{object_id}", headers=active.headers))
    data(post(active, [{"school_ref_id": "s1"}]))
    error(active.client.get(f"{R}/{find}/{object_id}", headers=active.headers), 404)
    if route == "schools":
        for per_org in ("courses", "terms"):
            response = active.client.get(f"{R}/orgs/{object_id}/{per_org}", headers=active.headers)
            error(response, 404)
    assert active.client.delete(SCHOOLS, headers=active.headers).status_code == 204
    data(active.client.get(f"{R}/{find}/{object_id}", headers=active.headers))


def test_the_query_api_agrees_with_the_events(active: Env) -> None:
    """A driver's copy built from events equals what the query API shows, scoped or not."""
    copy_: dict[str, dict[str, Any]] = {}
    for item in data(active.client.get(f"{R}/orgs", headers=active.headers)):
        copy_[item["$sys"]["id"]] = item
    for route in ("persons", "courses", "sections", "terms"):
        for item in data(active.client.get(f"{R}/{route}", headers=active.headers)):
            copy_[item["$sys"]["id"]] = item

    def apply(events: list[dict[str, Any]]) -> None:
        for e in events:
            if e["action"] == "DELETE":
                del copy_[e["object_id"]]
            else:
                copy_[e["object_id"]] = e["data"]

    def served() -> dict[str, dict[str, Any]]:
        found = {}
        for route in ("orgs", "persons", "courses", "sections", "terms"):
            for item in data(active.client.get(f"{R}/{route}", headers=active.headers)):
                found[item["$sys"]["id"]] = item
        return found

    for step in (
        lambda: post(active, [{"school_ref_id": "s1"}]),
        lambda: active.collect(with_student(two_schools(), "u9", "s1", "k1")),
        lambda: post(active, [{"course_ref_id": "c2"}], COURSES),
        lambda: post(active, [{"school_ref_id": "s2"}]),
        lambda: active.client.delete(COURSES, headers=active.headers),
        lambda: active.client.delete(SCHOOLS, headers=active.headers),
    ):
        response = step()
        if isinstance(response, httpx.Response):
            assert response.status_code in (200, 204), response.text
        tasks = active.drain()
        if tasks:  # a step that moves nothing sends nothing
            apply(sync_of(tasks))
        assert {i: b["$sys"]["label"] for i, b in copy_.items()} == {
            i: b["$sys"]["label"] for i, b in served().items()
        }
        assert copy_ == served()


# --- the visible set in SQL ---------------------------------------------------------------------


def test_sql_a_category_of_an_invisible_section_stays_invisible(env: Env) -> None:
    """A grading category links to schools as a person does; it is no person of them."""
    with transaction(env.hub.sessions) as session:
        seed = seed_district(session, env.world.other_cloud_id)
        writer = SeedWriter(session, seed.cloud_id)
        writer.seed = seed
        writer.obj(
            "grading_category", "gc-bio", "Bio", {"name": "Bio"}, section="sec-bio", schools="s1"
        )
        tenant = uuid.UUID(env.tenant["id"])  # a selection of s1 (a tenant of another cloud)
        session.add(TenantScoping(tenant_id=tenant, kind="school", object_id=seed.objects["s1"].id))
        session.flush()  # its links and the selection (the session does not autoflush)
        selections = queries.selections_of(session, [tenant])
        assert selections == {tenant: Selection(frozenset({seed.objects["s1"].id}))}
        found = queries.visible_sets(session, seed.cloud_id, selections)[tenant]
        assert found is not None
        assert seed.objects["gc-hw"].id in found  # of a section of s1
        assert seed.objects["sec-bio"].id not in found  # s2's
        assert seed.objects["gc-bio"].id not in found


def tenant_of_new_integration(env: Env, name: str) -> uuid.UUID:
    """A tenant (in setup) of a new integration of the world's vendor, in the world's cloud."""
    vendor = env.world.vendor.headers
    created = data(env.client.post("/v2/interop/integrations", json={"name": name}, headers=vendor))
    data(
        env.client.post(
            f"/v2/interop/integrations/{created['id']}/versions",
            content=full_blueprint("1.0"),
            headers={**vendor, "Content-Type": "application/xml"},
        )
    )
    body = {"cloud_id": env.world.cloud_id, "integration_id": created["id"]}
    response = env.client.post(
        "/v2/platform/tenants", json=body, headers=env.world.operator.headers
    )
    return uuid.UUID(data(response, 201)["id"])


def test_sql_many_tenants_at_once_each_see_their_own_selection(env: Env) -> None:
    """The visible sets of several tenants are worked out together (one set of queries): each
    equals what the pure rules give its own selection — schools, courses only (every school),
    both, a school that is gone — and nothing leaks from one tenant's selection into another's."""
    tenants = [tenant_of_new_integration(env, f"many-{n}") for n in range(5)]
    with transaction(env.hub.sessions) as session:
        seed = seed_district(session, env.world.other_cloud_id)
        o = seed.objects
        picked = [
            [("school", o["s1"].id)],
            [("school", o["s2"].id)],
            [("course", o["c-art"].id)],  # courses only: every school
            [("school", o["s1"].id), ("course", o["c-bio"].id), ("course", o["c-math"].id)],
            [("school", uuid.UUID(UNKNOWN_ID))],  # a school that is not (or no longer) there
        ]
        for tenant, selection in zip(tenants, picked, strict=True):
            session.add_all(
                TenantScoping(tenant_id=tenant, kind=kind, object_id=object_id)
                for kind, object_id in selection
            )
        session.flush()
        selections = queries.selections_of(session, tenants)
        found = queries.visible_sets(session, seed.cloud_id, selections)
        district = queries.district(session, seed.cloud_id)
        for tenant in tenants:
            assert found[tenant] == visible(district, selections[tenant]), tenant
        first, second, by_course = (found[t] or frozenset() for t in tenants[:3])
        assert o["s1"].id in first
        assert o["s2"].id not in first
        assert o["s2"].id in second
        assert o["s1"].id not in second
        assert {o["s1"].id, o["s2"].id, o["c-art"].id} <= by_course
