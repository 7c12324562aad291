"""Rostering objects of the Data API (#60–#80), as DESIGN §5 describes them.

Every object has ``$sys`` (``sys``) and ``$ext`` (``ext``); every other field may be missing,
because a tenant sees only the attributes its blueprint lists (roll-ups such as ``$schools`` are
None when not listed, which is not the same as an empty list). Values that come from the SIS as
text (dates, grade years) stay text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from interop_hub.client.models.base import Model


class Ref(Model):
    """A reference to another object: ``{id, type, label}`` and its subtype where it has one."""

    id: uuid.UUID
    type: str | None = None
    label: str | None = None
    org_type: str | None = None
    person_type: str | None = None
    term_type: str | None = None


class Membership(Model):
    id: uuid.UUID
    role: str | None = None
    primary: bool | None = None
    begin_date: str | None = None
    end_date: str | None = None


class MemberRef(Ref):
    """A reference through a section membership, with the membership itself."""

    membership: Membership | None = None


class Sys(Model):
    id: uuid.UUID
    type: str
    label: str | None = None
    school_year: int | None = None
    org_type: str | None = None
    person_type: str | None = None
    term_type: str | None = None
    source_id: dict[str, Any] = Field(default_factory=dict)
    """Source identifiers by id space (``sis``)."""
    app_id: dict[str, Any] = Field(default_factory=dict)
    """Applications' own ids by id space."""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class RosterObject(Model):
    sys: Sys = Field(alias="$sys")
    ext: dict[str, Any] = Field(default_factory=dict, alias="$ext")

    @property
    def id(self) -> uuid.UUID:
        return self.sys.id


class Org(RosterObject):
    name: str | None = None
    local_id: str | None = None
    parent: Ref | None = Field(default=None, alias="$parent")
    children: list[Ref] | None = Field(default=None, alias="$children")


class Name(Model):
    first: str | None = None
    middle: str | None = None
    last: str | None = None


class Address(Model):
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Person(RosterObject):
    local_id: str | None = None
    state_id: str | None = None
    name: Name | None = None
    address: Address | None = None
    phone: str | None = None
    email: str | None = None
    sex: str | None = None
    dob: str | None = None
    aup: bool | None = None
    grad_year: str | None = None
    schools: list[Ref] | None = Field(default=None, alias="$schools")
    sections: list[MemberRef] | None = Field(default=None, alias="$sections")


class Course(RosterObject):
    local_id: str | None = None
    title: str | None = None
    description: str | None = None
    orgs: list[Ref] | None = Field(default=None, alias="$orgs")
    sections: list[Ref] | None = Field(default=None, alias="$sections")


class Section(RosterObject):
    local_id: str | None = None
    title: str | None = None
    description: str | None = None
    terms: list[Ref] | None = Field(default=None, alias="$terms")
    course: Ref | None = Field(default=None, alias="$course")
    org: Ref | None = Field(default=None, alias="$org")
    teachers: list[MemberRef] | None = Field(default=None, alias="$teachers")
    students: list[MemberRef] | None = Field(default=None, alias="$students")


class Term(RosterObject):
    name: str | None = None
    description: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    status: str | None = None
    school_year: int | None = None
    parent: Ref | None = Field(default=None, alias="$parent")
    children: list[Ref] | None = Field(default=None, alias="$children")


class GradingCategory(RosterObject):
    name: str | None = None
    term: Ref | None = Field(default=None, alias="$term")
    section: Ref | None = Field(default=None, alias="$section")
    schools: list[Ref] | None = Field(default=None, alias="$schools")


class SectionMembership(RosterObject):
    """A person's membership of a section (the data of a ``*SectionEnrollment`` event)."""

    role: str | None = None
    primary: bool | None = None
    begin_date: str | None = None
    end_date: str | None = None
    person: Ref | None = Field(default=None, alias="$person")
    section: Ref | None = Field(default=None, alias="$section")
    school: Ref | None = Field(default=None, alias="$school")


MODELS_BY_TYPE: dict[str, type[RosterObject]] = {
    "Org": Org,
    "LEA": Org,
    "School": Org,
    "Person": Person,
    "Student": Person,
    "Teacher": Person,
    "Staff": Person,
    "Contact": Person,
    "Course": Course,
    "Section": Section,
    "CourseSection": Section,
    "Term": Term,
    "GradingCategory": GradingCategory,
}
"""The model of each object type (``$sys.type``) and data event ``object_type``; any other type
(the membership topics under their several names) is a :class:`SectionMembership`."""


def roster_object(data: dict[str, Any], object_type: str | None = None) -> RosterObject:
    """``data`` as the model of its type (``object_type``, or else its ``$sys.type``)."""
    name = object_type or str((data.get("$sys") or {}).get("type") or "")
    return MODELS_BY_TYPE.get(name, SectionMembership).model_validate(data)
