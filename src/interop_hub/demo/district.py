"""Synthetic OneRoster 1.1 CSV districts: the collection benchmark's (issue 3, Performance) and
`interop-hub quickstart`'s demo district. It lives in the package so that the installed command
can use it; ``bench.generate_district`` is its old name, kept for the benchmarks.

What: writes a district as a full bulk OneRoster 1.1 CSV bundle — ``manifest.csv``, ``orgs``,
``academicSessions``, ``courses``, ``classes``, ``users``, ``enrollments``, ``demographics`` and
``categories`` — with the columns, column order, date formats and enumerations of the 1.1 CSV
binding, plus a few ``metadata.*`` extension columns (which the hub keeps in ``$ext``). The
default, 100,000 students, gives about 40 schools, 105k users, 31k classes, 730k enrollments and
190 MB of CSV. ``--nightly-from DIR`` writes the "next night" of an existing bundle instead: a
share of the users edited, some students withdrawn (with their enrollments), some enrolled, some
classes changed or split — again a full bulk bundle, as a SIS drops one every night.

Why: the benchmark measures a full collection and a nightly re-collection against the floor of
``COPY``-ing the same files into PostgreSQL, so the files must be realistic in shape and size
(UUID ``sourcedId``s, multi-valued and quoted cells, non-ASCII names) and identical from run to
run. Everything is derived from the seed: the same seed and parameters give byte-identical
files (also inside ``--zip``), and ``sourcedId``s are name-based UUIDs (v5) under a namespace
that is the district's own ``sourcedId``, so the nightly bundle can mint new ids consistently
without knowing the original seed. Rows are streamed to the files one school at a time; nothing
holds the whole district in memory.

Usage (``--zip`` also packs the files, at the archive's root, into ``OUT_DIR.zip``)::

    python -m bench.generate_district OUT_DIR [--students 100000] [--seed 1] [--zip]
    python -m bench.generate_district OUT_DIR --nightly-from DIR [--change-rate 0.02] [--seed 1]
        [--withdraw-rate 0.005] [--new-rate 0.005] [--zip]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import random
import shutil
import sys
import time
import unicodedata
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

# --- The OneRoster 1.1 CSV binding -------------------------------------------------------------

ONEROSTER_VERSION = "1.1"
MANIFEST_VERSION = "1.0"

# Every data file of the 1.1 binding, in the manifest's order; the generator supplies DATA_FILES
# in bulk and declares the rest absent.
ALL_FILES = (
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItems",
    "orgs",
    "resources",
    "results",
    "users",
)
DATA_FILES = (
    "orgs",
    "academicSessions",
    "categories",
    "courses",
    "classes",
    "users",
    "demographics",
    "enrollments",
)

# Column names and order as the binding defines them; ``metadata.*`` extension columns follow.
COLUMNS: dict[str, tuple[str, ...]] = {
    "manifest": ("propertyName", "value"),
    "orgs": (
        "sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId",
        "metadata.address", "metadata.phone",
    ),
    "academicSessions": (
        "sourcedId", "status", "dateLastModified", "title", "type", "startDate", "endDate",
        "parentSourcedId", "schoolYear",
    ),
    "categories": ("sourcedId", "status", "dateLastModified", "title"),
    "courses": (
        "sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title", "courseCode",
        "grades", "orgSourcedId", "subjects", "subjectCodes",
        "metadata.credits", "metadata.department",
    ),
    "classes": (
        "sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
        "classCode", "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects",
        "subjectCodes", "periods",
        "metadata.sisSectionId", "metadata.capacity",
    ),
    "users": (
        "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
        "username", "userIds", "givenName", "familyName", "middleName", "identifier", "email",
        "sms", "phone", "agentSourcedIds", "grades", "password",
        "metadata.stateId", "metadata.homeLanguage", "metadata.graduationYear",
        "metadata.homeroom", "metadata.entryDate", "metadata.ellStatus", "metadata.iepStatus",
    ),
    "demographics": (
        "sourcedId", "status", "dateLastModified", "birthDate", "sex",
        "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation",
        "cityOfBirth", "publicSchoolResidenceStatus",
    ),
    "enrollments": (
        "sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
        "userSourcedId", "role", "primary", "beginDate", "endDate",
    ),
}  # fmt: skip

# CEDS entry grade levels, the vocabulary of ``grades``; the generator uses KG..12.
GRADES = ("KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")

# --- Vocabulary for realistic cells -------------------------------------------------------------

FEMALE_NAMES = (
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Mia", "Isabella", "Ava", "Evelyn", "Luna",
    "Harper", "Camila", "Sofía", "Scarlett", "Elizabeth", "Eleanor", "Emily", "Chloe", "Mila",
    "Violet", "Penelope", "Gianna", "Aria", "Abigail", "Ella", "Avery", "Hazel", "Nora", "Layla",
    "Lily", "Aurora", "Nova", "Ellie", "Madison", "Grace", "Isla", "Willow", "Zoë", "Riley",
    "Stella", "Naomi", "Aaliyah", "Priya", "Mei", "Yuna", "Fatima", "Amara", "Chiamaka",
    "Ximena", "Valentina", "Renée", "Siobhan", "Anika", "Leilani", "Maya", "Hana", "Ananya",
    "Noor", "Ingrid", "Mary-Kate",
)  # fmt: skip
MALE_NAMES = (
    "Liam", "Noah", "Oliver", "James", "Elijah", "Mateo", "Theodore", "Henry", "Lucas", "William",
    "Benjamin", "Levi", "Sebastian", "Jack", "Ezra", "Michael", "Daniel", "Leo", "Owen", "Samuel",
    "Hudson", "Alexander", "Asher", "Luca", "Ethan", "John", "David", "Jackson", "Joseph",
    "Mason", "Luke", "Matthew", "Julian", "Dylan", "Elias", "Jacob", "Gabriel", "Logan", "Aiden",
    "Santiago", "José", "Diego", "Arjun", "Wei", "Hiroshi", "Omar", "Kwame", "Chidi", "Tariq",
    "Mohammed", "Finn", "Søren", "Rafael", "Andrés", "Nikolai", "Kai", "Dmitri", "Thiago", "Bao",
    "Jean-Luc",
)  # fmt: skip
FAMILY_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jiménez",
    "O'Brien", "O'Connor", "McAllister", "Nguyễn", "Tran", "Pham", "Chen", "Wang", "Li", "Zhang",
    "Singh", "Kaur", "Sharma", "Okafor", "Adeyemi", "Mensah", "Haddad", "Khalil", "Kowalski",
    "Nowak", "Müller", "Schmidt", "Dubois", "Rossi", "Bianchi", "Silva", "Santos", "Costa",
    "Ivanova", "Petrov", "Yamamoto", "Tanaka", "Sato", "Park", "Choi", "Smith-Jones",
    "García-López", "Van der Berg", "St. Clair", "Abernathy", "Whitfield", "Lindqvist",
    "Johansson", "Eriksen", "Fitzgerald", "Gallagher",
)  # fmt: skip
PLACES = (
    "Maple Grove", "Cedar Hills", "Oak Park", "Willow Creek", "Lincoln", "Washington", "Jefferson",
    "Roosevelt", "Riverside", "Lakeview", "Hillcrest", "Sunnyvale", "Pine Ridge", "Eastwood",
    "Westfield", "Northgate", "Southridge", "Meadowbrook", "Brookside", "Fairview", "Highland",
    "Valley View", "Parkside", "Summit", "Harbor", "Canyon", "Mesa Verde", "Prairie Wind",
    "Stonebridge", "Clearwater", "Silver Creek", "Green Valley", "Oakmont", "Red Hawk",
    "Blue Ridge", "Eagle Crest", "Falcon Heights", "Cherry Hill", "Birchwood", "Aspen",
    "Redwood", "Sequoia", "Juniper", "Magnolia", "Sycamore", "Hawthorne", "Evergreen",
    "Cottonwood", "Bayside", "Ridgeview",
)  # fmt: skip
STREETS = ("Main St", "Oak Ave", "School Rd", "Park Blvd", "Elm St", "Lake Dr", "College Way")
STATES = ("MN", "OR", "CO", "VA", "NC", "WI", "OH", "TX", "CA", "WA")
CITIES_OF_BIRTH = (
    "Minneapolis", "Portland", "Denver", "Richmond", "Charlotte", "Milwaukee", "Columbus",
    "Austin", "Sacramento", "Seattle", "Chicago", "Phoenix", "Atlanta", "Boston",
)  # fmt: skip
OTHER_COUNTRIES = ("MX", "IN", "CN", "VN", "PH", "SV", "GT", "UA", "SO", "NG", "KR", "BR")
HOME_LANGUAGES = (("eng", 78), ("spa", 13), ("vie", 2), ("zho", 2), ("ara", 1), ("hin", 1),
                  ("som", 1), ("rus", 1), ("tgl", 1))  # fmt: skip
# CEDS Public School Residence Status codes (resident of the attendance area is the common case).
RESIDENCE_STATUSES = (("01652", 90), ("01653", 6), ("01654", 3), ("01656", 1))
# Race columns of demographics.csv with rough shares of a US district.
RACES = (
    ("white", 48), ("blackOrAfricanAmerican", 15), ("asian", 6),
    ("americanIndianOrAlaskaNative", 1), ("nativeHawaiianOrOtherPacificIslander", 1),
    ("demographicRaceTwoOrMoreRaces", 5),
)  # fmt: skip
CATEGORIES = ("Homework", "Classwork", "Quizzes", "Tests", "Projects", "Participation", "Labs",
              "Final Exam")  # fmt: skip


@dataclass(frozen=True)
class Offer:
    """A course a grade offers in one schedule slot; each student takes one offer per slot."""

    title: str  # course title before the grade, e.g. "Honors English"
    subject: str  # OneRoster ``subjects`` value, also the department
    sced: str  # SCED subject area, the first two digits of ``subjectCodes``
    weight: float  # relative share of the grade's students choosing it within the slot


def _slot(*offers: tuple[str, str, str, float]) -> tuple[Offer, ...]:
    """A schedule slot from (title, subject, SCED area, weight) tuples."""
    return tuple(Offer(*offer) for offer in offers)


@dataclass(frozen=True)
class Level:
    """A kind of school: which grades it serves and the schedule each of its students follows."""

    key: str
    label: str
    grades: tuple[int, ...]  # indexes into GRADES
    class_size: int  # target students per section; sections = ceil(students / class_size)
    year_long_terms: bool  # classes run in the schoolYear session rather than both semesters
    slots: tuple[tuple[Offer, ...], ...]  # one per period: every student takes len(slots) classes


# The schedules: one line per slot, each offer (title, subject, SCED subject area, weight).
ELA, MATH, SCI, SOC = "English Language Arts", "Mathematics", "Science", "Social Studies"
LANG, PE, TECH = "World Languages", "Physical Education", "Technology"
ELEMENTARY = Level(
    key="ES",
    label="Elementary School",
    grades=(0, 1, 2, 3, 4, 5),
    class_size=22,
    year_long_terms=True,
    slots=(
        _slot(("Homeroom", "Homeroom", "22", 1)),
        _slot((ELA, ELA, "01", 1)),
        _slot((MATH, MATH, "02", 1)),
        _slot((SCI, SCI, "03", 1)),
        _slot((SOC, SOC, "04", 1)),
        _slot(("Art", "Art", "05", 1), ("Music", "Music", "05", 1), ("Spanish", LANG, "06", 0.5)),
        _slot(
            (PE, PE, "08", 1),
            ("Library", "Library Media", "22", 0.5),
            ("Computer Lab", TECH, "10", 0.5),
        ),
    ),
)
MIDDLE = Level(
    key="MS",
    label="Middle School",
    grades=(6, 7, 8),
    class_size=24,
    year_long_terms=False,
    slots=(
        _slot((ELA, ELA, "01", 3), ("Advanced " + ELA, ELA, "01", 1)),
        _slot(
            (MATH, MATH, "02", 3),
            ("Accelerated Mathematics", MATH, "02", 1),
            ("Math Lab", MATH, "02", 0.4),
        ),
        _slot((SCI, SCI, "03", 3), ("Advanced Science", SCI, "03", 1)),
        _slot((SOC, SOC, "04", 3), ("Civics", SOC, "04", 1)),
        _slot(("Spanish", LANG, "06", 3), ("French", LANG, "06", 1), ("Mandarin", LANG, "06", 0.5)),
        _slot((PE, PE, "08", 3), ("Health", PE, "08", 1)),
        _slot(
            ("Band", "Music", "05", 1),
            ("Orchestra", "Music", "05", 0.6),
            ("Choir", "Music", "05", 0.8),
            ("Art", "Art", "05", 1),
            ("Computer Science", TECH, "10", 1),
            ("Drama", "Theater", "05", 0.6),
        ),
    ),
)
HIGH = Level(
    key="HS",
    label="High School",
    grades=(9, 10, 11, 12),
    class_size=25,
    year_long_terms=False,
    slots=(
        _slot(
            ("English", ELA, "01", 3),
            ("Honors English", ELA, "01", 1.2),
            ("AP English", ELA, "01", 0.5),
        ),
        _slot(
            (MATH, MATH, "02", 3),
            ("Honors Mathematics", MATH, "02", 1),
            ("AP Mathematics", MATH, "02", 0.5),
        ),
        _slot(
            (SCI, SCI, "03", 3), ("Honors Science", SCI, "03", 1), ("AP Science", SCI, "03", 0.5)
        ),
        _slot((SOC, SOC, "04", 3), ("AP Social Studies", SOC, "04", 0.7)),
        _slot(("Spanish", LANG, "06", 3), ("French", LANG, "06", 1), ("Mandarin", LANG, "06", 0.5)),
        _slot((PE, PE, "08", 1)),
        _slot(
            ("Visual Art", "Art", "05", 1),
            ("Music Ensemble", "Music", "05", 1),
            ("Computer Science", TECH, "10", 1),
            ("Engineering", TECH, "21", 0.6),
            ("Business", "Business", "12", 0.6),
        ),
    ),
)
LEVELS = (ELEMENTARY, MIDDLE, HIGH)

STUDENTS_PER_SCHOOL = 2500
STUDENTS_PER_TEACHER = 20
STUDENTS_PER_AIDE = 200
ADMINISTRATORS_PER_SCHOOL = 2
DISTRICT_ADMINISTRATORS = 8
FIRST_STUDENT_NUMBER = 30_000_001

# A fixed namespace: the district's sourcedId is uuid5(BENCH_NAMESPACE, "district:<seed>") and
# every other sourcedId is a uuid5 under the district's.
BENCH_NAMESPACE = uuid.UUID("3b4a24bd-1fbf-49a4-875c-ae7e35c90276")


# --- Small helpers ------------------------------------------------------------------------------


def stable_id(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))``, without building UUID objects."""
    digest = bytearray(hashlib.sha1(namespace + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters and digits of ``text`` (accents folded): for usernames, emails."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def weighted(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
    return rng.choices([value for value, _ in table], [weight for _, weight in table])[0]


def flag(rng: random.Random, share: float) -> str:
    """A OneRoster boolean cell that is "true" for about ``share`` of the rows."""
    return "true" if rng.random() < share else "false"


def grade_label(grade: int) -> str:
    return "Kindergarten" if grade == 0 else f"Grade {grade}"


def phone_number(rng: random.Random) -> str:
    return f"+1-555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"


def _weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


# --- Files --------------------------------------------------------------------------------------


class CsvOut:
    """A CSV file being written (UTF-8, CRLF line ends as RFC 4180 has them), counting its rows."""

    def __init__(self, path: Path, columns: Sequence[str], stack: ExitStack) -> None:
        self.columns = tuple(columns)
        self.index = {name: i for i, name in enumerate(self.columns)}
        handle: TextIO = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
        self._writer = csv.writer(handle)
        self._writer.writerow(self.columns)
        self.rows = 0

    def write(self, row: Sequence[str]) -> None:
        """Write a row given in column order."""
        self._writer.writerow(row)
        self.rows += 1

    def write_fields(self, fields: dict[str, str]) -> None:
        """Write a row given by column name; the columns not named are blank."""
        self.write([fields.get(name, "") for name in self.columns])


def read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def read_rows(path: Path) -> Iterator[list[str]]:
    """The rows of a CSV file after its header, one at a time."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        yield from rows


@dataclass(frozen=True)
class FileStats:
    rows: int  # without the header
    bytes: int


@dataclass
class Summary:
    """What a run wrote: rows and bytes per file, what changed (nightly), how long it took."""

    out_dir: Path
    files: dict[str, FileStats]
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    zip_path: Path | None = None

    @property
    def total_bytes(self) -> int:
        return sum(stats.bytes for stats in self.files.values())

    def render(self) -> str:
        lines = [f"{self.out_dir}:"]
        for name, stats in self.files.items():
            lines.append(f"  {name + '.csv':<22}{stats.rows:>10,} rows {stats.bytes:>14,} bytes")
        total = self.total_bytes
        lines.append(f"  {'total':<22}{'':>15} {total:>14,} bytes ({total / 1e6:.1f} MB)")
        lines.extend(f"  {name}: {count:,}" for name, count in self.changes.items())
        if self.zip_path is not None:
            lines.append(f"  zip: {self.zip_path} ({self.zip_path.stat().st_size:,} bytes)")
        lines.append(f"  written in {self.seconds:.1f} s")
        return "\n".join(lines)


def _summarize(
    out_dir: Path, rows: dict[str, int], started: float, changes: dict[str, int] | None = None
) -> Summary:
    files = {
        name: FileStats(rows[name], (out_dir / f"{name}.csv").stat().st_size)
        for name in ("manifest", *DATA_FILES)
    }
    return Summary(out_dir, files, time.perf_counter() - started, changes or {})


def manifest_rows(system_code: str) -> list[list[str]]:
    rows = [["manifest.version", MANIFEST_VERSION], ["oneroster.version", ONEROSTER_VERSION]]
    rows += [[f"file.{name}", "bulk" if name in DATA_FILES else "absent"] for name in ALL_FILES]
    rows.append(["source.systemName", "Interop Hub bench generator"])
    rows.append(["source.systemCode", system_code])
    return rows


def zip_bundle(out_dir: Path) -> Path:
    """Pack the bundle's files, at the archive's root, into ``<out_dir>.zip`` reproducibly."""
    target = out_dir.with_name(out_dir.name + ".zip")
    with zipfile.ZipFile(target, "w") as archive:
        for name in ("manifest", *DATA_FILES):
            source = out_dir / f"{name}.csv"
            info = zipfile.ZipInfo(source.name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            big = source.stat().st_size >= zipfile.ZIP64_LIMIT
            with source.open("rb") as src, archive.open(info, "w", force_zip64=big) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    return target


# --- The school year ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolYear:
    """The academic sessions: the school year, its two semesters, their two grading periods."""

    ns: bytes
    end_year: int  # ``schoolYear`` is the year the school year ends
    start: date
    end: date

    @classmethod
    def build(cls, ns: bytes, end_year: int) -> SchoolYear:
        start = _weekday_on_or_after(date(end_year - 1, 8, 18), 0)  # a Monday in late August
        end = _weekday_on_or_after(date(end_year, 6, 5), 4)  # a Friday in early June
        return cls(ns, end_year, start, end)

    @property
    def year_id(self) -> str:
        return stable_id(self.ns, f"session:{self.end_year}")

    @property
    def semester_ids(self) -> tuple[str, str]:
        return (
            stable_id(self.ns, f"session:{self.end_year}:S1"),
            stable_id(self.ns, f"session:{self.end_year}:S2"),
        )

    def sessions(self) -> Iterator[dict[str, str]]:
        """academicSessions.csv rows, parents before children."""
        span = f"{self.end_year - 1}-{self.end_year}"

        def session(
            sid: str, title: str, kind: str, start: date, end: date, parent: str
        ) -> dict[str, str]:
            return {
                "sourcedId": sid,
                "title": title,
                "type": kind,
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "parentSourcedId": parent,
                "schoolYear": str(self.end_year),
            }

        yield session(self.year_id, span, "schoolYear", self.start, self.end, "")
        fall_end = _weekday_on_or_after(date(self.end_year - 1, 12, 16), 4)
        spring_start = _weekday_on_or_after(date(self.end_year, 1, 5), 0)
        semesters = (
            (f"Fall {self.end_year - 1}", self.start, fall_end),
            (f"Spring {self.end_year}", spring_start, self.end),
        )
        quarter = 0
        for semester_id, (title, start, end) in zip(self.semester_ids, semesters, strict=True):
            yield session(semester_id, title, "semester", start, end, self.year_id)
            middle = start + (end - start) // 2
            for q_start, q_end in ((start, middle), (middle + timedelta(days=1), end)):
                quarter += 1
                quarter_id = stable_id(self.ns, f"session:{self.end_year}:Q{quarter}")
                title = f"Quarter {quarter} {span}"
                yield session(quarter_id, title, "gradingPeriod", q_start, q_end, semester_id)


# --- People -------------------------------------------------------------------------------------


@dataclass
class Student:
    sourced_id: str
    identifier: str  # the SIS student number
    grade: int  # index into GRADES
    given: str
    middle: str
    family: str
    sex: str  # demographics' enumeration: male | female
    homeroom: str = ""


@dataclass
class Staff:
    sourced_id: str
    identifier: str  # the HR employee number
    role: str  # teacher | aide | administrator
    given: str
    middle: str
    family: str
    room: str = ""
    other_school: str | None = None  # a second school the teacher also belongs to


@dataclass(frozen=True)
class Locale:
    """What the district's users' cells share."""

    domain: str  # e-mail domain
    state: str  # postal abbreviation, also the prefix of state ids
    end_year: int


def make_student(ns: bytes, identifier: str, grade: int, rng: random.Random) -> Student:
    sex = "female" if rng.random() < 0.49 else "male"
    names = FEMALE_NAMES if sex == "female" else MALE_NAMES
    given, family = rng.choice(names), rng.choice(FAMILY_NAMES)
    middle = rng.choice(names) if rng.random() < 0.7 else ""
    sourced_id = stable_id(ns, f"user:{identifier}")
    return Student(sourced_id, identifier, grade, given, middle, family, sex)


def make_staff(ns: bytes, identifier: str, role: str, rng: random.Random) -> Staff:
    given = rng.choice(FEMALE_NAMES if rng.random() < 0.7 else MALE_NAMES)
    middle = rng.choice(FEMALE_NAMES + MALE_NAMES) if rng.random() < 0.4 else ""
    family = rng.choice(FAMILY_NAMES)
    return Staff(stable_id(ns, f"user:{identifier}"), identifier, role, given, middle, family)


def student_fields(
    student: Student, school_id: str, locale: Locale, rng: random.Random
) -> dict[str, str]:
    """A student's users.csv row."""
    username = f"{ascii_slug(student.given)}.{ascii_slug(student.family)}{student.identifier[-6:]}"
    entered = date(locale.end_year - 1 - rng.randint(0, student.grade), 8, rng.randint(15, 31))
    return {
        "sourcedId": student.sourced_id,
        "enabledUser": "true",
        "orgSourcedIds": school_id,
        "role": "student",
        "username": username,
        "userIds": f"{{SIS:{student.identifier}}},{{LDAP:{username}}}",
        "givenName": student.given,
        "familyName": student.family,
        "middleName": student.middle,
        "identifier": student.identifier,
        "email": f"{username}@students.{locale.domain}",
        "sms": phone_number(rng) if student.grade >= 9 and rng.random() < 0.3 else "",
        "phone": phone_number(rng),  # the household's
        "grades": GRADES[student.grade],
        "metadata.stateId": f"{locale.state}{rng.randrange(10**9, 10**10)}",
        "metadata.homeLanguage": weighted(rng, HOME_LANGUAGES),
        "metadata.graduationYear": str(locale.end_year + 12 - student.grade),
        "metadata.homeroom": student.homeroom,
        "metadata.entryDate": entered.isoformat(),
        "metadata.ellStatus": flag(rng, 0.1),
        "metadata.iepStatus": flag(rng, 0.14),
    }


def staff_fields(person: Staff, org_ids: str, locale: Locale, rng: random.Random) -> dict[str, str]:
    """A staff member's users.csv row."""
    username = f"{ascii_slug(person.given)[:1]}{ascii_slug(person.family)}{person.identifier[1:]}"
    return {
        "sourcedId": person.sourced_id,
        "enabledUser": "true",
        "orgSourcedIds": org_ids,
        "role": person.role,
        "username": username,
        "userIds": f"{{HR:{person.identifier}}},{{LDAP:{username}}}",
        "givenName": person.given,
        "familyName": person.family,
        "middleName": person.middle,
        "identifier": person.identifier,
        "email": f"{username}@{locale.domain}",
        "phone": phone_number(rng),
        "metadata.stateId": f"{locale.state}{rng.randrange(10**7, 10**8)}",
    }


def demographics_fields(student: Student, locale: Locale, rng: random.Random) -> dict[str, str]:
    """A student's demographics.csv row (its sourcedId is the user's)."""
    retained = 1 if rng.random() < 0.03 else 0  # a year older than the grade's cohort
    born_from = date(locale.end_year - 7 - student.grade - retained, 9, 1)
    race = weighted(rng, RACES)
    us_born = rng.random() < 0.9
    fields = {
        "sourcedId": student.sourced_id,
        "birthDate": (born_from + timedelta(days=rng.randrange(365))).isoformat(),
        "sex": student.sex,
        "hispanicOrLatinoEthnicity": flag(rng, 0.25),
        "countryOfBirthCode": "US" if us_born else rng.choice(OTHER_COUNTRIES),
        "publicSchoolResidenceStatus": weighted(rng, RESIDENCE_STATUSES),
    }
    fields.update({column: "true" if column == race else "false" for column, _ in RACES})
    if us_born:
        fields["stateOfBirthAbbreviation"] = (
            locale.state if rng.random() < 0.8 else rng.choice(STATES)
        )
        fields["cityOfBirth"] = rng.choice(CITIES_OF_BIRTH)
    return fields


def enrollment_row(
    ns: bytes, class_id: str, school_id: str, user_id: str, role: str, begin: str, end: str
) -> list[str]:
    """An enrollments.csv row, in column order (the hot path: 730k of them)."""
    sourced_id = stable_id(ns, f"enrollment:{class_id}:{user_id}")
    primary = "true" if role == "teacher" else "false"
    return [sourced_id, "", "", class_id, school_id, user_id, role, primary, begin, end]


# --- The initial district -----------------------------------------------------------------------


@dataclass
class School:
    code: str  # short and stable: "ES03"
    sourced_id: str
    name: str
    level: Level
    grade_counts: dict[int, int]  # students per grade

    @property
    def students(self) -> int:
        return sum(self.grade_counts.values())


@dataclass(frozen=True)
class Course:
    """A course of one school for one grade: one offer of one of its level's slots."""

    sourced_id: str
    code: str
    title: str
    subject_code: str
    offer: Offer
    grade: int
    slot: int


@dataclass
class Section:
    """A class: one section of a course, its students and its teacher."""

    sourced_id: str
    course: Course
    number: int
    members: list[int]  # indexes into the school's students
    teacher: int = 0  # index into the school's teachers
    period: int = 0


class DistrictWriter:
    """Writes one district: plans the schools, then streams each school's rows to the files."""

    def __init__(self, out_dir: Path, students: int, seed: int, end_year: int) -> None:
        self.out_dir = out_dir
        self.seed = seed
        self.rng = random.Random(seed)
        self.district_id = str(uuid.uuid5(BENCH_NAMESPACE, f"district:{seed}"))
        self.ns = uuid.UUID(self.district_id).bytes
        self.year = SchoolYear.build(self.ns, end_year)
        place = self.rng.choice(PLACES)
        self.city = place
        self.district_name = f"{place} Unified School District"
        self.locale = Locale(
            f"{ascii_slug(place)}usd.example.org", self.rng.choice(STATES), end_year
        )
        self.lea_number = f"{self.rng.randint(1, 56):02d}{self.rng.randint(10000, 99999)}"
        self.next_student = FIRST_STUDENT_NUMBER
        self.next_staff = 1
        self.next_section = 100_001
        self.schools = self._plan_schools(students)

    def _plan_schools(self, students: int) -> list[School]:
        """How many schools of each level, and how many students in each school and grade."""
        n_schools = max(3, round(students / STUDENTS_PER_SCHOOL))
        n_high = max(1, round(n_schools * 0.2))
        n_middle = max(1, round(n_schools * 0.25))
        per_level = {HIGH: n_high, MIDDLE: n_middle, ELEMENTARY: n_schools - n_high - n_middle}
        per_grade = apportion(students, [self.rng.uniform(0.96, 1.04) for _ in GRADES])
        names = self.rng.sample(PLACES, k=min(len(PLACES), n_schools))
        schools: list[School] = []
        for level in LEVELS:
            count = per_level[level]
            sizes = [self.rng.uniform(0.7, 1.3) for _ in range(count)]
            splits = {grade: apportion(per_grade[grade], sizes) for grade in level.grades}
            for i in range(count):
                number = len(schools)
                place = names[number % len(names)]
                if number >= len(names):
                    place += f" {number // len(names) + 1}"
                code = f"{level.key}{i + 1:02d}"
                counts = {grade: splits[grade][i] for grade in level.grades}
                sourced_id = stable_id(self.ns, f"org:{code}")
                schools.append(School(code, sourced_id, f"{place} {level.label}", level, counts))
        return schools

    def write(self) -> dict[str, int]:
        """Write every file; return the rows written per file."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            out = {
                name: CsvOut(self.out_dir / f"{name}.csv", COLUMNS[name], stack)
                for name in ("manifest", *DATA_FILES)
            }
            for row in manifest_rows(f"bench-seed-{self.seed}"):
                out["manifest"].write(row)
            self._write_orgs(out["orgs"])
            for session in self.year.sessions():
                out["academicSessions"].write_fields(session)
            for title in CATEGORIES:
                category_id = stable_id(self.ns, f"category:{title}")
                out["categories"].write_fields({"sourcedId": category_id, "title": title})
            for _ in range(DISTRICT_ADMINISTRATORS):
                person = self.new_staff("administrator", self.rng)
                out["users"].write_fields(
                    staff_fields(person, self.district_id, self.locale, self.rng)
                )
            for school in self.schools:
                rng = random.Random(f"{self.seed}:{school.code}")
                SchoolWriter(self, school, rng).write(out)
            return {name: table.rows for name, table in out.items()}

    def _write_orgs(self, orgs: CsvOut) -> None:
        district = {
            "sourcedId": self.district_id,
            "name": self.district_name,
            "type": "district",
            "identifier": self.lea_number,
        }
        orgs.write_fields(district | self._contact())
        for number, school in enumerate(self.schools, start=1):
            row = {
                "sourcedId": school.sourced_id,
                "name": school.name,
                "type": "school",
                "identifier": f"{self.lea_number}{number:05d}",  # NCES-like school id
                "parentSourcedId": self.district_id,
            }
            orgs.write_fields(row | self._contact())

    def _contact(self) -> dict[str, str]:
        street = f"{self.rng.randint(100, 9899)} {self.rng.choice(STREETS)}"
        zip_code = self.rng.randint(10000, 99999)
        return {
            "metadata.address": f"{street}, {self.city}, {self.locale.state} {zip_code}",
            "metadata.phone": phone_number(self.rng),
        }

    def new_staff(self, role: str, rng: random.Random) -> Staff:
        identifier = f"E{self.next_staff:05d}"
        self.next_staff += 1
        return make_staff(self.ns, identifier, role, rng)

    def new_student(self, grade: int, rng: random.Random) -> Student:
        identifier = str(self.next_student)
        self.next_student += 1
        return make_student(self.ns, identifier, grade, rng)


class SchoolWriter:
    """One school: its students, their schedules (courses, sections), its staff; then its rows."""

    def __init__(self, district: DistrictWriter, school: School, rng: random.Random) -> None:
        self.district = district
        self.school = school
        self.rng = rng
        self.students: list[Student] = []
        self.courses: list[Course] = []
        self.sections: list[Section] = []
        self.teachers: list[Staff] = []

    def write(self, out: dict[str, CsvOut]) -> None:
        self._schedule_students()
        self._assign_teachers()
        self._write_courses(out["courses"])
        self._write_classes(out["classes"])
        self._write_users(out["users"])
        for student in self.students:
            out["demographics"].write_fields(
                demographics_fields(student, self.district.locale, self.rng)
            )
        self._write_enrollments(out["enrollments"])

    def _schedule_students(self) -> None:
        """Create each grade's students and courses; every student takes one offer per slot."""
        level = self.school.level
        for grade in level.grades:
            first = len(self.students)
            for _ in range(self.school.grade_counts[grade]):
                self.students.append(self.district.new_student(grade, self.rng))
            members = range(first, len(self.students))
            offer_number = 0
            for slot, offers in enumerate(level.slots):
                takers: list[list[int]] = [[] for _ in offers]
                picks = self.rng.choices(
                    range(len(offers)), [o.weight for o in offers], k=len(members)
                )
                for student, pick in zip(members, picks, strict=True):
                    takers[pick].append(student)
                for offer, offer_takers in zip(offers, takers, strict=True):
                    offer_number += 1
                    course = self._course(offer, grade, slot, offer_number)
                    self.courses.append(course)
                    self._split_into_sections(course, offer_takers)

    def _course(self, offer: Offer, grade: int, slot: int, number: int) -> Course:
        code = f"{self.school.level.key}{offer.sced}{number:02d}-{GRADES[grade]}"
        return Course(
            sourced_id=stable_id(self.district.ns, f"course:{self.school.code}:{code}"),
            code=code,
            title=f"{offer.title} ({grade_label(grade)})",
            subject_code=f"{offer.sced}{number:03d}",
            offer=offer,
            grade=grade,
            slot=slot,
        )

    def _split_into_sections(self, course: Course, takers: list[int]) -> None:
        """Deal the course's students into evenly sized sections (none when nobody takes it)."""
        if not takers:
            return
        self.rng.shuffle(takers)
        count = math.ceil(len(takers) / self.school.level.class_size)
        for number in range(1, count + 1):
            name = f"class:{self.school.code}:{course.code}:{number}"
            members = takers[number - 1 :: count]
            self.sections.append(
                Section(stable_id(self.district.ns, name), course, number, members)
            )

    def _assign_teachers(self) -> None:
        """Teachers (one per ~20 students) take consecutive sections of the same subject."""
        n_teachers = max(1, math.ceil(self.school.students / STUDENTS_PER_TEACHER))
        others = [s.sourced_id for s in self.district.schools if s is not self.school]
        for number in range(n_teachers):
            teacher = self.district.new_staff("teacher", self.rng)
            teacher.room = f"Room {100 + number}"
            if others and self.rng.random() < 0.03:
                teacher.other_school = self.rng.choice(others)
            self.teachers.append(teacher)
        ordered = sorted(
            self.sections,
            key=lambda s: (s.course.slot, s.course.offer.title, s.course.grade, s.number),
        )
        periods: dict[int, int] = defaultdict(int)
        for position, section in enumerate(ordered):
            section.teacher = position * n_teachers // len(ordered)
            periods[section.teacher] += 1
            section.period = periods[section.teacher]
            if section.course.slot == 0:
                for member in section.members:
                    self.students[member].homeroom = self.teachers[section.teacher].room

    def _write_courses(self, courses: CsvOut) -> None:
        credits = "1.0" if self.school.level is HIGH else ""
        for course in self.courses:
            courses.write_fields(
                {
                    "sourcedId": course.sourced_id,
                    "schoolYearSourcedId": self.district.year.year_id,
                    "title": course.title,
                    "courseCode": course.code,
                    "grades": GRADES[course.grade],
                    "orgSourcedId": self.school.sourced_id,
                    "subjects": course.offer.subject,
                    "subjectCodes": course.subject_code,
                    "metadata.credits": credits,
                    "metadata.department": course.offer.subject,
                }
            )

    def _write_classes(self, classes: CsvOut) -> None:
        level, year = self.school.level, self.district.year
        terms = year.year_id if level.year_long_terms else ",".join(year.semester_ids)
        for section in self.sections:
            course, teacher = section.course, self.teachers[section.teacher]
            homeroom = level is ELEMENTARY and course.slot == 0
            classes.write_fields(
                {
                    "sourcedId": section.sourced_id,
                    "title": f"{course.title} - {teacher.family}",
                    "grades": GRADES[course.grade],
                    "courseSourcedId": course.sourced_id,
                    "classCode": f"{course.code}.{section.number:02d}",
                    "classType": "homeroom" if homeroom else "scheduled",
                    "location": teacher.room,
                    "schoolSourcedId": self.school.sourced_id,
                    "termSourcedIds": terms,
                    "subjects": course.offer.subject,
                    "subjectCodes": course.subject_code,
                    "periods": str(section.period),
                    "metadata.sisSectionId": str(self.district.next_section),
                    "metadata.capacity": str(level.class_size + 6),
                }
            )
            self.district.next_section += 1

    def _write_users(self, users: CsvOut) -> None:
        school_id, locale, rng = self.school.sourced_id, self.district.locale, self.rng
        for _ in range(ADMINISTRATORS_PER_SCHOOL):
            principal = self.district.new_staff("administrator", rng)
            users.write_fields(staff_fields(principal, school_id, locale, rng))
        for teacher in self.teachers:
            orgs = (
                school_id if teacher.other_school is None else f"{school_id},{teacher.other_school}"
            )
            users.write_fields(staff_fields(teacher, orgs, locale, rng))
        for _ in range(max(1, round(self.school.students / STUDENTS_PER_AIDE))):
            aide = self.district.new_staff("aide", rng)
            users.write_fields(staff_fields(aide, school_id, locale, rng))
        for student in self.students:
            users.write_fields(student_fields(student, school_id, locale, rng))

    def _write_enrollments(self, enrollments: CsvOut) -> None:
        """Per class: its teacher (primary), then its students."""
        ns, school_id = self.district.ns, self.school.sourced_id
        begin, end = self.district.year.start.isoformat(), self.district.year.end.isoformat()
        for section in self.sections:
            class_id = section.sourced_id
            teacher_id = self.teachers[section.teacher].sourced_id
            enrollments.write(
                enrollment_row(ns, class_id, school_id, teacher_id, "teacher", begin, end)
            )
            for member in sorted(section.members):
                student_id = self.students[member].sourced_id
                enrollments.write(
                    enrollment_row(ns, class_id, school_id, student_id, "student", begin, end)
                )


def generate_district(
    out_dir: Path, *, students: int = 100_000, seed: int = 1, school_year: int = 2025
) -> Summary:
    """Write a full bulk OneRoster 1.1 bundle of about ``students`` students into ``out_dir``."""
    if students < 1:
        raise ValueError("a district needs at least one student")
    started = time.perf_counter()
    rows = DistrictWriter(out_dir, students, seed, school_year).write()
    return _summarize(out_dir, rows, started)


# --- The next night -----------------------------------------------------------------------------


def pick_count(rate: float, population: int) -> int:
    """``rate`` of ``population``, rounded, and at least one when neither is zero."""
    if rate <= 0 or population == 0:
        return 0
    return min(population, max(1, round(rate * population)))


@dataclass(frozen=True)
class CurrentStudent:
    """What the night needs to know of a student already in the bundle."""

    sourced_id: str
    school: str
    grade: str
    email: str
    state: str  # the district's state: the prefix of metadata.stateId


class NightlyWriter:
    """Writes the night after an existing bundle; streams users, demographics and enrollments.

    The small files (manifest, orgs, sessions, categories, courses) are copied as they are;
    classes are held in memory (a few tens of thousands of rows); the rest is read row by row.
    """

    REWRITTEN = ("classes", "users", "demographics", "enrollments")

    def __init__(
        self,
        source: Path,
        out_dir: Path,
        *,
        seed: int,
        change_rate: float,
        withdraw_rate: float,
        new_rate: float,
    ) -> None:
        self.source = source
        self.out_dir = out_dir
        self.rng = random.Random(f"nightly:{seed}")
        self.change_rate = change_rate
        self.withdraw_rate = withdraw_rate
        self.new_rate = new_rate
        self.changes: dict[str, int] = {}
        for name in DATA_FILES:
            if read_header(source / f"{name}.csv") != list(COLUMNS[name]):
                raise ValueError(f"{source / name}.csv was not written by this generator")
        district = [row[0] for row in read_rows(source / "orgs.csv") if row[4] == "district"]
        if not district:
            raise ValueError(f"{source / 'orgs.csv'} has no district")
        self.ns = uuid.UUID(district[0]).bytes
        year = next(
            row for row in read_rows(source / "academicSessions.csv") if row[4] == "schoolYear"
        )
        self.begin, self.end, self.end_year = year[5], year[6], int(year[8])
        # learnt while reading the users and writing the classes
        self.user_ids: list[str] = []
        self.students: list[CurrentStudent] = []
        self.teachers_by_school: dict[str, list[str]] = defaultdict(list)
        self.last_student_number = FIRST_STUDENT_NUMBER - 1
        self.splits: dict[str, tuple[str, str, str]] = {}  # old class -> new class, school, teacher
        self.sections_for: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.enrolled: list[tuple[Student, CurrentStudent]] = []
        # chosen before writing
        self.withdrawn: set[str] = set()
        self.changed: set[str] = set()
        self.new_like: list[CurrentStudent] = []  # each new student joins the school of one

    def write(self) -> tuple[dict[str, int], dict[str, int]]:
        """Write every file; return the rows written per file and the changes made."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rows: dict[str, int] = {}
        for name in ("manifest", *DATA_FILES):
            if name not in self.REWRITTEN:
                shutil.copyfile(self.source / f"{name}.csv", self.out_dir / f"{name}.csv")
                rows[name] = sum(1 for _ in read_rows(self.out_dir / f"{name}.csv"))
        self._read_users()
        self._pick_users()
        with ExitStack() as stack:
            out = {
                name: CsvOut(self.out_dir / f"{name}.csv", COLUMNS[name], stack)
                for name in self.REWRITTEN
            }
            self._write_classes(out["classes"])
            self._write_users(out["users"])
            self._write_demographics(out["demographics"])
            self._write_enrollments(out["enrollments"])
            rows.update({name: table.rows for name, table in out.items()})
        return rows, self.changes

    def _read_users(self) -> None:
        ix = {name: i for i, name in enumerate(COLUMNS["users"])}
        for row in read_rows(self.source / "users.csv"):
            sourced_id, role = row[ix["sourcedId"]], row[ix["role"]]
            school = row[ix["orgSourcedIds"]].split(",")[0]
            self.user_ids.append(sourced_id)
            if role == "teacher":
                self.teachers_by_school[school].append(sourced_id)
            elif role == "student":
                state = row[ix["metadata.stateId"]][:2]
                grade, email = row[ix["grades"]], row[ix["email"]]
                self.students.append(CurrentStudent(sourced_id, school, grade, email, state))
                if row[ix["identifier"]].isdigit():
                    number = int(row[ix["identifier"]])
                    self.last_student_number = max(self.last_student_number, number)

    def _pick_users(self) -> None:
        """Choose the withdrawn students, the changed users, and whom the new students are like."""
        student_ids = [student.sourced_id for student in self.students]
        withdrawn = self.rng.sample(student_ids, pick_count(self.withdraw_rate, len(student_ids)))
        self.withdrawn = set(withdrawn)
        staying = [sid for sid in self.user_ids if sid not in self.withdrawn]
        self.changed = set(self.rng.sample(staying, pick_count(self.change_rate, len(staying))))
        current = [s for s in self.students if s.sourced_id not in self.withdrawn]
        new_count = pick_count(self.new_rate, len(student_ids)) if current else 0
        self.new_like = [self.rng.choice(current) for _ in range(new_count)]
        self.changes["users changed"] = len(self.changed)
        self.changes["students withdrawn"] = len(self.withdrawn)
        self.changes["students added"] = new_count

    def _write_classes(self, classes: CsvOut) -> None:
        """Move some classes (room or period); split a few, with a new teacher for the new half."""
        ix = classes.index
        rows = list(read_rows(self.source / "classes.csv"))
        class_ids = {row[ix["sourcedId"]] for row in rows}
        moved = set(self.rng.sample(range(len(rows)), pick_count(self.change_rate / 2, len(rows))))
        split = sorted(
            self.rng.sample(range(len(rows)), pick_count(self.change_rate / 20, len(rows)))
        )
        for number, row in enumerate(rows):
            if number in moved:
                row = list(row)
                if self.rng.random() < 0.5:
                    row[ix["location"]] = f"Room {self.rng.randint(400, 499)}"
                else:
                    row[ix["periods"]] = str(int(row[ix["periods"]] or 0) % 8 + 1)
            classes.write(row)
        for number in split:
            row = list(rows[number])
            old_id, school = row[ix["sourcedId"]], row[ix["schoolSourcedId"]]
            new_id, attempt = stable_id(self.ns, f"class-split:{old_id}"), 0
            while new_id in class_ids:  # a class split again on a later night
                attempt += 1
                new_id = stable_id(self.ns, f"class-split:{old_id}:{attempt}")
            class_ids.add(new_id)
            teacher = self.rng.choice(self.teachers_by_school.get(school) or [""])
            row[ix["sourcedId"]] = new_id
            row[ix["classCode"]] += "B"
            row[ix["location"]] = f"Portable {self.rng.randint(1, 12)}"
            self.splits[old_id] = (new_id, school, teacher)
            classes.write(row)
        sections: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for row in rows:
            key = (row[ix["schoolSourcedId"]], row[ix["grades"]].split(",")[0])
            sections[key][row[ix["courseSourcedId"]]].append(row[ix["sourcedId"]])
        self.sections_for = sections
        self.changes["classes changed"] = len(moved)
        self.changes["classes added (split)"] = len(split)

    def _write_users(self, users: CsvOut) -> None:
        for row in read_rows(self.source / "users.csv"):
            sourced_id = row[0]
            if sourced_id in self.withdrawn:
                continue
            users.write(self._change_user(row, users.index) if sourced_id in self.changed else row)
        for offset, like in enumerate(self.new_like, start=1):
            # a new student joins the school and grade of a current one
            grade = GRADES.index(like.grade) if like.grade in GRADES else 0
            identifier = str(self.last_student_number + offset)
            student = make_student(self.ns, identifier, grade, self.rng)
            users.write_fields(student_fields(student, like.school, self._locale(like), self.rng))
            self.enrolled.append((student, like))

    def _locale(self, like: CurrentStudent) -> Locale:
        domain = like.email.partition("@")[2].removeprefix("students.") or "example.org"
        return Locale(domain, like.state, self.end_year)

    def _change_user(self, row: list[str], ix: dict[str, int]) -> list[str]:
        """Edit one cell the way a SIS does overnight; the row always ends up different."""
        row = list(row)
        kinds = ["email", "familyName", "middleName"]
        if row[ix["role"]] == "student":
            kinds += ["grades", "metadata.homeLanguage"]
        else:
            kinds += ["phone", "enabledUser"]
        kind = self.rng.choice(kinds)
        before = row[ix[kind]]
        after = before
        while after == before:
            if kind == "email":
                local, _, domain = before.partition("@")
                after = f"{local}.{self.rng.randint(2, 99)}@{domain}"
            elif kind == "familyName":
                after = self.rng.choice(FAMILY_NAMES)
            elif kind == "middleName":
                after = self.rng.choice(FEMALE_NAMES + MALE_NAMES)
            elif kind == "grades":  # promoted (or, from 12, moved back)
                current = GRADES.index(before) if before in GRADES else 0
                after = GRADES[current + 1 if current + 1 < len(GRADES) else current - 1]
            elif kind == "metadata.homeLanguage":
                after = self.rng.choice([language for language, _ in HOME_LANGUAGES])
            elif kind == "phone":
                after = phone_number(self.rng)
            else:  # enabledUser
                after = "false" if before == "true" else "true"
        row[ix[kind]] = after
        return row

    def _write_demographics(self, demographics: CsvOut) -> None:
        for row in read_rows(self.source / "demographics.csv"):
            if row[0] not in self.withdrawn:
                demographics.write(row)
        for student, like in self.enrolled:
            demographics.write_fields(demographics_fields(student, self._locale(like), self.rng))

    def _write_enrollments(self, enrollments: CsvOut) -> None:
        """Drop the withdrawn students' rows, move about half of each split class, enrol the new."""
        ix = enrollments.index
        moved: list[list[str]] = []
        dropped = 0
        for row in read_rows(self.source / "enrollments.csv"):
            user_id, class_id = row[ix["userSourcedId"]], row[ix["classSourcedId"]]
            if user_id in self.withdrawn:
                dropped += 1
                continue
            split = self.splits.get(class_id)
            if split and row[ix["role"]] == "student" and self.rng.random() < 0.5:
                new_id, school, _ = split
                begin, end = row[ix["beginDate"]], row[ix["endDate"]]
                moved.append(
                    enrollment_row(self.ns, new_id, school, user_id, "student", begin, end)
                )
                continue
            enrollments.write(row)
        added = 0
        for new_id, school, teacher in self.splits.values():
            if teacher:
                enrollments.write(self._enrollment(new_id, school, teacher, "teacher"))
                added += 1
        for row in moved:
            enrollments.write(row)
        for student, like in self.enrolled:
            courses = self.sections_for.get((like.school, GRADES[student.grade]), {})
            for course in self.rng.sample(sorted(courses), min(7, len(courses))):
                section = self.rng.choice(courses[course])
                enrollments.write(
                    self._enrollment(section, like.school, student.sourced_id, "student")
                )
                added += 1
        self.changes["enrollments dropped"] = dropped
        self.changes["enrollments moved"] = len(moved)
        self.changes["enrollments added"] = added

    def _enrollment(self, class_id: str, school: str, user_id: str, role: str) -> list[str]:
        return enrollment_row(self.ns, class_id, school, user_id, role, self.begin, self.end)


def generate_nightly(
    source: Path,
    out_dir: Path,
    *,
    seed: int = 1,
    change_rate: float = 0.02,
    withdraw_rate: float = 0.005,
    new_rate: float = 0.005,
) -> Summary:
    """Write the night after ``source`` (a bundle this module wrote) into ``out_dir``."""
    if not all(0 <= rate <= 1 for rate in (change_rate, withdraw_rate, new_rate)):
        raise ValueError("rates are shares, between 0 and 1")
    if source.resolve() == out_dir.resolve():
        raise ValueError("the nightly bundle must go to another folder than its source")
    started = time.perf_counter()
    writer = NightlyWriter(
        source,
        out_dir,
        seed=seed,
        change_rate=change_rate,
        withdraw_rate=withdraw_rate,
        new_rate=new_rate,
    )
    rows, changes = writer.write()
    return _summarize(out_dir, rows, started, changes)


# --- Command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate_district",
        description="Write a synthetic OneRoster 1.1 CSV district (bulk), or its next night.",
    )
    add = parser.add_argument
    add("out_dir", type=Path, metavar="OUT_DIR", help="the folder to write the CSV files to")
    add("--students", type=int, default=100_000, help="students (default: 100000)")
    add("--seed", type=int, default=1, help="random seed (default: 1)")
    add("--school-year", type=int, default=2025, help="the year the school year ends")
    add("--zip", action="store_true", help="also pack the files into OUT_DIR.zip")
    add("--nightly-from", type=Path, metavar="DIR", help="write the night after the bundle in DIR")
    add("--change-rate", type=float, default=0.02, help="nightly: share of users changed")
    add("--withdraw-rate", type=float, default=0.005, help="nightly: share of students leaving")
    add("--new-rate", type=float, default=0.005, help="nightly: new students, share of students")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out_dir: Path = args.out_dir
    if args.nightly_from is not None:
        summary = generate_nightly(
            args.nightly_from,
            out_dir,
            seed=args.seed,
            change_rate=args.change_rate,
            withdraw_rate=args.withdraw_rate,
            new_rate=args.new_rate,
        )
    else:
        summary = generate_district(
            out_dir, students=args.students, seed=args.seed, school_year=args.school_year
        )
    if args.zip:
        summary.zip_path = zip_bundle(out_dir)
    print(summary.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
