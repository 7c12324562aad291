"""Persons and what hangs on them: roles (1.2), users' roles, enrollments, demographics.

In 1.1 a user's role and orgs are columns of users.csv. 1.2 moved them to roles.csv (one row
per user, role and org; ``roleType`` primary or secondary): the person type comes from the
primary role (else the first), ``$schools`` from the orgs of all its roles, and ``$ext.role``
keeps the OneRoster role. A 1.2 users.csv that still has ``role``/``orgSourcedIds`` columns is
read like 1.1 for users that roles.csv does not mention.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar

from interop_hub.ingest.oneroster import mapping
from interop_hub.ingest.oneroster.csvrows import Table
from interop_hub.ingest.oneroster.files import FileSpec
from interop_hub.ingest.oneroster.mapping import Built, Fault, Values
from interop_hub.ingest.oneroster.rows import column, ext, ext_columns
from interop_hub.ingest.records import SourceMembership

if TYPE_CHECKING:
    from interop_hub.ingest.oneroster.validate import Reader


MakeMembership = Callable[[str, str, str, str | None, str, dict[str, Any]], SourceMembership]
T = TypeVar("T")


def _membership_maker() -> MakeMembership:
    """A faster ``SourceMembership(...)`` for the hot loop.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` looked up
    anew per field; setting the slots through their descriptors does the same in about half
    the time (0.9 s less per million enrollments here). Should the record stop being a slotted
    dataclass with these fields, the class itself is used.
    """
    names = ("source_id", "person_source_id", "section_source_id", "school_source_id", "role")
    expected = (*names, "data")
    if tuple(f.name for f in dataclasses.fields(SourceMembership)) != expected or not all(
        hasattr(getattr(SourceMembership, n, None), "__set__") for n in expected
    ):
        return SourceMembership
    new = object.__new__
    set_sid, set_person, set_section, set_school, set_role, set_data = (
        getattr(SourceMembership, n).__set__ for n in expected
    )

    def make(
        sid: str, person: str, section: str, school: str | None, role: str, data: dict[str, Any]
    ) -> SourceMembership:
        membership: SourceMembership = new(SourceMembership)
        set_sid(membership, sid)
        set_person(membership, person)
        set_section(membership, section)
        set_school(membership, school)
        set_role(membership, role)
        set_data(membership, data)
        return membership

    return make


_make_membership = _membership_maker()


@dataclass(frozen=True, slots=True)
class _Role:
    line: int
    sid: str
    role_type: str
    role: str
    org: str


class Roles:
    """The roles of roles.csv (1.2) by user, and how users.csv rows become persons."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.by_user: dict[str, list[_Role]] = {}

    def person(self, r: Values) -> Built:
        """Build a users.csv row with its role and schools (see the module docstring)."""
        roles = self.by_user.get(r["sourcedId"])
        if roles:
            primary = next((x for x in roles if x.role_type == "primary"), roles[0])
            schools = list(dict.fromkeys([primary.org, *(x.org for x in roles)]))
            built = mapping.person(r, primary.role, schools)
            built.ext["role"] = primary.role
            return built
        role = r.get("role", "")
        if not role:
            where = "users.csv" if self.reader.bundle.version == "1.1" else "roles.csv or users.csv"
            raise Fault("role", f"missing required field (no role in {where})")
        schools = mapping.split_list(r.get("orgSourcedIds", ""))
        return mapping.person(r, role, schools)

    def report_unused(self) -> None:
        """Roles of users that do not exist are errors; roles of existing users that this
        bundle's users.csv does not carry are not applied (the person is not rebuilt)."""
        reader = self.reader
        spec = reader.specs.get("roles")
        if spec is None:
            return
        for user, roles in self.by_user.items():
            if not reader.exists("person", user):
                for x in roles:
                    reader.error(
                        spec, x.line, "userSourcedId", reader.unknown("person", user), x.sid
                    )


def read_roles(reader: Reader) -> Roles:
    """roles.csv (1.2 only): each role's org must exist; its user is checked after users."""
    roles = Roles(reader)
    opened = reader.open("roles") if reader.bundle.version == "1.2" else None
    if opened is None:
        return roles
    spec, table, stream = opened
    user_at, type_at, role_at, org_at = (
        column(table, c) for c in ("userSourcedId", "roleType", "role", "orgSourcedId")
    )
    with stream:
        for line, sid, fields, deleting in reader.rows(spec, table):
            if deleting:
                continue
            org = fields[org_at]
            if not reader.exists("org", org):
                reader.error(spec, line, "orgSourcedId", reader.unknown("org", org), sid)
                continue
            role = _Role(line, sid, fields[type_at], fields[role_at], org)
            roles.by_user.setdefault(fields[user_at], []).append(role)
    return roles


Opened = tuple[FileSpec, Table, AbstractContextManager[IO[bytes] | None]]
"""A file the reader opened: its spec, its table (header checked) and its stream."""


def enrollments(reader: Reader, opened: Opened) -> Iterator[SourceMembership]:
    """The memberships of enrollments.csv, ``opened`` by the reader (its header checked); its
    rejected rows become errors as they are read (:func:`read_enrollments`)."""
    return read_enrollments(reader, opened, _make_membership)


def read_enrollments(
    reader: Reader,
    opened: Opened,
    make: Callable[[str, str, str, str | None, str, dict[str, Any]], T],
) -> Iterator[T]:
    """``make(source_id, person, section, school, role, data)`` of each membership of
    enrollments.csv, ``opened`` by the reader (its header checked); its rejected rows become
    errors as they are read. The hot path of a large bundle, so kept lean: the memberships'
    loader makes each row it writes here, without a record (:mod:`interop_hub.ingest.loader`).

    Ids that resolve to this bundle's objects are replaced by the objects' own strings, and
    memberships whose data are equal (same primary and dates, no ``$ext``: most of a school's
    enrollments) share one ``data`` dict: about 300 bytes and a microsecond less per row. The
    records are frozen; their data must be treated as read-only too.
    """
    spec, table, stream = opened
    extras = ext_columns(spec, table)
    at = {c: column(table, c) for c in table.header}
    width = table.width
    user_at, class_at, school_at = at["userSourcedId"], at["classSourcedId"], at["schoolSourcedId"]
    role_at = at["role"]
    primary_at, begin_at, end_at = (at.get(c, width) for c in ("primary", "beginDate", "endDate"))
    persons, sections, orgs = (reader.accepted[k] for k in ("person", "section", "org"))
    exists, error, unknown = reader.exists, reader.error, reader.unknown
    checking = reader.checks_references
    u: str | None
    c: str | None
    s: str | None
    deleted, known = reader.bundle.deleted_memberships, reader.existing_memberships
    shared: dict[tuple[str, str, str], dict[str, Any]] = {}
    taken = reader.skipping.taken.get("enrollments")
    taken_at = taken.indexes.append if taken is not None else None
    taken_id = taken.ids.append if taken is not None else None
    with stream:
        for line, sid, f, deleting in reader.rows(spec, table):
            if deleting:
                if known is None or sid in known:
                    deleted.append(sid)
                continue
            u, c, s = user, klass, school = f[user_at], f[class_at], f[school_at]
            if checking:
                u = persons.get(user) or (user if exists("person", user) else None)
                if u is None:
                    error(spec, line, "userSourcedId", unknown("person", user), sid)
                    continue
                c = sections.get(klass) or (klass if exists("section", klass) else None)
                if c is None:
                    error(spec, line, "classSourcedId", unknown("section", klass), sid)
                    continue
                s = orgs.get(school) or (school if exists("org", school) else None)
                if s is None:
                    error(spec, line, "schoolSourcedId", unknown("org", school), sid)
                    continue
            more = ext(extras, f, {}) if extras else None
            if more:
                data = membership_data(f[primary_at], f[begin_at], f[end_at], more)
            else:
                key = (f[primary_at], f[begin_at], f[end_at])
                found = shared.get(key)
                if found is None:
                    found = membership_data(*key, {})
                    if len(shared) < _SHARED:
                        shared[key] = found
                data = found
            if taken_at is not None and taken_id is not None:
                taken_at(line - 1)
                taken_id(sid)
            yield make(sid, u, c, s, f[role_at], data)


_SHARED = 10_000
"""At most this many distinct membership data dicts are shared."""


def membership_data(primary: str, begin: str, end: str, ext: dict[str, Any]) -> dict[str, Any]:
    """A membership's ``data`` from its row's primary, beginDate and endDate, and ``$ext``."""
    return {
        "primary": primary == "true",
        "begin_date": begin or None,
        "end_date": end or None,
        "$ext": ext,
    }


def read_demographics(reader: Reader) -> None:
    """demographics.csv: ``sex`` and ``dob`` (and the other columns in ``$ext``) of a person.

    A person of this bundle's users file gets them in its data; another existing person
    (users delta or absent) gets them in ``Bundle.person_patches``; a row of an unknown user is
    an error. With a bulk demographics file, a person of this bundle without a row gets ``sex``
    and ``dob`` None; otherwise a person without a row has no ``sex``/``dob`` keys at all
    (nothing said: unchanged). A ``tobedeleted`` row sets ``sex`` and ``dob`` to None.
    """
    opened = reader.open("demographics")
    if opened is None:
        return
    spec, table, stream = opened
    extras = ext_columns(spec, table)
    sex_at, birth_at = column(table, "sex"), column(table, "birthDate")
    said: set[str] = set()
    taken = reader.skipping.taken.get("demographics")
    with stream:
        for line, sid, fields, deleting in reader.rows(spec, table):
            values: dict[str, Any] = {"sex": None, "dob": None}
            more: dict[str, Any] = {}
            if not deleting:
                values = {"sex": fields[sex_at] or None, "dob": fields[birth_at] or None}
                more = ext(extras, fields, {})
            person = reader.persons.get(sid)
            if person is not None:
                person.data.update(values)
                person.data["$ext"].update(more)
                said.add(sid)
                if taken is not None:
                    taken.add(line - 1, sid)
            elif reader.exists("person", sid):
                reader.bundle.person_patches[sid] = {**values, "$ext": more}
            elif not deleting:
                reader.error(spec, line, "sourcedId", reader.unknown("person", sid), sid)
    if reader.bundle.modes["demographics"] == "bulk":
        for sid, person in reader.persons.items():
            if sid not in said:
                person.data.update({"sex": None, "dob": None})
