"""Writing Repository rows directly, for tests of what reads them.

:func:`seed_district` builds a tiny district in a cloud — one LEA, two schools, a school year
with two semesters, courses, sections, students, teachers, a staff member, a contact, section
memberships and grading categories — with the ids the collection would give them
(:func:`object_id`, :func:`membership_id`). :class:`Seed` answers "what is the id of source X".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Table
from sqlalchemy.orm import Session

from interop_hub.repository import partitions
from interop_hub.repository.models import (
    RepoLink,
    RepoMembership,
    RepoObject,
    membership_id,
    object_id,
)

CREATED = dt.datetime(2025, 8, 1, 12, 0, tzinfo=dt.UTC)
UPDATED = dt.datetime(2025, 8, 2, 6, 30, 15, 250000, tzinfo=dt.UTC)


def _digest(data: dict[str, Any]) -> str:
    return hashlib.blake2b(
        orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


@dataclass
class Seed:
    """Ids of what was written, by source id."""

    cloud_id: uuid.UUID
    objects: dict[str, RepoObject] = field(default_factory=dict)
    memberships: dict[str, RepoMembership] = field(default_factory=dict)

    def id(self, source_id: str) -> str:
        return str(self.objects[source_id].id)

    def ids(self, *source_ids: str) -> list[str]:
        """The ids of ``source_ids``, in the order the API lists them (by id)."""
        return sorted((self.id(source) for source in source_ids), key=uuid.UUID)

    def descending(self, *source_ids: str) -> list[str]:
        """``source_ids`` by descending id (the reverse of the API's order)."""
        return sorted(source_ids, key=lambda source: self.objects[source].id, reverse=True)

    def membership(self, source_id: str) -> str:
        return str(self.memberships[source_id].id)


class SeedWriter:
    def __init__(self, session: Session, cloud_id: uuid.UUID) -> None:
        self.session = session
        self.seed = Seed(cloud_id)
        # On PostgreSQL a cloud's rows go to its own partitions, which a collection creates:
        # made here, empty, before any is added.
        for model in (RepoObject, RepoLink, RepoMembership):
            partitions.ensure(session, cast(Table, model.__table__), cloud_id)

    def obj(
        self,
        kind: str,
        source_id: str,
        label: str,
        data: dict[str, Any],
        *,
        subtype: str | None = None,
        school_year: int | None = None,
        **links: str | list[str],
    ) -> RepoObject:
        """One object, and its links (``rel=source_id`` or ``rel=[source_id, ...]`` in order);
        the targets must have been written before."""
        cloud_id = self.seed.cloud_id
        row = RepoObject(
            id=object_id(cloud_id, kind, source_id),
            cloud_id=cloud_id,
            kind=kind,
            subtype=subtype,
            source_id=source_id,
            label=label,
            school_year=school_year,
            data=data,
            digest=_digest(data),
            created_at=CREATED,
            updated_at=UPDATED,
        )
        self.session.add(row)
        self.session.flush()
        for rel, targets in links.items():
            for position, target in enumerate([targets] if isinstance(targets, str) else targets):
                self.session.add(
                    RepoLink(
                        from_id=row.id,
                        rel=rel,
                        to_id=self.seed.objects[target].id,
                        cloud_id=cloud_id,
                        position=position,
                    )
                )
        self.seed.objects[source_id] = row
        return row

    def member(
        self, source_id: str, person: str, section: str, role: str, school: str, **data: Any
    ) -> None:
        cloud_id = self.seed.cloud_id
        row = RepoMembership(
            id=membership_id(cloud_id, source_id),
            cloud_id=cloud_id,
            source_id=source_id,
            person_id=self.seed.objects[person].id,
            section_id=self.seed.objects[section].id,
            school_id=self.seed.objects[school].id,
            role=role,
            data=data,
            digest=_digest(data),
            created_at=CREATED,
            updated_at=UPDATED,
        )
        self.session.add(row)
        self.seed.memberships[source_id] = row


def _person(first: str, last: str, local_id: str, **extra: Any) -> dict[str, Any]:
    return {"name": {"first": first, "last": last, "middle": None}, "local_id": local_id, **extra}


def seed_district(session: Session, cloud_id: uuid.UUID | str) -> Seed:
    """The tiny district (see the module docstring). The caller commits."""
    w = SeedWriter(session, uuid.UUID(str(cloud_id)))
    w.obj(
        "org",
        "d1",
        "Springfield USD",
        {"name": "Springfield USD", "local_id": "D1", "$ext": {"metadata.region": "north"}},
        subtype="lea",
    )
    w.obj(
        "org",
        "s1",
        "Springfield Elementary",
        {"name": "Springfield Elementary", "local_id": "S1"},
        subtype="school",
        parent="d1",
    )
    w.obj(
        "org",
        "s2",
        "Springfield High",
        {"name": "Springfield High", "local_id": "S2"},
        subtype="school",
        parent="d1",
    )

    w.obj(
        "term",
        "y2025",
        "2025-2026",
        {"name": "2025-2026", "start_date": "2025-08-15", "end_date": "2026-06-15"},
        subtype="schoolYear",
        school_year=2026,
    )
    w.obj(
        "term",
        "fall",
        "Fall 2025",
        {"name": "Fall 2025", "start_date": "2025-08-15", "end_date": "2025-12-20"},
        subtype="semester",
        school_year=2026,
        parent="y2025",
    )
    w.obj(
        "term",
        "spring",
        "Spring 2026",
        {"name": "Spring 2026", "start_date": "2026-01-05", "end_date": "2026-06-15"},
        subtype="semester",
        school_year=2026,
        parent="y2025",
    )

    w.obj("course", "c-math", "Math 3", {"title": "Math 3", "local_id": "MATH3"}, orgs="s1")
    w.obj("course", "c-bio", "Biology", {"title": "Biology", "local_id": "BIO"}, orgs="s2")
    w.obj("course", "c-art", "Art", {"title": "Art", "local_id": "ART"}, orgs="d1")

    # Links whose source order is the reverse of their id order, so that a test tells the
    # source's order (``position``) from an order by id.
    by_id_desc = w.seed.descending
    w.obj(
        "section",
        "sec-math",
        "Math 3 - A",
        {"title": "Math 3 - A", "local_id": "M3A"},
        school_year=2026,
        course="c-math",
        org="s1",
        terms=by_id_desc("fall", "spring"),
    )
    w.obj(
        "section",
        "sec-bio",
        "Biology - 1",
        {"title": "Biology - 1", "local_id": "BIO1"},
        school_year=2026,
        course="c-bio",
        org="s2",
        terms="fall",
    )

    w.obj(
        "person",
        "t1",
        "Edna Krabappel",
        _person("Edna", "Krabappel", "T1", email="edna@example.org"),
        subtype="teacher",
        schools="s1",
    )
    w.obj(
        "person",
        "t2",
        "Dewey Largo",
        _person("Dewey", "Largo", "T2"),
        subtype="teacher",
        schools="s2",
    )
    w.obj(
        "person",
        "st1",
        "Bart Simpson",
        _person(
            "Bart",
            "Simpson",
            "ST1",
            grad_year="2033",
            **{"$ext": {"metadata.nickname": "El Barto"}},
        ),
        subtype="student",
        schools="s1",
    )
    w.obj(
        "person",
        "st2",
        "Lisa Simpson",
        _person("Lisa", "Simpson", "ST2"),
        subtype="student",
        schools=by_id_desc("s1", "s2"),
    )
    w.obj(
        "person",
        "st3",
        "Nelson Muntz",
        _person("Nelson", "Muntz", "ST3"),
        subtype="student",
        schools="s2",
    )
    w.obj(
        "person",
        "staff1",
        "Seymour Skinner",
        _person("Seymour", "Skinner", "A1"),
        subtype="staff",
        schools="s1",
    )
    w.obj(
        "person", "contact1", "Marge Simpson", _person("Marge", "Simpson", "P1"), subtype="contact"
    )

    w.member(
        "m-t1-math",
        "t1",
        "sec-math",
        "teacher",
        "s1",
        primary=True,
        begin_date="2025-08-15",
        end_date=None,
    )
    w.member(
        "m-st1-math",
        "st1",
        "sec-math",
        "student",
        "s1",
        primary=False,
        begin_date="2025-08-15",
        end_date="2026-06-15",
    )
    w.member("m-st2-math", "st2", "sec-math", "student", "s1", primary=False)
    w.member("m-st2-bio", "st2", "sec-bio", "student", "s2", primary=False)
    w.member("m-t2-bio", "t2", "sec-bio", "teacher", "s2", primary=True)
    w.member("m-st3-bio", "st3", "sec-bio", "student", "s2", primary=False)
    w.member("m-staff1-math", "staff1", "sec-math", "administrator", "s1", primary=False)

    w.obj(
        "grading_category",
        "gc-hw",
        "Homework",
        {"name": "Homework", "weight": "0.4"},
        section="sec-math",
        term="fall",
        schools="s1",
    )
    w.obj("grading_category", "gc-tests", "Tests", {"name": "Tests"})
    session.flush()
    return w.seed
