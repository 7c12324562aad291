"""A validated OneRoster row → the fields, type, label and references of a record (DESIGN §5).

Builders get a row whose required values are present and whose enumerations, booleans and
dates are already checked (:mod:`interop_hub.ingest.oneroster.validate`); what they still check
themselves raises :class:`Fault`. References are returned with the column they came from, so a
reference to an object that does not exist can be reported against that column; whether a
reference resolves is not the builders' business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interop_hub.ingest.oneroster.files import ORG_SUBTYPES, PERSON_TYPES
from interop_hub.ingest.records import Ref

Values = dict[str, str]
"""One row: column name → value ("" when empty)."""


class Fault(Exception):
    """A row is rejected: ``column`` (or None for the whole row) and why."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(slots=True)
class Built:
    """What a row says about its object.

    ``ext`` holds what the builder derived for ``$ext``; the caller adds the row's other
    columns to it and sets ``data["$ext"]``.
    """

    subtype: str | None
    label: str
    data: dict[str, Any]
    refs: list[tuple[str, Ref]] = field(default_factory=list)
    school_year: int | None = None
    ext: dict[str, Any] = field(default_factory=dict)


def split_list(value: str) -> list[str]:
    """A comma separated OneRoster list (``"a, b,c"``) as its non-empty items."""
    if "," not in value:
        value = value.strip()
        return [value] if value else []
    return [item for item in (part.strip() for part in value.split(",")) if item]


def _refs(column: str, rel: str, kind: Any, value: str) -> list[tuple[str, Ref]]:
    return [(column, Ref(rel, kind, item)) for item in split_list(value)]


def org(r: Values) -> Built:
    """orgs.csv: district → ``lea``, school → ``school``, other types keep their name."""
    kind = r["type"]
    return Built(
        subtype=ORG_SUBTYPES.get(kind, kind),
        label=r["name"],
        data={"name": r["name"], "local_id": r.get("identifier") or None},
        refs=_refs("parentSourcedId", "parent", "org", r.get("parentSourcedId", "")),
    )


def term(r: Values) -> Built:
    """academicSessions.csv: the session type is the term type; ``schoolYear`` is a year."""
    year_text = r["schoolYear"].strip()
    if len(year_text) != 4 or not year_text.isdigit():
        raise Fault("schoolYear", f"bad year {r['schoolYear']!r} (expected YYYY)")
    year = int(year_text)
    if r["endDate"] < r["startDate"]:
        raise Fault("endDate", f"endDate {r['endDate']} is before startDate {r['startDate']}")
    return Built(
        subtype=r["type"],
        label=r["title"],
        data={
            "name": r["title"],
            "start_date": r["startDate"],
            "end_date": r["endDate"],
            "school_year": year,
        },
        refs=_refs("parentSourcedId", "parent", "term", r.get("parentSourcedId", "")),
        school_year=year,
    )


def course(r: Values) -> Built:
    """courses.csv: the org and the school-year session are references."""
    refs = [("orgSourcedId", Ref("orgs", "org", r["orgSourcedId"]))]
    refs += _refs("schoolYearSourcedId", "school_year", "term", r.get("schoolYearSourcedId", ""))
    return Built(
        subtype=None,
        label=r["title"],
        data={"title": r["title"], "local_id": r.get("courseCode") or None},
        refs=refs,
    )


def section(r: Values) -> Built:
    """classes.csv → a section of its course, at its school, in its terms."""
    refs = [
        ("courseSourcedId", Ref("course", "course", r["courseSourcedId"])),
        ("schoolSourcedId", Ref("org", "org", r["schoolSourcedId"])),
    ]
    terms = _refs("termSourcedIds", "terms", "term", r["termSourcedIds"])
    if not terms:
        raise Fault("termSourcedIds", "missing required field")
    return Built(
        subtype=None,
        label=r["title"],
        data={"title": r["title"], "local_id": r.get("classCode") or None},
        refs=refs + terms,
    )


def person(r: Values, role: str, schools: list[str]) -> Built:
    """users.csv: the role gives the person type; schools and agents are references.

    ``role`` and ``schools`` come from the row (1.1) or from roles.csv (1.2).
    """
    given, family = r["givenName"], r["familyName"]
    refs = [("orgSourcedIds", Ref("schools", "org", school)) for school in schools]
    refs += _refs("agentSourcedIds", "agents", "person", r.get("agentSourcedIds", ""))
    return Built(
        subtype=PERSON_TYPES.get(role, "staff"),
        label=f"{given} {family}",
        data={
            "local_id": r.get("identifier") or None,
            "name": {"first": given, "middle": r.get("middleName") or None, "last": family},
            "email": r.get("email") or None,
            "phone": r.get("phone") or None,
        },
        refs=refs,
    )


def category(r: Values) -> Built:
    """categories.csv → a grading category; a 1.2 ``weight`` is a number, kept in ``$ext``."""
    built = Built(subtype=None, label=r["title"], data={"name": r["title"]})
    weight = r.get("weight", "")
    if weight:
        try:
            built.ext["weight"] = float(weight)
        except ValueError:
            raise Fault("weight", f"bad number {weight!r}") from None
    return built
