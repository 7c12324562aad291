"""Scoping shapes of the Interop API (#22–#33), as ``spec/interop-api.txt`` shows them."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

MAX_ITEMS = 10_000


class ScopingSchool(BaseModel):
    """A school of the district and whether it is shared with the tenant (``selected``)."""

    account_id: uuid.UUID
    tenant_id: uuid.UUID
    school_id: uuid.UUID
    school_ref_id: str = Field(description="The school's id in the source (its sourcedId)")
    name: str
    local_id: str | None = None
    keywords: str | None = Field(
        default=None, description="Words to search the school by: its name, local and source ids"
    )
    selected: bool


class ScopingCourse(BaseModel):
    """A course of the district and whether it is shared with the tenant (``selected``)."""

    account_id: uuid.UUID
    tenant_id: uuid.UUID
    course_id: uuid.UUID
    course_ref_id: str = Field(description="The course's id in the source (its sourcedId)")
    school_id: uuid.UUID | None = Field(default=None, description="The course's school, if any")
    school_ref_id: str | None = None
    name: str
    local_id: str | None = None
    keywords: str | None = None
    selected: bool


class ScopingSchoolIn(BaseModel):
    """A school to select (or, ``selected`` false, to leave out), by ``school_id`` or
    ``school_ref_id``. The other fields may be sent back as a list showed them; they must then
    agree with the tenant and the school."""

    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    school_id: uuid.UUID | None = None
    school_ref_id: str | None = Field(default=None, min_length=1, max_length=255)
    name: str | None = None
    local_id: str | None = None
    keywords: str | None = None
    selected: bool = True


class ScopingCourseIn(BaseModel):
    """A course to select (or, ``selected`` false, to leave out), by ``course_id`` or
    ``course_ref_id``."""

    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    course_id: uuid.UUID | None = None
    course_ref_id: str | None = Field(default=None, min_length=1, max_length=255)
    school_id: uuid.UUID | None = None
    school_ref_id: str | None = None
    name: str | None = None
    local_id: str | None = None
    keywords: str | None = None
    selected: bool = True


class ScopingSchoolsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[ScopingSchoolIn] = Field(max_length=MAX_ITEMS)


class ScopingCoursesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[ScopingCourseIn] = Field(max_length=MAX_ITEMS)


class ScopingSelection(BaseModel):
    """The operator's view of a tenant's scoping: what is selected (``whole_district`` when
    nothing is)."""

    whole_district: bool
    schools: list[ScopingSchool]
    courses: list[ScopingCourse]


class ScopingSelectionIn(BaseModel):
    """A whole new selection (the operator's ``PUT``): empty lists mean the whole district."""

    model_config = ConfigDict(extra="forbid")

    schools: list[ScopingSchoolIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    courses: list[ScopingCourseIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class ScopingChanged(ScopingSelection):
    tasks_queued: int = Field(description="Tasks of the tenant's scoping sync")
