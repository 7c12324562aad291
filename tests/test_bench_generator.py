"""The benchmark's synthetic district generator (``bench/generate_district.py``).

Small districts only (a few hundred students): the files must be reproducible from the seed,
follow the OneRoster 1.1 CSV binding, hold together (every reference resolves), and the nightly
bundle must differ from its source by about the rates asked for. No database is involved.
"""

from __future__ import annotations

import csv
import re
import uuid
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from bench.generate_district import (
    ALL_FILES,
    DATA_FILES,
    generate_district,
    generate_nightly,
    main,
    stable_id,
)

STUDENTS = 500
SEED = 7

# The binding's own columns, in its order (written out again here rather than imported, so that
# a mistake in the generator's table shows); ``metadata.*`` extension columns may follow them.
BINDING_COLUMNS = {
    "orgs": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
    "academicSessions": (
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear"
    ),
    "categories": "sourcedId,status,dateLastModified,title",
    "courses": (
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
        "orgSourcedId,subjects,subjectCodes"
    ),
    "classes": (
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
        "location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods"
    ),
    "users": (
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
        "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
    ),
    "demographics": (
        "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,"
        "blackOrAfricanAmerican,nativeHawaiianOrOtherPacificIslander,white,"
        "demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,countryOfBirthCode,"
        "stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus"
    ),
    "enrollments": (
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,"
        "primary,beginDate,endDate"
    ),
}
CEDS_GRADES = {"IT", "PR", "PK", "TK", "KG", *(f"{n:02d}" for n in range(1, 14)), "PS", "UG"}
USER_ROLES = {
    *("administrator", "aide", "proctor", "student", "teacher"),
    *("guardian", "parent", "relative"),
}
ENROLLMENT_ROLES = {"administrator", "proctor", "student", "teacher"}
DEMOGRAPHICS_NOT_BOOLEAN = {
    *("sourcedId", "status", "dateLastModified", "birthDate", "sex"),
    *("countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth"),
    "publicSchoolResidenceStatus",
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read(bundle: Path, name: str) -> list[dict[str, str]]:
    with (bundle / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header(bundle: Path, name: str) -> list[str]:
    with (bundle / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def contents(bundle: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(bundle.iterdir())}


def by_id(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["sourcedId"]: row for row in rows}


def integrity_problems(bundle: Path) -> list[str]:
    """Every reference between the files that does not resolve, and every duplicate id."""
    tables = {name: read(bundle, name) for name in DATA_FILES}
    problems = [
        f"{name}: duplicate sourcedId {sid}"
        for name, rows in tables.items()
        for sid, count in Counter(row["sourcedId"] for row in rows).items()
        if count > 1
    ]
    orgs, sessions = by_id(tables["orgs"]), by_id(tables["academicSessions"])
    courses, classes, users = (
        by_id(tables["courses"]),
        by_id(tables["classes"]),
        by_id(tables["users"]),
    )
    schools = {sid for sid, org in orgs.items() if org["type"] == "school"}

    def missing(what: str, sid: str, ref: str, known: set[str] | dict[str, dict[str, str]]) -> None:
        if ref not in known:
            problems.append(f"{what} {sid} refers to {ref!r}, which does not exist")

    for sid, org in orgs.items():
        if org["parentSourcedId"]:
            missing("org", sid, org["parentSourcedId"], orgs)
    for sid, session in sessions.items():
        if session["parentSourcedId"]:
            missing("session", sid, session["parentSourcedId"], sessions)
    for sid, course in courses.items():
        missing("course", sid, course["orgSourcedId"], orgs)
        missing("course", sid, course["schoolYearSourcedId"], sessions)
    for sid, section in classes.items():
        missing("class", sid, section["courseSourcedId"], courses)
        missing("class", sid, section["schoolSourcedId"], schools)
        for term in section["termSourcedIds"].split(","):
            missing("class", sid, term, sessions)
    for sid, user in users.items():
        for org_id in user["orgSourcedIds"].split(","):
            missing("user", sid, org_id, orgs)
    for enrollment in tables["enrollments"]:
        sid = enrollment["sourcedId"]
        missing("enrollment", sid, enrollment["userSourcedId"], users)
        missing("enrollment", sid, enrollment["classSourcedId"], classes)
        missing("enrollment", sid, enrollment["schoolSourcedId"], schools)
        its_class = classes.get(enrollment["classSourcedId"])
        if its_class and its_class["schoolSourcedId"] != enrollment["schoolSourcedId"]:
            problems.append(f"enrollment {sid} names another school than its class")
    for demographics in tables["demographics"]:
        missing("demographics", demographics["sourcedId"], demographics["sourcedId"], users)
    pairs = Counter((e["classSourcedId"], e["userSourcedId"]) for e in tables["enrollments"])
    problems += [
        f"user {user} enrolled twice in {cls}" for (cls, user), n in pairs.items() if n > 1
    ]
    return problems


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("bench") / "district"
    generate_district(bundle, students=STUDENTS, seed=SEED)
    return bundle


NIGHTLY_RATES = {"change_rate": 0.05, "withdraw_rate": 0.02, "new_rate": 0.02}


@pytest.fixture(scope="module")
def nightly(district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("bench") / "nightly"
    generate_nightly(district, bundle, seed=SEED, **NIGHTLY_RATES)
    return bundle


# --- Reproducibility ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_bytes(district: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_district(again, students=STUDENTS, seed=SEED)
    assert contents(again) == contents(district)


def test_another_seed_gives_another_district(district: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_district(other, students=STUDENTS, seed=SEED + 1)
    for name in DATA_FILES:
        assert (other / f"{name}.csv").read_bytes() != (district / f"{name}.csv").read_bytes()
    # and no sourcedId in common: two seeds are two districts
    assert not by_id(read(other, "users")).keys() & by_id(read(district, "users")).keys()


def test_stable_id_is_a_uuid5() -> None:
    namespace = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert stable_id(namespace.bytes, "user:30000001") == str(
        uuid.uuid5(namespace, "user:30000001")
    )


# --- The binding --------------------------------------------------------------------------------


def test_manifest_is_well_formed(district: Path) -> None:
    assert header(district, "manifest") == ["propertyName", "value"]
    rows = [(row["propertyName"], row["value"]) for row in read(district, "manifest")]
    properties = dict(rows)
    assert len(properties) == len(rows), "a property is declared twice"
    assert properties["manifest.version"] == "1.0"
    assert properties["oneroster.version"] == "1.1"
    files = {key.removeprefix("file."): value for key, value in rows if key.startswith("file.")}
    assert set(files) == set(ALL_FILES)
    present = {path.stem for path in district.iterdir()} - {"manifest"}
    assert {name for name, mode in files.items() if mode == "bulk"} == present
    assert {name for name, mode in files.items() if mode != "bulk"} == set(ALL_FILES) - present
    assert set(files.values()) <= {"bulk", "absent"}
    assert present == set(DATA_FILES)


@pytest.mark.parametrize("name", DATA_FILES)
def test_columns_follow_the_binding(district: Path, name: str) -> None:
    columns = header(district, name)
    standard = BINDING_COLUMNS[name].split(",")
    assert columns[: len(standard)] == standard
    assert all(column.startswith("metadata.") for column in columns[len(standard) :])


def test_cells_use_the_binding_formats_and_enumerations(district: Path) -> None:
    for name in DATA_FILES:
        for row in read(district, name):
            # a bulk file leaves status and dateLastModified blank
            assert row["status"] == row["dateLastModified"] == "", name
    assert {org["type"] for org in read(district, "orgs")} == {"district", "school"}
    sessions = read(district, "academicSessions")
    expected_sessions = {"schoolYear": 1, "semester": 2, "gradingPeriod": 4}
    assert Counter(s["type"] for s in sessions) == expected_sessions
    for session in sessions:
        assert ISO_DATE.match(session["startDate"])
        assert ISO_DATE.match(session["endDate"])
        assert session["startDate"] < session["endDate"]
        assert re.fullmatch(r"\d{4}", session["schoolYear"])
    for row in read(district, "courses") + read(district, "classes"):
        assert set(row["grades"].split(",")) <= CEDS_GRADES
    assert {c["classType"] for c in read(district, "classes")} <= {"homeroom", "scheduled"}
    users = read(district, "users")
    assert {u["role"] for u in users} <= USER_ROLES
    assert {u["enabledUser"] for u in users} <= {"true", "false"}
    assert all(u["grades"] in CEDS_GRADES for u in users if u["role"] == "student")
    assert all(re.fullmatch(r"(\{[^{}:]+:[^{}]+\},?)+", u["userIds"]) for u in users)
    enrollments = read(district, "enrollments")
    assert {e["role"] for e in enrollments} <= ENROLLMENT_ROLES
    assert {e["primary"] for e in enrollments} <= {"true", "false"}
    assert all(ISO_DATE.match(e["beginDate"]) and ISO_DATE.match(e["endDate"]) for e in enrollments)
    for row in read(district, "demographics"):
        assert row["sex"] in {"male", "female"}
        date.fromisoformat(row["birthDate"])
        booleans = {value for key, value in row.items() if key not in DEMOGRAPHICS_NOT_BOOLEAN}
        assert booleans <= {"true", "false"}


def test_the_files_hold_non_ascii_and_quoted_cells(district: Path) -> None:
    raw = (district / "users.csv").read_bytes()
    assert raw.endswith(b"\r\n")  # RFC 4180 line ends
    users = raw.decode("utf-8")
    assert any(ord(ch) > 127 for ch in users)  # accented names, in UTF-8
    assert '"{SIS:' in users  # a multi-valued cell, quoted because of its comma


# --- Integrity and shape ------------------------------------------------------------------------


def test_every_reference_resolves(district: Path) -> None:
    assert integrity_problems(district) == []


def test_the_district_has_the_expected_shape(district: Path) -> None:
    users = read(district, "users")
    roles = Counter(user["role"] for user in users)
    assert roles["student"] == STUDENTS
    assert STUDENTS / 25 <= roles["teacher"] <= STUDENTS / 15
    assert roles["aide"] > 0
    assert roles["administrator"] > 0
    enrollments = read(district, "enrollments")
    per_student = Counter(e["userSourcedId"] for e in enrollments if e["role"] == "student")
    assert set(per_student.values()) == {7}  # one class per slot of the schedule
    teachers = Counter(e["classSourcedId"] for e in enrollments if e["role"] == "teacher")
    classes = read(district, "classes")
    assert set(teachers) == {c["sourcedId"] for c in classes}
    assert set(teachers.values()) == {1}
    assert all(e["primary"] == "true" for e in enrollments if e["role"] == "teacher")
    demographics = read(district, "demographics")
    assert {d["sourcedId"] for d in demographics} == {
        u["sourcedId"] for u in users if u["role"] == "student"
    }
    assert len(read(district, "categories")) >= 3


# --- The next night -----------------------------------------------------------------------------


def test_the_nightly_bundle_keeps_integrity(district: Path, nightly: Path) -> None:
    assert integrity_problems(nightly) == []
    # still a full bulk bundle of the same files
    assert (nightly / "manifest.csv").read_bytes() == (district / "manifest.csv").read_bytes()
    assert contents(nightly).keys() == contents(district).keys()


def test_the_nightly_bundle_changes_about_the_rates_asked(district: Path, nightly: Path) -> None:
    before, after = by_id(read(district, "users")), by_id(read(nightly, "users"))
    students_before = [sid for sid, user in before.items() if user["role"] == "student"]

    removed = before.keys() - after.keys()
    assert all(before[sid]["role"] == "student" for sid in removed)
    assert len(removed) == round(NIGHTLY_RATES["withdraw_rate"] * len(students_before))

    added = after.keys() - before.keys()
    assert all(after[sid]["role"] == "student" for sid in added)
    assert len(added) == round(NIGHTLY_RATES["new_rate"] * len(students_before))

    kept = before.keys() & after.keys()
    changed = [sid for sid in kept if before[sid] != after[sid]]
    expected = NIGHTLY_RATES["change_rate"] * len(kept)
    assert 0.8 * expected <= len(changed) <= 1.2 * expected

    enrollments = read(nightly, "enrollments")
    enrolled = Counter(e["userSourcedId"] for e in enrollments)
    assert not removed & enrolled.keys(), "a withdrawn student kept an enrollment"
    assert all(1 <= enrolled[sid] <= 7 for sid in added)
    assert not removed & {d["sourcedId"] for d in read(nightly, "demographics")}
    assert added <= {d["sourcedId"] for d in read(nightly, "demographics")}

    classes_before, classes_after = (
        by_id(read(district, "classes")),
        by_id(read(nightly, "classes")),
    )
    assert classes_before.keys() < classes_after.keys()  # some classes split, none removed
    assert any(classes_before[sid] != classes_after[sid] for sid in classes_before)


def test_the_nightly_bundle_is_reproducible(district: Path, nightly: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_nightly(district, again, seed=SEED, **NIGHTLY_RATES)
    assert contents(again) == contents(nightly)
    other = tmp_path / "other"
    generate_nightly(district, other, seed=SEED + 1, **NIGHTLY_RATES)
    assert contents(other) != contents(nightly)


def test_a_second_night_follows_the_first(nightly: Path, tmp_path: Path) -> None:
    second = tmp_path / "second"
    generate_nightly(nightly, second, seed=SEED, **NIGHTLY_RATES)
    assert integrity_problems(second) == []
    first_ids = by_id(read(nightly, "users")).keys()
    added = by_id(read(second, "users")).keys() - first_ids
    assert added, "the second night enrols new students with fresh ids"


def test_the_default_rate_changes_two_percent_of_the_users(district: Path, tmp_path: Path) -> None:
    night = tmp_path / "night"
    summary = generate_nightly(district, night)  # the defaults: 2 % changed
    before, after = by_id(read(district, "users")), by_id(read(night, "users"))
    kept = before.keys() & after.keys()
    changed = sum(1 for sid in kept if before[sid] != after[sid])
    assert changed == summary.changes["users changed"] == round(0.02 * len(kept))


def test_the_nightly_refuses_its_own_folder_and_foreign_bundles(
    district: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="another folder"):
        generate_nightly(district, district)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for path in district.iterdir():
        (foreign / path.name).write_bytes(path.read_bytes())
    (foreign / "users.csv").write_text("sourcedId,role\r\nx,student\r\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not written by this generator"):
        generate_nightly(foreign, tmp_path / "out")


# --- The command line and --zip -----------------------------------------------------------------


def test_zip_holds_the_same_files_at_its_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "district"
    assert main([str(bundle), "--students", "60", "--seed", "3", "--zip"]) == 0
    printed = capsys.readouterr().out
    assert "enrollments.csv" in printed
    assert "district.zip" in printed

    archive = tmp_path / "district.zip"
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == sorted(path.name for path in bundle.iterdir())
        for name in zipped.namelist():
            assert zipped.read(name) == (bundle / name).read_bytes()

    again = tmp_path / "again" / "district"
    main([str(again), "--students", "60", "--seed", "3", "--zip"])
    assert (again.parent / "district.zip").read_bytes() == archive.read_bytes()


def test_the_command_line_writes_a_nightly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([str(tmp_path / "first"), "--students", "80"])
    main(
        [str(tmp_path / "next"), "--nightly-from", str(tmp_path / "first"), "--change-rate", "0.1"]
    )
    printed = capsys.readouterr().out
    assert "users changed" in printed
    assert integrity_problems(tmp_path / "next") == []
