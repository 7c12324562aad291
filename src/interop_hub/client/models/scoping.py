"""Scoping: the schools and courses a tenant sees (#22–#33), as the spec shows them."""

from __future__ import annotations

import uuid

from interop_hub.client.models.base import Model


class Scoping(Model):
    """What scoping schools and scoping courses share."""

    account_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    school_id: uuid.UUID | None = None
    school_ref_id: str | None = None
    name: str | None = None
    local_id: str | None = None
    keywords: str | None = None
    selected: bool | None = None


class ScopingSchool(Scoping):
    """A school the district shares (``selected``) with the tenant, or not."""


class ScopingCourse(Scoping):
    """A course the district shares (``selected``) with the tenant, or not."""

    course_id: uuid.UUID | None = None
    course_ref_id: str | None = None
