"""The OneRoster CSV reader: bundles built in tmp_path, read, and every rule of issue 3 checked.

Rows are written from dicts (column → value) so that a test names the value it breaks; the
header is line 1 and the first data row line 2.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from interop_hub.ingest.oneroster import BundleError, read_bundle
from interop_hub.ingest.oneroster.bundle import ZipSource
from interop_hub.ingest.records import Bundle, Kind, Ref, RowError, SourceObject

BASE = ("sourcedId", "status", "dateLastModified")
COLUMNS: dict[str, tuple[str, ...]] = {
    "orgs": (*BASE, "name", "type", "identifier", "parentSourcedId"),
    "academicSessions": (
        *BASE,
        *("title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"),
    ),
    "courses": (
        *BASE,
        *("schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects"),
    ),
    "classes": (
        *BASE,
        *("title", "grades", "courseSourcedId", "classCode", "classType", "location"),
        *("schoolSourcedId", "termSourcedIds", "subjects", "periods"),
    ),
    "users": (
        *BASE,
        *("enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName"),
        *("familyName", "middleName", "identifier", "email", "sms", "phone"),
        *("agentSourcedIds", "grades", "password"),
    ),
    "enrollments": (
        *BASE,
        *("classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary"),
        *("beginDate", "endDate"),
    ),
    "demographics": (
        *BASE,
        *("birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "white"),
        *("hispanicOrLatinoEthnicity", "cityOfBirth"),
    ),
    "categories": (*BASE, "title"),
}
COLUMNS_12: dict[str, tuple[str, ...]] = {
    **COLUMNS,
    "users": (
        *BASE,
        *("enabledUser", "username", "userIds", "givenName", "familyName", "middleName"),
        *("identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password"),
        *("userMasterIdentifier", "preferredGivenName", "primaryOrgSourcedId", "pronouns"),
    ),
    "roles": (
        *BASE,
        *("userSourcedId", "roleType", "role", "beginDate", "endDate", "orgSourcedId"),
    ),
    "categories": (*BASE, "title", "weight"),
}
FILES = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
    "categories",
)

Rows = list[dict[str, str]]


def district(version: str = "1.1") -> dict[str, Rows]:
    """A small valid district: one LEA, one school, a year with a term, a course, a class,
    a student with a parent, a teacher, two enrollments, demographics, a category."""
    files: dict[str, Rows] = {
        "orgs": [
            {"sourcedId": "d1", "name": "Springfield", "type": "district", "identifier": "D-1"},
            {
                "sourcedId": "s1",
                "name": "Springfield High",
                "type": "school",
                "parentSourcedId": "d1",
            },
        ],
        "academicSessions": [
            {
                "sourcedId": "y1",
                "title": "2024-25",
                "type": "schoolYear",
                "startDate": "2024-08-01",
                "endDate": "2025-06-30",
                "schoolYear": "2025",
            },
            {
                "sourcedId": "t1",
                "title": "Fall",
                "type": "term",
                "startDate": "2024-08-01",
                "endDate": "2024-12-20",
                "parentSourcedId": "y1",
                "schoolYear": "2025",
            },
        ],
        "courses": [
            {
                "sourcedId": "c1",
                "schoolYearSourcedId": "y1",
                "title": "Algebra I",
                "courseCode": "ALG1",
                "grades": "09, 10",
                "orgSourcedId": "s1",
                "subjects": "Math",
            }
        ],
        "classes": [
            {
                "sourcedId": "k1",
                "title": "Algebra I - P1",
                "courseSourcedId": "c1",
                "classCode": "ALG1-1",
                "classType": "scheduled",
                "location": "R101",
                "schoolSourcedId": "s1",
                "termSourcedIds": "t1",
                "periods": "1",
            }
        ],
        "users": [
            _user("u1", "student", "Ann", "Lee", middleName="M", identifier="1001", agents="p1"),
            _user("u2", "teacher", "Bob", "Ray", phone="555-1234", password="hunter2"),
            _user("p1", "parent", "Pat", "Lee", agents="u1"),
        ],
        "enrollments": [
            {
                "sourcedId": "e1",
                "classSourcedId": "k1",
                "schoolSourcedId": "s1",
                "userSourcedId": "u1",
                "role": "student",
                "primary": "false",
                "beginDate": "2024-08-01",
                "endDate": "2024-12-20",
            },
            {
                "sourcedId": "e2",
                "classSourcedId": "k1",
                "schoolSourcedId": "s1",
                "userSourcedId": "u2",
                "role": "teacher",
                "primary": "true",
            },
        ],
        "demographics": [
            {
                "sourcedId": "u1",
                "birthDate": "2010-03-04",
                "sex": "female",
                "asian": "true",
                "white": "false",
                "cityOfBirth": "Springfield",
            }
        ],
        "categories": [{"sourcedId": "g1", "title": "Homework"}],
    }
    if version == "1.2":
        roles = {"u1": "student", "u2": "teacher", "p1": "parent"}
        files["roles"] = [
            {
                "sourcedId": f"r-{user['sourcedId']}",
                "userSourcedId": user["sourcedId"],
                "roleType": "primary",
                "role": roles[user["sourcedId"]],
                "orgSourcedId": "s1",
            }
            for user in files["users"]
        ]
        for user in files["users"]:
            del user["role"], user["orgSourcedIds"]
    return files


def _user(
    sid: str, role: str, first: str, last: str, *, agents: str = "", **more: str
) -> dict[str, str]:
    return {
        "sourcedId": sid,
        "enabledUser": "true",
        "orgSourcedIds": "s1",
        "role": role,
        "username": first.lower(),
        "givenName": first,
        "familyName": last,
        "email": f"{first.lower()}@example.org",
        "agentSourcedIds": agents,
        **more,
    }


def to_csv(columns: tuple[str, ...], rows: Rows, newline: str = "\n") -> str:
    extra = [c for row in rows for c in row if c not in columns]
    header = [*columns, *dict.fromkeys(extra)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(header)
    writer.writerows([row.get(c, "") for c in header] for row in rows)
    return out.getvalue()


def write(
    root: Path,
    files: Mapping[str, Rows | str | bytes],
    *,
    version: str = "1.1",
    modes: Mapping[str, str] | None = None,
    manifest: str | None = None,
) -> Path:
    """A bundle folder: ``files`` (rows, or raw text/bytes) and a manifest declaring them bulk
    (``modes`` overrides; files not given are absent)."""
    root.mkdir(parents=True, exist_ok=True)
    declared = dict.fromkeys(files, "bulk") | dict(modes or {})
    names = (*FILES, "roles") if version == "1.2" else FILES
    if manifest is None:
        props = [("manifest.version", "1.0"), ("oneroster.version", version)]
        props += [(f"file.{n}", declared.get(n, "absent")) for n in names]
        manifest = "propertyName,value\n" + "".join(f"{k},{v}\n" for k, v in props)
    (root / "manifest.csv").write_text(manifest, encoding="utf-8")
    columns = COLUMNS_12 if version == "1.2" else COLUMNS
    for name, content in files.items():
        if isinstance(content, bytes):
            (root / f"{name}.csv").write_bytes(content)
        elif isinstance(content, str):
            (root / f"{name}.csv").write_text(content, encoding="utf-8", newline="")
        else:
            text = to_csv(columns[name], content)
            (root / f"{name}.csv").write_text(text, encoding="utf-8", newline="")
    return root


def zip_folder(folder: Path, target: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, prefix + path.name)
    return target


def objects(bundle: Bundle, kind: str) -> dict[str, SourceObject]:
    return {o.source_id: o for o in bundle.objects if o.kind == kind}


def only_error(bundle: Bundle) -> RowError:
    assert len(bundle.errors) == 1, bundle.errors
    return bundle.errors[0]


def where(error: RowError) -> tuple[str, int, str | None, str | None]:
    return error.file, error.line, error.column, error.source_id


# -- a valid bundle -----------------------------------------------------------------------------


def test_a_11_bundle_maps_to_the_data_model(tmp_path: Path) -> None:
    bundle = read_bundle(write(tmp_path / "b", district()))

    assert bundle.errors == []
    assert bundle.version == "1.1"
    assert bundle.modes["users"] == "bulk"
    assert bundle.modes["categories"] == "bulk"
    assert bundle.rows_read == 2 + 2 + 1 + 1 + 3 + 2 + 1 + 1
    assert bundle.bulk_kinds() == {"org", "term", "course", "section", "person", "grading_category"}

    orgs = objects(bundle, "org")
    assert orgs["d1"] == SourceObject(
        "org",
        "d1",
        "lea",
        "Springfield",
        None,
        {"name": "Springfield", "local_id": "D-1", "$ext": {}},
    )
    assert orgs["s1"].subtype == "school"
    assert orgs["s1"].refs == (Ref("parent", "org", "d1"),)

    terms = objects(bundle, "term")
    assert terms["t1"].subtype == "term"
    assert terms["y1"].subtype == "schoolYear"
    assert terms["t1"].label == "Fall"
    assert terms["t1"].school_year == 2025
    assert terms["t1"].data == {
        "name": "Fall",
        "start_date": "2024-08-01",
        "end_date": "2024-12-20",
        "school_year": 2025,
        "$ext": {},
    }
    assert terms["t1"].refs == (Ref("parent", "term", "y1"),)

    course = objects(bundle, "course")["c1"]
    assert course.subtype is None
    assert course.label == "Algebra I"
    assert course.school_year == 2025
    assert course.data == {
        "title": "Algebra I",
        "local_id": "ALG1",
        "$ext": {"grades": ["09", "10"], "subjects": ["Math"]},
    }
    assert course.refs == (Ref("orgs", "org", "s1"), Ref("school_year", "term", "y1"))

    section = objects(bundle, "section")["k1"]
    assert section.label == "Algebra I - P1"
    assert section.school_year == 2025
    assert section.data == {
        "title": "Algebra I - P1",
        "local_id": "ALG1-1",
        "$ext": {"classType": "scheduled", "location": "R101", "periods": ["1"]},
    }
    assert section.refs == (
        Ref("course", "course", "c1"),
        Ref("org", "org", "s1"),
        Ref("terms", "term", "t1"),
    )

    persons = objects(bundle, "person")
    ann = persons["u1"]
    assert (ann.subtype, ann.label, ann.school_year) == ("student", "Ann Lee", None)
    assert ann.data == {
        "local_id": "1001",
        "name": {"first": "Ann", "middle": "M", "last": "Lee"},
        "email": "ann@example.org",
        "phone": None,
        "sex": "female",
        "dob": "2010-03-04",
        "$ext": {
            "enabledUser": True,
            "role": "student",
            "username": "ann",
            "asian": True,
            "white": False,
            "cityOfBirth": "Springfield",
        },
    }
    assert ann.refs == (Ref("schools", "org", "s1"), Ref("agents", "person", "p1"))
    assert persons["u2"].subtype == "teacher"
    assert persons["p1"].subtype == "contact"
    assert persons["u2"].data["phone"] == "555-1234"
    # demographics is bulk: a person without a row has them empty
    assert persons["u2"].data["sex"] is None
    assert persons["u2"].data["dob"] is None
    assert "password" not in persons["u2"].data["$ext"]
    assert "hunter2" not in repr(bundle)

    category = objects(bundle, "grading_category")["g1"]
    assert (category.label, category.data) == ("Homework", {"name": "Homework", "$ext": {}})

    members = {m.source_id: m for m in bundle.memberships}
    e1, e2 = members["e1"], members["e2"]
    assert (e1.person_source_id, e1.section_source_id, e1.school_source_id, e1.role) == (
        "u1",
        "k1",
        "s1",
        "student",
    )
    assert e1.data == {
        "primary": False,
        "begin_date": "2024-08-01",
        "end_date": "2024-12-20",
        "$ext": {},
    }
    assert e2.data == {"primary": True, "begin_date": None, "end_date": None, "$ext": {}}
    assert bundle.deleted == []
    assert bundle.deleted_memberships == []
    assert bundle.person_patches == {}


def test_a_12_bundle_takes_roles_from_roles_csv(tmp_path: Path) -> None:
    files = district("1.2")
    files["users"][0].update(preferredGivenName="Annie", pronouns="she/her")
    files["roles"].append(
        {
            "sourcedId": "r-u2-d",
            "userSourcedId": "u2",
            "roleType": "secondary",
            "role": "districtAdministrator",
            "orgSourcedId": "d1",
        }
    )
    files["roles"][1]["role"] = "principal"  # u2's primary role
    files["categories"][0]["weight"] = "0.25"
    bundle = read_bundle(write(tmp_path / "b", files, version="1.2"))

    assert bundle.errors == []
    assert bundle.version == "1.2"
    assert bundle.modes["roles"] == "bulk"
    assert bundle.rows_read == 2 + 2 + 1 + 1 + 3 + 4 + 2 + 1 + 1
    persons = objects(bundle, "person")
    ann, bob = persons["u1"], persons["u2"]
    assert ann.subtype == "student"
    assert ann.data["$ext"]["role"] == "student"
    assert ann.data["$ext"]["preferredGivenName"] == "Annie"
    assert ann.data["$ext"]["pronouns"] == "she/her"
    assert bob.subtype == "staff"
    assert bob.data["$ext"]["role"] == "principal"
    assert bob.refs == (Ref("schools", "org", "s1"), Ref("schools", "org", "d1"))
    assert persons["p1"].subtype == "contact"
    assert objects(bundle, "grading_category")["g1"].data["$ext"] == {"weight": 0.25}


def test_a_12_users_file_with_role_columns_is_read_without_roles_csv(tmp_path: Path) -> None:
    rows = district("1.1")  # its users still have role and orgSourcedIds
    files: dict[str, Rows | str] = {
        "orgs": rows["orgs"],
        "users": to_csv((*COLUMNS_12["users"], "role", "orgSourcedIds"), rows["users"]),
    }
    bundle = read_bundle(write(tmp_path / "b", files, version="1.2"))
    assert bundle.modes["roles"] == "absent"
    assert bundle.errors == []
    persons = objects(bundle, "person")
    assert persons["u2"].subtype == "teacher"
    assert persons["u2"].refs == (Ref("schools", "org", "s1"),)


def test_a_12_bundle_without_roles_anywhere_is_unreadable(tmp_path: Path) -> None:
    files = district("1.2")
    del files["roles"]
    with pytest.raises(BundleError, match=r"users\.csv: required column 'role' is missing"):
        read_bundle(write(tmp_path / "b", files, version="1.2"))


def test_a_12_user_without_a_role_is_rejected(tmp_path: Path) -> None:
    files = district("1.2")
    files["roles"] = [r for r in files["roles"] if r["userSourcedId"] != "u2"]
    bundle = read_bundle(write(tmp_path / "b", files, version="1.2"))
    errors = [where(e) for e in bundle.errors]
    assert ("users.csv", 3, "role", "u2") in errors
    assert ("enrollments.csv", 3, "userSourcedId", "e2") in errors  # cascade


def test_a_12_role_of_an_unknown_user_or_org_is_an_error(tmp_path: Path) -> None:
    files = district("1.2")
    role = {"roleType": "secondary", "role": "aide"}
    files["roles"] += [
        {**role, "sourcedId": "rx", "userSourcedId": "nobody", "orgSourcedId": "s1"},
        {**role, "sourcedId": "ry", "userSourcedId": "u1", "orgSourcedId": "nowhere"},
    ]
    bundle = read_bundle(write(tmp_path / "b", files, version="1.2"))
    assert [(where(e), e.reason) for e in bundle.errors] == [
        (("roles.csv", 5, "userSourcedId", "rx"), "refers to unknown user 'nobody'"),
        (("roles.csv", 6, "orgSourcedId", "ry"), "refers to unknown org 'nowhere'"),
    ]


def test_a_zip_reads_like_the_folder(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", district())
    from_folder = read_bundle(folder)
    from_zip = read_bundle(zip_folder(folder, tmp_path / "b.zip"))
    nested = read_bundle(zip_folder(folder, tmp_path / "nested.zip", prefix="export/"))
    assert from_zip == from_folder
    assert nested == from_folder


def test_extra_columns_land_in_ext_under_their_full_name(tmp_path: Path) -> None:
    files = district()
    files["orgs"][1]["metadata.nces_id"] = "1234"
    files["orgs"][1]["colour"] = "blue"
    files["enrollments"][0]["metadata.seat"] = "A4"
    bundle = read_bundle(write(tmp_path / "b", files))
    assert bundle.errors == []
    assert objects(bundle, "org")["s1"].data["$ext"] == {
        "metadata.nces_id": "1234",
        "colour": "blue",
    }
    assert objects(bundle, "org")["d1"].data["$ext"] == {}
    members = {m.source_id: m for m in bundle.memberships}
    assert members["e1"].data["$ext"] == {"metadata.seat": "A4"}
    assert members["e2"].data["$ext"] == {}


def test_enumerations_and_booleans_match_ignoring_case(tmp_path: Path) -> None:
    files = district()
    files["orgs"][0]["type"] = "District"
    files["users"][0].update(role="Student", enabledUser="TRUE")
    files["enrollments"][1]["primary"] = "True"
    bundle = read_bundle(write(tmp_path / "b", files))
    assert bundle.errors == []
    assert objects(bundle, "org")["d1"].subtype == "lea"
    ann = objects(bundle, "person")["u1"]
    assert ann.subtype == "student"
    assert ann.data["$ext"]["role"] == "student"
    assert ann.data["$ext"]["enabledUser"] is True
    assert {m.source_id: m.data["primary"] for m in bundle.memberships} == {"e1": False, "e2": True}


def test_other_org_types_and_staff_roles(tmp_path: Path) -> None:
    files = district()
    files["orgs"].append({"sourcedId": "x1", "name": "Science Dept", "type": "department"})
    for i, role in enumerate(("aide", "administrator", "proctor", "guardian", "relative")):
        files["users"].append(_user(f"v{i}", role, "V", str(i)))
    bundle = read_bundle(write(tmp_path / "b", files))
    assert bundle.errors == []
    assert objects(bundle, "org")["x1"].subtype == "department"
    persons = objects(bundle, "person")
    assert [persons[f"v{i}"].subtype for i in range(5)] == [
        "staff",
        "staff",
        "staff",
        "contact",
        "contact",
    ]


# -- row errors -------------------------------------------------------------------------------

ROW_ERRORS = [
    # (file, row index, column, bad value, expected column, reason fragment)
    ("orgs", 1, "name", "", "name", "missing required field"),
    ("orgs", 1, "type", "campus", "type", "unknown type 'campus'"),
    ("orgs", 1, "parentSourcedId", "d9", "parentSourcedId", "refers to unknown org 'd9'"),
    ("orgs", 1, "status", "inactive", "status", "unknown status 'inactive'"),
    ("orgs", 1, "dateLastModified", "yesterday", "dateLastModified", "bad date-time"),
    ("orgs", 1, "dateLastModified", "2024-02-30T10:00:00Z", "dateLastModified", "bad date-time"),
    ("academicSessions", 1, "type", "quarter", "type", "unknown type 'quarter'"),
    ("academicSessions", 1, "startDate", "08/01/2024", "startDate", "bad date '08/01/2024'"),
    ("academicSessions", 1, "endDate", "2024-13-01", "endDate", "bad date '2024-13-01'"),
    ("academicSessions", 1, "endDate", "2024-07-01", "endDate", "is before startDate"),
    ("academicSessions", 1, "schoolYear", "24/25", "schoolYear", "bad year '24/25'"),
    ("academicSessions", 1, "parentSourcedId", "y9", "parentSourcedId", "unknown academicSession"),
    ("courses", 0, "orgSourcedId", "s9", "orgSourcedId", "refers to unknown org 's9'"),
    ("courses", 0, "title", "", "title", "missing required field"),
    ("courses", 0, "schoolYearSourcedId", "y9", "schoolYearSourcedId", "unknown academicSession"),
    ("classes", 0, "classType", "lab", "classType", "unknown classType 'lab'"),
    ("classes", 0, "courseSourcedId", "c9", "courseSourcedId", "refers to unknown course 'c9'"),
    ("classes", 0, "schoolSourcedId", "s9", "schoolSourcedId", "refers to unknown org 's9'"),
    ("classes", 0, "termSourcedIds", "t1,t9", "termSourcedIds", "unknown academicSession 't9'"),
    ("classes", 0, "termSourcedIds", " , ", "termSourcedIds", "missing required field"),
    ("users", 1, "role", "janitor", "role", "unknown role 'janitor'"),
    ("users", 1, "enabledUser", "yes", "enabledUser", "unknown enabledUser 'yes'"),
    ("users", 1, "givenName", "", "givenName", "missing required field"),
    ("users", 1, "orgSourcedIds", "s1,s9", "orgSourcedIds", "refers to unknown org 's9'"),
    ("users", 1, "agentSourcedIds", "u9", "agentSourcedIds", "refers to unknown user 'u9'"),
    ("enrollments", 1, "role", "parent", "role", "unknown role 'parent'"),
    ("enrollments", 1, "primary", "maybe", "primary", "unknown primary 'maybe'"),
    ("enrollments", 1, "beginDate", "2024-8-1", "beginDate", "bad date '2024-8-1'"),
    ("enrollments", 1, "userSourcedId", "u9", "userSourcedId", "refers to unknown user 'u9'"),
    ("enrollments", 1, "classSourcedId", "k9", "classSourcedId", "refers to unknown class 'k9'"),
    ("enrollments", 1, "schoolSourcedId", "s9", "schoolSourcedId", "refers to unknown org 's9'"),
    ("enrollments", 1, "schoolSourcedId", "", "schoolSourcedId", "missing required field"),
    ("demographics", 0, "sex", "f", "sex", "unknown sex 'f'"),
    ("demographics", 0, "birthDate", "2010-02-30", "birthDate", "bad date '2010-02-30'"),
    ("demographics", 0, "asian", "Y", "asian", "unknown asian 'Y'"),
    ("demographics", 0, "sourcedId", "u9", "sourcedId", "refers to unknown user 'u9'"),
    ("categories", 0, "title", "", "title", "missing required field"),
]


@pytest.mark.parametrize(("file", "index", "column", "value", "expected", "reason"), ROW_ERRORS)
def test_a_bad_value_rejects_its_row_only(
    tmp_path: Path, file: str, index: int, column: str, value: str, expected: str, reason: str
) -> None:
    files = district()
    row = files[file][index]
    row[column] = value
    bundle = read_bundle(write(tmp_path / "b", files))
    # errors come in file order: the first is the broken row (rows referring to it follow)
    error = bundle.errors[0]
    assert where(error) == (f"{file}.csv", index + 2, expected, row["sourcedId"])
    assert reason in error.reason
    assert [e for e in bundle.errors if e.file == f"{file}.csv"] == [error]
    if file in ("enrollments", "demographics", "categories"):  # nothing refers to them
        assert len(bundle.errors) == 1
    if file == "enrollments":
        assert {m.source_id for m in bundle.memberships} == {"e1"}


def test_a_missing_sourced_id_a_duplicate_and_a_short_row(tmp_path: Path) -> None:
    files: dict[str, Any] = district()
    files["categories"] = (
        "sourcedId,status,dateLastModified,title\n"
        "g1,,,Homework\n"
        ",,,Nameless\n"
        "g1,,,Again\n"
        "g2,,Quiz\n"
        "g3,,,Tests,extra\n"
        "g4,,,Labs\n"
    )
    bundle = read_bundle(write(tmp_path / "b", files))
    assert [(where(e), e.reason) for e in bundle.errors] == [
        (("categories.csv", 3, "sourcedId", None), "missing required field"),
        (("categories.csv", 4, "sourcedId", "g1"), "duplicate sourcedId (an earlier row has it)"),
        (("categories.csv", 5, None, "g2"), "the row has 3 fields, the header has 4"),
        (("categories.csv", 6, None, "g3"), "the row has 5 fields, the header has 4"),
    ]
    categories = objects(bundle, "grading_category")
    assert sorted(categories) == ["g1", "g4"]
    assert categories["g1"].label == "Homework"  # the first one wins
    assert bundle.rows_read == 12 + 6  # every data row, good or bad


def test_a_rejected_row_takes_the_rows_that_refer_to_it_along(tmp_path: Path) -> None:
    files = district()
    files["courses"][0]["title"] = ""  # course → class → both enrollments
    bundle = read_bundle(write(tmp_path / "b", files))
    assert [where(e) for e in bundle.errors] == [
        ("courses.csv", 2, "title", "c1"),
        ("classes.csv", 2, "courseSourcedId", "k1"),
        ("enrollments.csv", 2, "classSourcedId", "e1"),
        ("enrollments.csv", 3, "classSourcedId", "e2"),
    ]
    assert not objects(bundle, "course")
    assert not objects(bundle, "section")
    assert bundle.memberships == []


def test_references_within_a_file_settle_in_chains(tmp_path: Path) -> None:
    files = district()
    files["orgs"] = [
        {"sourcedId": "s3", "name": "Annex", "type": "school", "parentSourcedId": "s2"},
        {"sourcedId": "s2", "name": "Campus", "type": "local", "parentSourcedId": "d1"},
        {"sourcedId": "d1", "name": "District", "type": "district", "parentSourcedId": "x"},
        {"sourcedId": "s1", "name": "High", "type": "school"},
    ]
    files["users"][0]["agentSourcedIds"] = "p1"
    files["users"][2]["agentSourcedIds"] = "u9"  # p1 falls, and u1 with it
    bundle = read_bundle(write(tmp_path / "b", files))
    errors = [(where(e), e.reason) for e in bundle.errors]
    assert errors[:3] == [
        (("orgs.csv", 2, "parentSourcedId", "s3"), "refers to unknown org 's2'"),
        (("orgs.csv", 3, "parentSourcedId", "s2"), "refers to unknown org 'd1'"),
        (("orgs.csv", 4, "parentSourcedId", "d1"), "refers to unknown org 'x'"),
    ]
    assert (("users.csv", 2, "agentSourcedIds", "u1"), "refers to unknown user 'p1'") in errors
    assert (("users.csv", 4, "agentSourcedIds", "p1"), "refers to unknown user 'u9'") in errors
    assert sorted(objects(bundle, "org")) == ["s1"]
    assert sorted(objects(bundle, "person")) == ["u2"]


# -- bulk and delta -------------------------------------------------------------------------------


def test_a_delta_file_deletes_only_tobedeleted_rows(tmp_path: Path) -> None:
    stamp = "2024-09-01T12:00:00.000Z"
    files = {
        "users": [
            {**_user("u1", "student", "Ann", "Lee"), "status": "active", "dateLastModified": stamp},
            {"sourcedId": "u7", "status": "tobedeleted", "dateLastModified": stamp},
            {"sourcedId": "u8", "status": "tobedeleted", "dateLastModified": stamp},
        ],
        "enrollments": [
            {"sourcedId": "e7", "status": "tobedeleted", "dateLastModified": "2024-09-01"},
            {"sourcedId": "e8", "status": "tobedeleted", "dateLastModified": stamp},
        ],
    }
    existing: dict[Kind, set[str]] = {"org": {"s1"}, "person": {"u1", "u7"}}
    bundle = read_bundle(
        write(tmp_path / "b", files, modes={"users": "delta", "enrollments": "delta"}),
        existing=existing,
        existing_memberships={"e7"},
    )
    assert bundle.errors == []
    assert bundle.bulk_kinds() == set()
    assert sorted(objects(bundle, "person")) == ["u1"]
    assert bundle.deleted == [("person", "u7")]  # u8 is not in the Repository: nothing to do
    assert bundle.deleted_memberships == ["e7"]

    without_existing = read_bundle(
        write(tmp_path / "c", files, modes={"users": "delta", "enrollments": "delta"}),
        existing={"org": {"s1"}},
    )
    assert without_existing.deleted == [("person", "u7"), ("person", "u8")]
    assert without_existing.deleted_memberships == ["e7", "e8"]


def test_a_delta_row_needs_status_and_date_last_modified(tmp_path: Path) -> None:
    files = {
        "categories": [
            {"sourcedId": "g1", "title": "A", "dateLastModified": "2024-09-01T00:00:00Z"},
            {"sourcedId": "g2", "title": "B", "status": "active"},
            {"sourcedId": "g3", "title": "C", "status": "active", "dateLastModified": "2024-09-01"},
        ]
    }
    bundle = read_bundle(write(tmp_path / "b", files, modes={"categories": "delta"}))
    assert [(where(e), e.reason) for e in bundle.errors] == [
        (("categories.csv", 2, "status", "g1"), "missing required field"),
        (("categories.csv", 3, "dateLastModified", "g2"), "missing required field"),
    ]
    assert sorted(objects(bundle, "grading_category")) == ["g3"]


def test_a_delta_file_without_a_status_column_is_unreadable(tmp_path: Path) -> None:
    text = "sourcedId,dateLastModified,title\ng1,2024-09-01,A\n"
    with pytest.raises(BundleError, match=r"categories\.csv: required column 'status' is missing"):
        read_bundle(write(tmp_path / "b", {"categories": text}, modes={"categories": "delta"}))


def test_a_bulk_row_marked_tobedeleted_is_simply_not_in_the_state(tmp_path: Path) -> None:
    files = {
        "categories": [
            {"sourcedId": "g1", "title": "A"},
            {"sourcedId": "g2", "status": "tobedeleted"},
        ]
    }
    bundle = read_bundle(write(tmp_path / "b", files))
    assert bundle.errors == []
    assert bundle.deleted == []
    assert sorted(objects(bundle, "grading_category")) == ["g1"]
    assert bundle.rows_read == 2


def test_a_tobedeleted_row_needs_no_other_values(tmp_path: Path) -> None:
    row = {
        "sourcedId": "o1",
        "status": "tobedeleted",
        "dateLastModified": "2024-01-01",
        "type": "x",
    }
    bundle = read_bundle(write(tmp_path / "b", {"orgs": [row]}, modes={"orgs": "delta"}))
    assert bundle.errors == []
    assert bundle.deleted == [("org", "o1")]


# -- references against the Repository ---------------------------------------------------------


def _classes_only(tmp_path: Path, name: str, modes: dict[str, str]) -> Path:
    files: dict[str, Rows] = {"classes": district()["classes"]}
    if modes.get("orgs") == "delta":
        files["orgs"] = [
            {"sourcedId": "s1", "status": "tobedeleted", "dateLastModified": "2024-09-01"}
        ]
    return write(tmp_path / name, files, modes=modes)


def test_a_reference_into_an_absent_or_delta_file_may_point_at_the_repository(
    tmp_path: Path,
) -> None:
    existing: dict[Kind, set[str]] = {"org": {"s1"}, "course": {"c1"}, "term": {"t1"}}
    bundle = read_bundle(_classes_only(tmp_path, "a", {}), existing=existing)
    assert bundle.errors == []
    assert objects(bundle, "section")["k1"].school_year is None  # its term is not in the bundle

    missing = read_bundle(_classes_only(tmp_path, "b", {}), existing={"org": {"s1"}})
    assert [(where(e), e.reason) for e in missing.errors] == [
        (("classes.csv", 2, "courseSourcedId", "k1"), "refers to unknown course 'c1'")
    ]

    deleted_here = read_bundle(
        _classes_only(tmp_path, "c", {"orgs": "delta"}),
        existing=existing,
    )
    assert [(where(e), e.reason) for e in deleted_here.errors] == [
        (("classes.csv", 2, "schoolSourcedId", "k1"), "refers to unknown org 's1'")
    ]
    assert deleted_here.deleted == [("org", "s1")]


def test_a_reference_into_a_bulk_file_must_point_into_the_bundle(tmp_path: Path) -> None:
    files = district()
    files["orgs"] = [files["orgs"][0]]  # s1 is no longer in the bulk orgs file
    existing: dict[Kind, set[str]] = {"org": {"d1", "s1"}}
    bundle = read_bundle(write(tmp_path / "b", files), existing=existing)
    assert where(bundle.errors[0]) == ("courses.csv", 2, "orgSourcedId", "c1")
    assert bundle.errors[0].reason == "refers to unknown org 's1'"


def test_a_delta_file_row_rejected_still_leaves_the_existing_object(tmp_path: Path) -> None:
    stamp = "2024-09-01T00:00:00Z"
    school = {"sourcedId": "s1", "status": "active", "dateLastModified": stamp, "type": "school"}
    files: dict[str, Rows] = {"orgs": [school], "classes": district()["classes"]}
    existing: dict[Kind, set[str]] = {"org": {"s1"}, "course": {"c1"}, "term": {"t1"}}
    bundle = read_bundle(
        write(tmp_path / "b", files, modes={"orgs": "delta"}),
        existing=existing,
    )
    assert [where(e) for e in bundle.errors] == [("orgs.csv", 2, "name", "s1")]
    assert sorted(objects(bundle, "section")) == ["k1"]


# -- demographics ------------------------------------------------------------------------------


def test_demographics_of_persons_outside_the_users_file_become_patches(tmp_path: Path) -> None:
    stamp = "2024-09-01T00:00:00Z"
    files: dict[str, Rows] = {
        "demographics": [
            {"sourcedId": "u1", "birthDate": "2010-03-04", "sex": "male", "white": "true"},
            {"sourcedId": "u2", "sex": "other"},
            {"sourcedId": "u9", "sex": "female"},
        ],
        "users": [{"sourcedId": "u2", "status": "tobedeleted", "dateLastModified": stamp}],
    }
    bundle = read_bundle(
        write(tmp_path / "b", files, modes={"users": "delta"}),
        existing={"person": {"u1", "u2"}},
    )
    assert bundle.person_patches == {
        "u1": {"sex": "male", "dob": "2010-03-04", "$ext": {"white": True}},
    }
    assert [(where(e), e.reason) for e in bundle.errors] == [
        (("demographics.csv", 3, "sourcedId", "u2"), "refers to unknown user 'u2'"),
        (("demographics.csv", 4, "sourcedId", "u9"), "refers to unknown user 'u9'"),
    ]


def test_delta_demographics_say_nothing_about_persons_without_a_row(tmp_path: Path) -> None:
    stamp = "2024-09-01T00:00:00Z"
    files = district()
    files["demographics"] = [
        {"sourcedId": "u2", "status": "active", "dateLastModified": stamp, "sex": "male"},
        {"sourcedId": "p1", "status": "tobedeleted", "dateLastModified": stamp},
    ]
    bundle = read_bundle(write(tmp_path / "b", files, modes={"demographics": "delta"}))
    assert bundle.errors == []
    persons = objects(bundle, "person")
    assert "sex" not in persons["u1"].data
    assert "dob" not in persons["u1"].data
    assert (persons["u2"].data["sex"], persons["u2"].data["dob"]) == ("male", None)
    assert (persons["p1"].data["sex"], persons["p1"].data["dob"]) == (None, None)


def test_without_demographics_persons_have_no_sex_or_dob(tmp_path: Path) -> None:
    files = district()
    del files["demographics"]
    bundle = read_bundle(write(tmp_path / "b", files))
    assert "sex" not in objects(bundle, "person")["u1"].data
    assert bundle.modes["demographics"] == "absent"


# -- encodings and CSV dialect ---------------------------------------------------------------


def test_bom_crlf_and_quoted_newlines(tmp_path: Path) -> None:
    columns = COLUMNS["categories"]
    rows = [
        {"sourcedId": "g1", "title": "Home\r\nwork"},
        {"sourcedId": "g2", "title": 'Say "hi",\nthen\nleave'},
        {"sourcedId": "g3", "title": ""},
    ]
    text = to_csv(columns, rows, newline="\r\n")
    bundle = read_bundle(write(tmp_path / "b", {"categories": b"\xef\xbb\xbf" + text.encode()}))
    categories = objects(bundle, "grading_category")
    assert categories["g1"].label == "Home\r\nwork"
    assert categories["g2"].label == 'Say "hi",\nthen\nleave'
    # line 2: g1 (2 lines), line 4: g2 (3 lines), line 7: g3
    assert [where(e) for e in bundle.errors] == [("categories.csv", 7, "title", "g3")]


def test_a_bom_before_the_manifest_header_is_read(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", {"categories": [{"sourcedId": "g1", "title": "A"}]})
    manifest = folder / "manifest.csv"
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes().replace(b"\n", b"\r\n"))
    assert read_bundle(folder).modes["categories"] == "bulk"


def test_bytes_that_are_not_utf8_reject_only_their_row(tmp_path: Path) -> None:
    text = to_csv(
        COLUMNS["categories"],
        [{"sourcedId": f"g{i}", "title": f"Title {i} é"} for i in range(5000)],
    ).encode()
    bad = text.replace(b"g4000,,,Title 4000 \xc3\xa9", b"g4000,,,Title 4000 \xe9t\xe9")
    assert bad != text
    bundle = read_bundle(write(tmp_path / "b", {"categories": bad}))
    assert [(where(e), e.reason) for e in bundle.errors] == [
        (("categories.csv", 4002, "title", "g4000"), "bytes that are not valid UTF-8")
    ]
    categories = objects(bundle, "grading_category")
    assert len(categories) == 4999
    assert categories["g4001"].label == "Title 4001 é"


def test_a_bad_byte_in_a_sourced_id(tmp_path: Path) -> None:
    text = b"sourcedId,status,dateLastModified,title\ng\xff1,,,A\ng2,,,B\n"
    bundle = read_bundle(write(tmp_path / "b", {"categories": text}))
    assert [(e.file, e.line, e.column, e.reason) for e in bundle.errors] == [
        ("categories.csv", 2, "sourcedId", "bytes that are not valid UTF-8")
    ]
    assert sorted(objects(bundle, "grading_category")) == ["g2"]


# -- bundles that cannot be read -----------------------------------------------------------------


def test_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        read_bundle(tmp_path / "nowhere")


def test_no_manifest(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", {"orgs": district()["orgs"]})
    (folder / "manifest.csv").unlink()
    with pytest.raises(BundleError, match=r"the bundle has no manifest\.csv"):
        read_bundle(folder)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("propertyName,value\noneroster.version,1.0\n", r"unsupported oneroster\.version '1\.0'"),
        ("propertyName,value\nmanifest.version,1.0\n", r"unsupported oneroster\.version None"),
        ("propertyName,value\nmanifest.version,2.0\noneroster.version,1.1\n", "manifest.version"),
        ("name,value\noneroster.version,1.1\n", "needs the columns propertyName and value"),
        (
            "propertyName,value\noneroster.version,1.1\nfile.users,full\n",
            r"file\.users is 'full' \(expected bulk, delta or absent\)",
        ),
    ],
)
def test_a_bad_manifest(tmp_path: Path, manifest: str, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        read_bundle(write(tmp_path / "b", {}, manifest=manifest))


def test_a_declared_file_that_is_missing(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", district(), modes={"categories": "delta"})
    (folder / "categories.csv").unlink()
    with pytest.raises(
        BundleError, match=r"declares categories\.csv delta, but the file is missing"
    ):
        read_bundle(folder)


def test_files_declared_absent_are_ignored(tmp_path: Path) -> None:
    files = district()
    bundle = read_bundle(write(tmp_path / "b", files, modes={"users": "absent"}), existing={})
    assert not objects(bundle, "person")
    assert [e.file for e in bundle.errors] == ["enrollments.csv"] * 2 + ["demographics.csv"]


@pytest.mark.parametrize(
    ("file", "column"),
    [
        ("orgs", "type"),
        ("users", "givenName"),
        ("enrollments", "userSourcedId"),
        ("orgs", "sourcedId"),
    ],
)
def test_a_required_column_missing(tmp_path: Path, file: str, column: str) -> None:
    files: dict[str, Any] = district()
    columns = tuple(c for c in COLUMNS[file] if c != column)
    files[file] = to_csv(
        columns, [{k: v for k, v in r.items() if k != column} for r in files[file]]
    )
    with pytest.raises(BundleError, match=rf"{file}\.csv: required column '{column}' is missing"):
        read_bundle(write(tmp_path / "b", files))


def test_an_empty_file_misses_its_columns(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"categories\.csv: required column 'sourcedId'"):
        read_bundle(write(tmp_path / "b", {"categories": ""}))


def test_a_zip_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK\x03\x04 certainly not a zip")
    with pytest.raises(BundleError, match=r"bundle\.zip is not a readable zip file"):
        read_bundle(path)


@pytest.mark.parametrize(
    "name", ["../evil.csv", "/etc/evil.csv", "sub/../../evil.csv", "C:/x.csv", "..\\evil.csv"]
)
def test_a_zip_entry_that_escapes_the_folder(tmp_path: Path, name: str) -> None:
    path = zip_folder(write(tmp_path / "b", district()), tmp_path / "b.zip")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(zipfile.ZipInfo(name), "x")
    with pytest.raises(BundleError, match=r"zip entry .* escapes the bundle folder"):
        read_bundle(path)


def test_a_zip_that_declares_more_than_the_limit(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", {"categories": "sourcedId,status,dateLastModified,title\n"})
    path = zip_folder(folder, tmp_path / "b.zip")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("padding.txt", b"\0" * 200_000)  # compresses to almost nothing
    assert path.stat().st_size < 5_000
    with pytest.raises(BundleError, match=r"would expand to .* more than the limit of 100000"):
        read_bundle(path, max_uncompressed_bytes=100_000)
    assert read_bundle(path, max_uncompressed_bytes=300_000).errors == []


def test_a_zip_that_lies_about_its_sizes_is_refused(tmp_path: Path) -> None:
    rows = [{"sourcedId": f"g{i}", "title": "x" * 50} for i in range(2000)]
    folder = write(tmp_path / "b", {"categories": rows})
    path = zip_folder(folder, tmp_path / "b.zip")
    data = bytearray(path.read_bytes())
    # shrink the uncompressed size the central directory declares for categories.csv
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == b"categories.csv":
            struct.pack_into("<I", data, at + 24, 1000)
        at = data.find(b"PK\x01\x02", at + 1)
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"cannot read categories\.csv from the zip"):
        read_bundle(path, max_uncompressed_bytes=50_000)


def test_the_bytes_read_from_a_zip_are_counted_against_the_limit(tmp_path: Path) -> None:
    path = zip_folder(write(tmp_path / "b", district()), tmp_path / "b.zip")
    with ZipSource(path, 10_000) as source:
        stored = source.find("orgs.csv")
        assert stored is not None
        with source.open(stored) as stream:
            assert stream.read().startswith(b"sourcedId")
        with pytest.raises(BundleError, match="expands beyond the limit of 10000 bytes"):
            source.count("orgs.csv", 10_000)


def test_the_zip_limit_counts_every_file(tmp_path: Path) -> None:
    path = zip_folder(write(tmp_path / "b", district()), tmp_path / "b.zip")
    with zipfile.ZipFile(path) as zf:
        total = sum(info.file_size for info in zf.infolist())
    assert read_bundle(path, max_uncompressed_bytes=total).errors == []
    with pytest.raises(BundleError, match="would expand to"):
        read_bundle(path, max_uncompressed_bytes=total - 1)


def test_file_names_are_found_ignoring_case(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", {"categories": [{"sourcedId": "g1", "title": "A"}]})
    (folder / "categories.csv").rename(folder / "Categories.CSV")
    assert sorted(objects(read_bundle(folder), "grading_category")) == ["g1"]


def test_a_record_the_csv_module_refuses_is_a_row_error(tmp_path: Path) -> None:
    text = 'sourcedId,status,dateLastModified,title\ng1,,,"' + "x" * 300 + '"\ng2,,,B\n'
    folder = write(tmp_path / "b", {"categories": text})
    limit = csv.field_size_limit(200)
    try:
        bundle = read_bundle(folder)
    finally:
        csv.field_size_limit(limit)
    assert [(e.file, e.line, e.column) for e in bundle.errors] == [("categories.csv", 2, None)]
    assert "field larger than field limit" in bundle.errors[0].reason
    assert sorted(objects(bundle, "grading_category")) == ["g2"]


def test_demographics_with_users_absent_patch_existing_persons(tmp_path: Path) -> None:
    files = {"demographics": [{"sourcedId": "u1", "sex": "female"}]}
    bundle = read_bundle(write(tmp_path / "b", files), existing={"person": {"u1"}})
    assert bundle.errors == []
    assert bundle.person_patches == {"u1": {"sex": "female", "dob": None, "$ext": {}}}
    assert read_bundle(write(tmp_path / "c", files)).errors[0].reason == (
        "refers to unknown user 'u1'"
    )


def test_a_header_that_names_a_column_twice_is_unreadable(tmp_path: Path) -> None:
    text = "sourcedId,status,dateLastModified,title,title\ng1,,,A,B\n"
    with pytest.raises(
        BundleError, match=r"categories\.csv: column 'title' appears more than once"
    ):
        read_bundle(write(tmp_path / "b", {"categories": text}))


def test_rows_with_a_known_combination_still_get_their_timestamps_and_dates_checked(
    tmp_path: Path,
) -> None:
    """Timestamps and dates are not part of the remembered combinations of checked values
    (every row of an export has its own): a row whose other values are known still has them
    checked, in the order a new row would (dateLastModified, then it being required, then the
    dates)."""
    stamp = "2024-09-01T00:00:00Z"
    files: dict[str, Any] = district()
    files["categories"] = [
        {"sourcedId": "g1", "title": "A", "status": "active", "dateLastModified": stamp},
        {"sourcedId": "g2", "title": "B", "status": "active", "dateLastModified": "yesterday"},
        {"sourcedId": "g3", "title": "C", "status": "active"},
        {"sourcedId": "g4", "title": "D", "status": "active", "dateLastModified": "2024-09-02"},
        {"sourcedId": "g5", "title": "E", "status": "active", "dateLastModified": "2024-02-30"},
    ]
    enrollment = files["enrollments"][0]
    files["enrollments"] += [
        {**enrollment, "sourcedId": "e8", "beginDate": "2024-02-30", "dateLastModified": "x"},
        {**enrollment, "sourcedId": "e9", "endDate": "2024-13-01"},
    ]
    bundle = read_bundle(write(tmp_path / "b", files, modes={"categories": "delta"}))
    found = [(where(e), e.reason.split(" (")[0]) for e in bundle.errors]
    lines = len(files["enrollments"])
    assert found == [
        (("enrollments.csv", lines, "dateLastModified", "e8"), "bad date-time 'x'"),
        (("enrollments.csv", lines + 1, "endDate", "e9"), "bad date '2024-13-01'"),
        (("categories.csv", 3, "dateLastModified", "g2"), "bad date-time 'yesterday'"),
        (("categories.csv", 4, "dateLastModified", "g3"), "missing required field"),
        (("categories.csv", 6, "dateLastModified", "g5"), "bad date-time '2024-02-30'"),
    ]
    assert sorted(objects(bundle, "grading_category")) == ["g1", "g4"]
