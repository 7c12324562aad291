"""What each OneRoster CSV file holds, per version: required columns, enumerations, dates.

Facts from the OneRoster 1.1 and 1.2 CSV binding. Every file starts with ``sourcedId``,
``status`` and ``dateLastModified``; ``status`` and ``dateLastModified`` may be empty in a bulk
file and must be filled in a delta file. A column in ``required`` must be in the header (else
the bundle is unreadable) and filled in every row that is not ``tobedeleted`` (else the row is
rejected). Columns that no field or reference of the model takes (all but ``consumed``) go to
``$ext`` under their full name (``metadata.x`` stays ``metadata.x``: no clash with a standard
column), booleans as booleans and lists as lists; ``password`` is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

STATUSES: Final = frozenset({"active", "tobedeleted"})
BOOLEANS: Final = frozenset({"true", "false"})
ORG_TYPES: Final = frozenset({"department", "school", "district", "local", "state", "national"})
SESSION_TYPES: Final = frozenset({"gradingPeriod", "semester", "schoolYear", "term"})
CLASS_TYPES: Final = frozenset({"homeroom", "scheduled"})
SEXES: Final = frozenset({"male", "female", "other", "unspecified"})
ROLE_TYPES: Final = frozenset({"primary", "secondary"})
ENROLLMENT_ROLES: Final = frozenset({"administrator", "aide", "proctor", "student", "teacher"})
USER_ROLES_11: Final = frozenset(
    {"administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher"}
)
USER_ROLES_12: Final = USER_ROLES_11 | frozenset(
    {
        "counselor",
        "districtAdministrator",
        "principal",
        "siteAdministrator",
        "systemAdministrator",
    }
)
"""1.2 replaced ``administrator`` by finer roles; it is still accepted for older exporters."""

PERSON_TYPES: Final = {
    "student": "student",
    "teacher": "teacher",
    "parent": "contact",
    "guardian": "contact",
    "relative": "contact",
}
"""OneRoster role → person type; every other role is ``staff``."""

ORG_SUBTYPES: Final = {"district": "lea", "school": "school"}
"""OneRoster org type → org type; the others keep their OneRoster name."""

LIST_COLUMNS: Final = frozenset(
    {
        "grades",
        "subjects",
        "subjectCodes",
        "periods",
        "userIds",
        "resourceSourcedIds",
        "orgSourcedIds",
        "agentSourcedIds",
        "termSourcedIds",
    }
)
"""Columns that hold a comma separated list (kept as a list of strings in ``$ext``)."""

DEMOGRAPHIC_FLAGS: Final = (
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
)

DROPPED: Final = frozenset({"password"})
BASE: Final = ("sourcedId", "status", "dateLastModified")


@dataclass(frozen=True, slots=True)
class FileSpec:
    """The columns of one file and how a row's values are checked."""

    name: str
    required: tuple[str, ...]
    enums: dict[str, frozenset[str]] = field(default_factory=dict)
    bools: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    consumed: frozenset[str] = frozenset()

    @property
    def file(self) -> str:
        """The file name as the operator sees it in an error."""
        return f"{self.name}.csv"


def _spec(
    name: str,
    required: tuple[str, ...],
    *,
    enums: dict[str, frozenset[str]] | None = None,
    bools: tuple[str, ...] = (),
    dates: tuple[str, ...] = (),
    consumed: tuple[str, ...] = (),
) -> FileSpec:
    return FileSpec(
        name=name,
        required=required,
        enums=enums or {},
        bools=bools,
        dates=dates,
        consumed=frozenset((*BASE, *consumed, *DROPPED)),
    )


def _common() -> dict[str, FileSpec]:
    return {
        "orgs": _spec(
            "orgs",
            ("name", "type"),
            enums={"type": ORG_TYPES},
            consumed=("name", "type", "identifier", "parentSourcedId"),
        ),
        "academicSessions": _spec(
            "academicSessions",
            ("title", "type", "startDate", "endDate", "schoolYear"),
            enums={"type": SESSION_TYPES},
            dates=("startDate", "endDate"),
            consumed=("title", "type", "startDate", "endDate", "schoolYear", "parentSourcedId"),
        ),
        "courses": _spec(
            "courses",
            ("title", "orgSourcedId"),
            consumed=("title", "courseCode", "orgSourcedId", "schoolYearSourcedId"),
        ),
        "classes": _spec(
            "classes",
            ("title", "courseSourcedId", "classType", "schoolSourcedId", "termSourcedIds"),
            enums={"classType": CLASS_TYPES},
            consumed=("title", "classCode", "courseSourcedId", "schoolSourcedId", "termSourcedIds"),
        ),
        "enrollments": _spec(
            "enrollments",
            ("classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
            enums={"role": ENROLLMENT_ROLES},
            bools=("primary",),
            dates=("beginDate", "endDate"),
            consumed=(
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ),
        ),
        "demographics": _spec(
            "demographics",
            (),
            enums={"sex": SEXES},
            bools=DEMOGRAPHIC_FLAGS,
            dates=("birthDate",),
            consumed=("sex", "birthDate"),
        ),
        "categories": _spec("categories", ("title",), consumed=("title", "weight")),
    }


_USER_COLUMNS: Final = (
    "identifier",
    "givenName",
    "familyName",
    "middleName",
    "email",
    "phone",
    "agentSourcedIds",
    "orgSourcedIds",
)
"""Users columns with a field or reference of their own; ``role`` stays in ``$ext`` as the
OneRoster role, since the person type folds several roles into ``staff``."""


def _specs_11() -> dict[str, FileSpec]:
    specs = _common()
    specs["users"] = _spec(
        "users",
        ("enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"),
        enums={"role": USER_ROLES_11},
        bools=("enabledUser",),
        consumed=_USER_COLUMNS,
    )
    return specs


def _specs_12() -> dict[str, FileSpec]:
    specs = _common()
    # 1.2 moved role and orgSourcedIds to roles.csv; exporters that still write them in
    # users.csv are understood (they are used when the manifest declares roles.csv absent).
    specs["users"] = _spec(
        "users",
        ("enabledUser", "username", "givenName", "familyName"),
        enums={"role": USER_ROLES_12},
        bools=("enabledUser",),
        consumed=_USER_COLUMNS,
    )
    specs["roles"] = _spec(
        "roles",
        ("userSourcedId", "roleType", "role", "orgSourcedId"),
        enums={"roleType": ROLE_TYPES, "role": USER_ROLES_12},
        dates=("beginDate", "endDate"),
    )
    return specs


SPECS: Final = {"1.1": _specs_11(), "1.2": _specs_12()}
"""File specs by OneRoster version, then by file name (without ``.csv``)."""
