"""Property tests of collection (issue 3, Acceptance), on SQLite and PostgreSQL.

Bulk bundles are the full state, so whatever was collected before, the Repository after
collecting a bundle must equal the Repository built from that bundle alone. Bundles are small,
valid OneRoster 1.1 bulk bundles drawn from a fixed pool of ``sourcedId``s per kind, so that
consecutive bundles overlap: the same ids with changed fields, links and memberships, ids that
disappear and ids that are new. Clouds are compared through source ids (ids derive from the
cloud).
"""

from __future__ import annotations

import csv
import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from interop_hub.clouds.schemas import CloudCreate
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction
from interop_hub.platform import service as platform
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.runtime import Hub
from tests.factories import make_account, run_collection

Rows = list[dict[str, str]]
BundleSpec = dict[str, Rows]
"""A bundle as data: file name (without ``.csv``) → rows (column → value)."""

BASE = ("sourcedId", "status", "dateLastModified")
COLUMNS: dict[str, tuple[str, ...]] = {
    "orgs": (*BASE, "name", "type", "identifier", "parentSourcedId", "metadata.address"),
    "academicSessions": (
        *BASE,
        *("title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"),
    ),
    "courses": (
        *BASE,
        *("schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects"),
        "metadata.credits",
    ),
    "classes": (
        *BASE,
        *("title", "grades", "courseSourcedId", "classCode", "classType", "location"),
        *("schoolSourcedId", "termSourcedIds", "subjects", "periods", "metadata.capacity"),
    ),
    "users": (
        *BASE,
        *("enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName"),
        *("familyName", "middleName", "identifier", "email", "sms", "phone"),
        *("agentSourcedIds", "grades", "password", "metadata.stateId", "metadata.homeroom"),
    ),
    "demographics": (
        *BASE,
        *("birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "white"),
        *("hispanicOrLatinoEthnicity", "cityOfBirth", "metadata.lunch"),
    ),
    "enrollments": (
        *BASE,
        *("classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary"),
        *("beginDate", "endDate", "metadata.seat"),
    ),
    "categories": (*BASE, "title"),
}
FILES = tuple(COLUMNS)
ABSENT = ("classResources", "courseResources", "lineItems", "resources", "results")

# The fixed pools of sourcedIds (unique across kinds, so a source id names one object).
DISTRICT = "d1"
SCHOOLS = ("s1", "s2", "s3")
SESSIONS = ("t1", "t2", "t3")
COURSES = ("c1", "c2", "c3", "c4")
CLASSES = ("k1", "k2", "k3", "k4", "k5")
USERS = ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8")
ENROLLMENTS = tuple(f"e{i:02d}" for i in range(1, 16))
CATEGORIES = ("g1", "g2", "g3")

# Small alphabets, so that a value changes often and equal values come back.
WORDS = ("Alder", "Birch", "Cedar", "Élan")
NAMES = ("Ann", "Bo", "Zoë", "O'Neil")
OPTIONAL_TEXT = ("", "x", "y, z")
STATUS = ("", "active", "Active")
STAMPS = ("", "2026-01-02", "2026-03-04T05:06:07.000Z")
DATES = ("2025-08-01", "2025-12-20", "2026-01-05", "2026-06-10")
YEARS = ("2025", "2026")
GRADES = ("", "KG", "01", "09,10", "KG, 01")
BOOLS = ("true", "false", "TRUE", "False")
FLAGS = ("", "true", "false")
SESSION_TYPES = ("schoolYear", "semester", "term", "gradingPeriod", "Term")
SCHOOL_TYPES = ("school", "School", "department")
CLASS_TYPES = ("scheduled", "homeroom", "Scheduled")
USER_ROLES = ("student", "teacher", "parent", "guardian", "administrator", "aide", "Student")
ENROLLMENT_ROLES = ("student", "teacher", "aide", "administrator", "proctor", "Teacher")
SEXES = ("", "male", "female", "other", "unspecified", "Female")


@st.composite
def _subset(draw: st.DrawFn, pool: Sequence[str], min_size: int = 0, odds: int = 3) -> list[str]:
    """Some ids of ``pool`` (each in with odds ``odds``:1), in a random order (the order rows
    are written in); shrinks towards fewer ids."""
    chosen = [sid for sid in pool if draw(st.integers(0, odds)) > 0]
    if len(chosen) < min_size:
        chosen = [draw(st.sampled_from(pool))]
    return list(draw(st.permutations(chosen)))


def _id_list(draw: st.DrawFn, pool: Sequence[str], min_size: int = 0) -> str:
    """A OneRoster list cell of distinct ids of ``pool`` (a comma, sometimes with a space)."""
    items = draw(_subset(pool, min_size, odds=1))
    return draw(st.sampled_from((",", ", "))).join(items)


def _base(draw: st.DrawFn, sid: str) -> dict[str, str]:
    return {
        "sourcedId": sid,
        "status": draw(st.sampled_from(STATUS)),
        "dateLastModified": draw(st.sampled_from(STAMPS)),
    }


def _ghosts(draw: st.DrawFn, pool: Sequence[str], used: Sequence[str]) -> Rows:
    """``tobedeleted`` rows of unused ids: in a bulk file they are simply not part of the state."""
    free = [sid for sid in pool if sid not in used]
    if not free:
        return []
    return [
        {"sourcedId": sid, "status": "tobedeleted", "dateLastModified": ""}
        for sid in draw(st.lists(st.sampled_from(free), max_size=1, unique=True))
    ]


def _pick(draw: st.DrawFn, values: Sequence[str]) -> str:
    return draw(st.sampled_from(values))


@st.composite
def bundles(draw: st.DrawFn) -> BundleSpec:
    """A small, valid OneRoster 1.1 bundle, every file bulk, every reference resolvable."""
    schools = draw(_subset(SCHOOLS))
    orgs = [DISTRICT, *schools]
    org_rows: Rows = [
        {
            **_base(draw, DISTRICT),
            "name": _pick(draw, WORDS) + " USD",
            "type": _pick(draw, ("district", "District")),
            "identifier": _pick(draw, OPTIONAL_TEXT),
            "parentSourcedId": "",
            "metadata.address": _pick(draw, OPTIONAL_TEXT),
        }
    ]
    for sid in schools:
        org_rows.append(
            {
                **_base(draw, sid),
                "name": _pick(draw, WORDS) + " School",
                "type": _pick(draw, SCHOOL_TYPES),
                "identifier": _pick(draw, OPTIONAL_TEXT),
                "parentSourcedId": _pick(draw, ("", DISTRICT, *schools)),
                "metadata.address": _pick(draw, OPTIONAL_TEXT),
            }
        )

    sessions = draw(_subset(SESSIONS))
    session_rows: Rows = []
    for sid in sessions:
        start, end = sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
        session_rows.append(
            {
                **_base(draw, sid),
                "title": _pick(draw, WORDS),
                "type": _pick(draw, SESSION_TYPES),
                "startDate": start,
                "endDate": end,
                "parentSourcedId": _pick(draw, ("", *[s for s in sessions if s != sid])),
                "schoolYear": _pick(draw, YEARS),
            }
        )

    courses = draw(_subset(COURSES))
    course_rows: Rows = [
        {
            **_base(draw, sid),
            "schoolYearSourcedId": _pick(draw, ("", *sessions)),
            "title": _pick(draw, WORDS),
            "courseCode": _pick(draw, OPTIONAL_TEXT),
            "grades": _pick(draw, GRADES),
            "orgSourcedId": _pick(draw, orgs),
            "subjects": _pick(draw, OPTIONAL_TEXT),
            "metadata.credits": _pick(draw, ("", "1", "2.5")),
        }
        for sid in courses
    ]

    classes = draw(_subset(CLASSES)) if courses and sessions else []
    class_rows: Rows = [
        {
            **_base(draw, sid),
            "title": _pick(draw, WORDS),
            "grades": _pick(draw, GRADES),
            "courseSourcedId": _pick(draw, courses),
            "classCode": _pick(draw, OPTIONAL_TEXT),
            "classType": _pick(draw, CLASS_TYPES),
            "location": _pick(draw, OPTIONAL_TEXT),
            "schoolSourcedId": _pick(draw, orgs),
            "termSourcedIds": _id_list(draw, sessions, min_size=1),
            "subjects": _pick(draw, OPTIONAL_TEXT),
            "periods": _pick(draw, ("", "1", "1,2")),
            "metadata.capacity": _pick(draw, ("", "20", "30")),
        }
        for sid in classes
    ]
    class_rows += _ghosts(draw, CLASSES, classes)

    users = draw(_subset(USERS))
    user_rows: Rows = [
        {
            **_base(draw, sid),
            "enabledUser": _pick(draw, BOOLS),
            "orgSourcedIds": _id_list(draw, orgs, min_size=1),
            "role": _pick(draw, USER_ROLES),
            "username": f"{sid}-{_pick(draw, ('a', 'b'))}",
            "userIds": _pick(draw, ("", "{LDAP:x}")),
            "givenName": _pick(draw, NAMES),
            "familyName": _pick(draw, NAMES),
            "middleName": _pick(draw, ("", "Q")),
            "identifier": _pick(draw, OPTIONAL_TEXT),
            "email": _pick(draw, ("", f"{sid}@a.example", f"{sid}@b.example")),
            "sms": _pick(draw, ("", "555")),
            "phone": _pick(draw, ("", "555-0100", "555-0199")),
            "agentSourcedIds": _id_list(draw, [u for u in users if u != sid]),
            "grades": _pick(draw, GRADES),
            "password": _pick(draw, ("", "hunter2")),
            "metadata.stateId": _pick(draw, OPTIONAL_TEXT),
            "metadata.homeroom": _pick(draw, ("", "101", "102")),
        }
        for sid in users
    ]
    user_rows += _ghosts(draw, USERS, users)

    demographic_rows: Rows = [
        {
            **_base(draw, sid),
            "birthDate": _pick(draw, ("", *DATES)),
            "sex": _pick(draw, SEXES),
            "americanIndianOrAlaskaNative": _pick(draw, FLAGS),
            "asian": _pick(draw, FLAGS),
            "white": _pick(draw, FLAGS),
            "hispanicOrLatinoEthnicity": _pick(draw, FLAGS),
            "cityOfBirth": _pick(draw, ("", "Lyon", "Oslo")),
            "metadata.lunch": _pick(draw, ("", "free", "paid")),
        }
        for sid in draw(_subset(users))
    ]

    enrollments = draw(_subset(ENROLLMENTS)) if classes and users else []
    enrollment_rows: Rows = []
    for sid in enrollments:
        begin = _pick(draw, ("", *DATES[:2]))
        enrollment_rows.append(
            {
                **_base(draw, sid),
                "classSourcedId": _pick(draw, classes),
                "schoolSourcedId": _pick(draw, orgs),
                "userSourcedId": _pick(draw, users),
                "role": _pick(draw, ENROLLMENT_ROLES),
                "primary": _pick(draw, ("", *BOOLS)),
                "beginDate": begin,
                "endDate": _pick(draw, ("", DATES[3])) if begin else "",
                "metadata.seat": _pick(draw, ("", "A", "B")),
            }
        )
    enrollment_rows += _ghosts(draw, ENROLLMENTS, enrollments)

    category_rows: Rows = [
        {**_base(draw, sid), "title": _pick(draw, ("Homework", "Tests", "Labs"))}
        for sid in draw(_subset(CATEGORIES))
    ]
    return {
        "orgs": org_rows,
        "academicSessions": session_rows,
        "courses": course_rows,
        "classes": class_rows,
        "users": user_rows,
        "demographics": demographic_rows,
        "enrollments": enrollment_rows,
        "categories": category_rows,
    }


@st.composite
def sequences(draw: st.DrawFn) -> list[BundleSpec]:
    """1 to 4 bundles, one after another (shrinking towards fewer)."""
    count = draw(st.sampled_from((1, 2, 3, 4, 2, 3, 4)))
    return [draw(bundles()) for _ in range(count)]


def write_bundle(folder: Path, bundle: BundleSpec) -> Path:
    """Write ``bundle`` as CSV files with a manifest declaring every file bulk."""
    folder.mkdir(parents=True)
    manifest = [("manifest.version", "1.0"), ("oneroster.version", "1.1")]
    manifest += [(f"file.{name}", "bulk") for name in FILES]
    manifest += [(f"file.{name}", "absent") for name in ABSENT]
    with (folder / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("propertyName", "value"))
        writer.writerows(manifest)
    for name in FILES:
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            dict_writer = csv.DictWriter(handle, fieldnames=COLUMNS[name], restval="")
            dict_writer.writeheader()
            dict_writer.writerows(bundle[name])
    return folder


# -- clouds, collections and snapshots ----------------------------------------------------------


@pytest.fixture
def owner(hub: Hub) -> uuid.UUID:
    """A district account that owns the clouds the examples create."""
    hub.settings.mass_change_threshold = 1.0  # nothing is ever held
    return make_account(hub, "education_agency", "Property USD").id


def new_cloud(hub: Hub, owner: uuid.UUID) -> uuid.UUID:
    with transaction(hub.sessions) as session:
        cloud = platform.create_cloud(session, owner, CloudCreate(name=f"c-{uuid.uuid4().hex[:8]}"))
    return cloud.id


def collect(hub: Hub, cloud_id: uuid.UUID, source: Path) -> Ingestion:
    """Run one collection; it must succeed with no rejected row."""
    done = run_collection(hub, cloud_id, source)
    assert done.state == "success", done.message
    assert done.rows_rejected == 0, f"{source.name}: {done.rows_rejected} rows rejected"
    return done


Snapshot = dict[str, Any]


def snapshot(hub: Hub, cloud_id: uuid.UUID) -> Snapshot:
    """The cloud's Repository in source ids: objects, links and memberships."""
    with transaction(hub.sessions) as session:
        objects = session.execute(
            select(
                RepoObject.id,
                RepoObject.kind,
                RepoObject.subtype,
                RepoObject.source_id,
                RepoObject.label,
                RepoObject.school_year,
                RepoObject.data,
            ).where(RepoObject.cloud_id == cloud_id)
        ).all()
        names = {row.id: f"{row.kind}:{row.source_id}" for row in objects}
        links = session.execute(
            select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id, RepoLink.position).where(
                RepoLink.cloud_id == cloud_id
            )
        ).all()
        members = session.execute(
            select(
                RepoMembership.source_id,
                RepoMembership.person_id,
                RepoMembership.section_id,
                RepoMembership.school_id,
                RepoMembership.role,
                RepoMembership.data,
            ).where(RepoMembership.cloud_id == cloud_id)
        ).all()

    def name(object_id: uuid.UUID | None) -> str | None:
        return None if object_id is None else names.get(object_id, f"dangling:{object_id}")

    return {
        "objects": {
            f"{row.kind}:{row.source_id}": {
                "kind": row.kind,
                "subtype": row.subtype,
                "source_id": row.source_id,
                "label": row.label,
                "school_year": row.school_year,
                "data": row.data,
            }
            for row in objects
        },
        "links": sorted(
            (str(name(link.from_id)), link.rel, str(name(link.to_id)), link.position)
            for link in links
        ),
        "memberships": {
            m.source_id: {
                "person": name(m.person_id),
                "section": name(m.section_id),
                "school": name(m.school_id),
                "role": m.role,
                "data": m.data,
            }
            for m in members
        },
    }


def assert_same(after_sequence: Snapshot, last_alone: Snapshot) -> None:
    """Compare part by part, so that a failure names what differs."""
    for part in ("objects", "memberships"):
        a, b = after_sequence[part], last_alone[part]
        assert a.keys() == b.keys(), (
            f"{part}: only after the sequence {a.keys() - b.keys()}, "
            f"only from the last bundle {b.keys() - a.keys()}"
        )
        differing = {key: (a[key], b[key]) for key in a if a[key] != b[key]}
        assert not differing, f"{part} differ (after the sequence, last alone): {differing}"
    only_a = set(after_sequence["links"]) - set(last_alone["links"])
    only_b = set(last_alone["links"]) - set(after_sequence["links"])
    assert not only_a, f"links only after the sequence: {only_a} (only alone: {only_b})"
    assert not only_b, f"links only from the last bundle alone: {only_b}"
    assert after_sequence == last_alone


EXAMPLES = int(os.environ.get("INTEROP_HUB_PROPERTY_EXAMPLES", "25"))
"""Examples per property and backend (raise it for a deeper search than the suite's)."""

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@PROPERTY
@given(sequence=sequences())
def test_the_last_bulk_bundle_alone_decides_the_repository(
    hub: Hub, owner: uuid.UUID, sequence: list[BundleSpec]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folders = [write_bundle(Path(tmp) / f"b{i}", b) for i, b in enumerate(sequence)]
        cloud_a, cloud_b = new_cloud(hub, owner), new_cloud(hub, owner)
        runs = [collect(hub, cloud_a, folder) for folder in folders]
        collect(hub, cloud_b, folders[-1])
        after_sequence, last_alone = snapshot(hub, cloud_a), snapshot(hub, cloud_b)
    assert after_sequence["objects"], "a bundle always has at least its district"
    later = runs[1:]
    event(f"bundles: {len(sequence)}")
    event(f"updated objects later: {any(r.objects_updated for r in later)}")
    event(f"deleted objects later: {any(r.objects_deleted for r in later)}")
    event(f"memberships in the end: {bool(last_alone['memberships'])}")
    assert_same(after_sequence, last_alone)


@settings(PROPERTY, max_examples=max(1, EXAMPLES * 3 // 5))
@given(bundle=bundles())
def test_collecting_the_same_bundle_again_changes_nothing(
    hub: Hub, owner: uuid.UUID, bundle: BundleSpec
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_bundle(Path(tmp) / "bundle", bundle)
        cloud = new_cloud(hub, owner)
        first = collect(hub, cloud, folder)
        before = snapshot(hub, cloud)
        again = collect(hub, cloud, folder)
        after = snapshot(hub, cloud)
    assert first.objects_added == len(before["objects"]) + len(before["memberships"])
    assert (again.objects_added, again.objects_updated, again.objects_deleted) == (0, 0, 0)
    assert after == before


def _minimal_bundle() -> BundleSpec:
    """One district, school, term, course, class, student and enrollment."""
    return {
        "orgs": [
            {"sourcedId": "d1", "name": "D", "type": "district"},
            {"sourcedId": "s1", "name": "S", "type": "school", "parentSourcedId": "d1"},
        ],
        "academicSessions": [
            {
                "sourcedId": "t1",
                "title": "T",
                "type": "term",
                "startDate": "2025-08-01",
                "endDate": "2026-06-10",
                "schoolYear": "2026",
            }
        ],
        "courses": [{"sourcedId": "c1", "title": "C", "orgSourcedId": "s1"}],
        "classes": [
            {
                "sourcedId": "k1",
                "title": "K",
                "courseSourcedId": "c1",
                "classType": "scheduled",
                "schoolSourcedId": "s1",
                "termSourcedIds": "t1",
            }
        ],
        "users": [
            {
                "sourcedId": "u1",
                "enabledUser": "true",
                "orgSourcedIds": "s1",
                "role": "student",
                "username": "u1",
                "givenName": "A",
                "familyName": "B",
            }
        ],
        "demographics": [],
        "enrollments": [
            {
                "sourcedId": "e1",
                "classSourcedId": "k1",
                "schoolSourcedId": "s1",
                "userSourcedId": "u1",
                "role": "student",
            }
        ],
        "categories": [],
    }


@pytest.mark.parametrize(
    ("file", "column", "value"),
    [("users", "orgSourcedIds", "s1,s1"), ("classes", "termSourcedIds", "t1, t1")],
)
def test_an_id_repeated_in_a_list_cell_does_not_fail_the_collection(
    hub: Hub, owner: uuid.UUID, tmp_path: Path, file: str, column: str, value: str
) -> None:
    bundle = _minimal_bundle()
    bundle[file][0][column] = value
    cloud = new_cloud(hub, owner)
    done = run_collection(hub, cloud, write_bundle(tmp_path / "b", bundle))
    assert done.state == "success", done.message
    assert done.rows_rejected == 0
    plain = new_cloud(hub, owner)
    assert run_collection(hub, plain, write_bundle(tmp_path / "p", _minimal_bundle())).state == (
        "success"
    )

    def link_count(cloud_id: uuid.UUID) -> int:
        with transaction(hub.sessions) as session:
            found = session.scalar(
                select(func.count()).select_from(RepoLink).where(RepoLink.cloud_id == cloud_id)
            )
        return int(found or 0)

    # the repeated id is one relationship: the same links as without the repetition
    assert link_count(cloud) == link_count(plain)
