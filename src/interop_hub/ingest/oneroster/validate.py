"""Reading a bundle's files in dependency order, row by row, into a :class:`Bundle`.

Each file is validated after the files it refers to, so a reference is checked against what
was already accepted, and a rejected row takes the rows that refer to it along (a class whose
course was rejected is rejected too). A reference resolves when its target was accepted from
this bundle or, when the target's file is ``delta`` or ``absent``, when the Repository already
has it (``existing``) and this bundle does not delete it. References inside one file (org and
session parents, user agents) are settled after the whole file is read, repeatedly, until no
further row falls.

Every rejected row yields exactly one :class:`RowError` (the first problem found), with the
row's ``sourcedId`` when it has one, so that the collection can keep what a bad row of a bulk
file would otherwise delete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from interop_hub.ingest.oneroster import mapping, people
from interop_hub.ingest.oneroster.bundle import DATA_FILES, Source
from interop_hub.ingest.oneroster.csvrows import Table
from interop_hub.ingest.oneroster.files import SPECS, FileSpec
from interop_hub.ingest.oneroster.lines import Remembered
from interop_hub.ingest.oneroster.mapping import Built, Fault, Values
from interop_hub.ingest.oneroster.rows import Row, RowChecker, ext, ext_columns
from interop_hub.ingest.oneroster.skipping import Referrers, Skipping
from interop_hub.ingest.records import (
    FILE_KINDS,
    KINDS,
    Bundle,
    BundleError,
    Kind,
    LoadedMemberships,
    Mode,
    RowError,
    SourceObject,
    WrittenElsewhere,
)

if TYPE_CHECKING:  # the splitter runs as `python -m`: not imported with the reader
    from interop_hub.ingest.oneroster.splitter import SplitElsewhere
from interop_hub.kit.ondemand import OnDemand

NOUNS: dict[Kind, str] = {
    "org": "org",
    "term": "academicSession",
    "course": "course",
    "section": "class",
    "person": "user",
    "grading_category": "category",
}
_KIND_FILES: dict[Kind, str] = {kind: name for name, kind in FILE_KINDS.items()}
_FILE_ORDER = {
    f"{name}.csv": i for i, name in enumerate((*DATA_FILES[:4], "roles", *DATA_FILES[4:]))
}


def _in_file_order(error: RowError) -> tuple[int, int]:
    """Sort key of row errors: by file (in reading order), then line."""
    return _FILE_ORDER.get(error.file, 99), error.line


_SELF_REFERRING: frozenset[Kind] = frozenset({"org", "term", "person"})
"""Kinds with references to their own kind (parents, agents), settled after their file."""


class MembershipsElsewhere(Protocol):
    """A process of its own that reads enrollments.csv and writes its memberships
    (:class:`interop_hub.ingest.loading.MembershipLoader`): it checks references against the
    ids this read sends it once users are read."""

    @property
    def table(self) -> str: ...
    @property
    def stamp(self) -> dt.datetime: ...
    def check_header(self) -> None:
        """Raise the :class:`BundleError` that opening enrollments.csv gave, if any."""

    def send_refs(self, resolvable: Mapping[Kind, AbstractSet[str]]) -> None:
        """Send the source ids that users, classes and schools resolve to."""

    def result(self) -> LoadedMemberships:
        """Wait for the end: what was written and found."""
        ...


@dataclass(slots=True)
class _Candidate:
    line: int
    sid: str
    built: Built


class Reader:
    """One read of one bundle; the per-file steps share what earlier files accepted."""

    def __init__(
        self,
        source: Source,
        version: str,
        modes: dict[str, Mode],
        existing: Mapping[Kind, AbstractSet[str]],
        existing_memberships: AbstractSet[str] | None,
        remembered: Mapping[str, Remembered] | None = None,
        referrers: Referrers | None = None,
        splitters: Mapping[str, SplitElsewhere] | None = None,
    ) -> None:
        self.source = source
        self.specs = SPECS[version]
        self.bundle = Bundle(version=version, modes=modes)
        self.checker = RowChecker(self.bundle)
        self.existing = existing
        self.existing_memberships = existing_memberships
        self.accepted: dict[Kind, dict[str, str]] = {kind: {} for kind in KINDS}
        """Accepted source ids by kind, each mapped to itself (the one string to share)."""
        self.deleted: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
        self.fallback = {kind: modes[_KIND_FILES[kind]] != "bulk" for kind in KINDS}
        self.persons: dict[str, SourceObject] = {}
        self.term_years: dict[str, int] = {}
        self.course_years: dict[str, int | None] = {}
        self.skipping = Skipping(self, remembered, referrers, splitters)
        self.checks_references = True
        """False: enrollments are read as if every user, class and school existed (a loader
        checks them later: :mod:`interop_hub.ingest.loader`)."""

    def run(
        self, *, defer_memberships: bool = False, elsewhere: MembershipsElsewhere | None = None
    ) -> Bundle:
        """Read the bundle; ``defer_memberships`` and ``elsewhere``: see
        :func:`~interop_hub.ingest.oneroster.read_bundle`."""
        self.objects("orgs", "org", mapping.org)
        self.objects("academicSessions", "term", mapping.term)
        self.objects("courses", "course", mapping.course)
        self.objects("classes", "section", mapping.section)
        roles = people.read_roles(self)
        self.objects("users", "person", roles.person)
        roles.report_unused()
        enrollments = None
        if elsewhere is not None:
            elsewhere.check_header()
            elsewhere.send_refs({k: self.resolvable(k) for k in ("person", "section", "org")})
        else:
            enrollments = self.open("enrollments")
        deferred = defer_memberships and enrollments is not None and _in_memory(enrollments)
        if enrollments is not None and not deferred:
            self.bundle.memberships = list(people.enrollments(self, enrollments))
        people.read_demographics(self)
        self.objects("categories", "grading_category", mapping.category)
        if elsewhere is not None:
            self.bundle.memberships = WrittenElsewhere(
                elsewhere.table, elsewhere.stamp, lambda: self._loaded(elsewhere)
            )
            # every file read here is read: its lines to remember can be stored meanwhile
            self.skipping.finish()
        elif enrollments is not None and deferred:
            self.bundle.memberships = OnDemand(
                people.enrollments(self, enrollments), done=self._finish
            )
        else:
            self._finish()
        return self.bundle

    def _loaded(self, elsewhere: MembershipsElsewhere) -> int:
        """Take in what the process that read enrollments.csv found; how many it wrote."""
        loaded = elsewhere.result()
        self.bundle.errors.extend(loaded.errors)
        self.bundle.rows_read += loaded.rows_read
        self.bundle.errors.sort(key=_in_file_order)
        if loaded.lines_table is not None:
            self.bundle.remembered_elsewhere["enrollments"] = loaded.lines_table
        return loaded.count

    def _finish(self) -> None:
        """The last steps, once every file is read: errors in file and line order, and what
        the next collection may skip."""
        self.bundle.errors.sort(key=_in_file_order)
        self.skipping.finish()

    def resolvable(self, kind: Kind) -> set[str]:
        """Every source id a reference to ``kind`` resolves to (:meth:`exists` of each)."""
        found = set(self.accepted[kind])
        if self.fallback[kind]:
            found.update(s for s in self.existing.get(kind, ()) if s not in self.deleted[kind])
        return found

    def gone(self, kind: Kind) -> set[str]:
        """The objects of ``kind`` that the Repository has but this bundle no longer states."""
        known = self.existing.get(kind, ())
        if not self.fallback[kind]:  # a bulk file: what it accepted is what exists
            return set(known).difference(self.accepted[kind])
        return {s for s in known if not self.exists(kind, s)}

    # -- references ---------------------------------------------------------------------------

    def exists(self, kind: Kind, sid: str) -> bool:
        """Whether a reference to ``kind`` ``sid`` resolves (see the module docstring)."""
        if sid in self.accepted[kind]:
            return True
        if self.fallback[kind]:
            known = self.existing.get(kind)
            return known is not None and sid in known and sid not in self.deleted[kind]
        return False

    @staticmethod
    def unknown(kind: Kind, sid: str) -> str:
        return f"refers to unknown {NOUNS[kind]} {sid!r}"

    def delete(self, kind: Kind, sid: str) -> None:
        """A ``tobedeleted`` row of a delta file."""
        self.deleted[kind].add(sid)
        known = self.existing.get(kind)
        if known is None or sid in known:  # deleting what the Repository lacks is a no-op
            self.bundle.deleted.append((kind, sid))

    # -- files --------------------------------------------------------------------------------

    def open(
        self, name: str
    ) -> tuple[FileSpec, Table, AbstractContextManager[IO[bytes] | None]] | None:
        """File ``name`` with its header checked, or None when the manifest says absent.

        A bulk file of :data:`LINE_FILES` that is line-safe is read whole and split into
        lines, so that its accepted lines can be remembered; its table then holds only the
        lines not skipped (:meth:`_compare`)."""
        mode = self.bundle.modes.get(name, "absent")
        if mode == "absent":
            return None
        spec = self.specs[name]
        chosen = self.skipping.table(name, spec) if mode == "bulk" else None
        if chosen is not None:
            self._check_columns(name, spec, chosen)
            return spec, chosen, nullcontext()
        stored = self.source.find(spec.file)
        if stored is None:  # read_manifest checked it; the folder changed since
            raise BundleError(f"{spec.file} is missing")
        stream = self.source.open(stored)
        try:
            table = Table(stream, spec.file)
            self._check_columns(name, spec, table)
        except BaseException:
            stream.close()
            raise
        return spec, table, stream

    def _check_columns(self, name: str, spec: FileSpec, table: Table) -> None:
        header = table.header
        missing = [c for c in ("sourcedId", *spec.required) if c not in header]
        if self.bundle.modes[name] == "delta":
            missing += [c for c in ("status", "dateLastModified") if c not in header]
        if name == "users" and self.bundle.modes.get("roles") == "absent":
            missing += [c for c in ("role",) if c not in header]  # 1.2 without roles.csv
        if missing:
            raise BundleError(f"{spec.file}: required column {missing[0]!r} is missing")

    def rows(self, spec: FileSpec, table: Table) -> Iterator[Row]:
        return self.checker.rows(spec, table, self.bundle.modes[spec.name] == "delta")

    def error(self, spec: FileSpec, line: int, col: str | None, reason: str, sid: str) -> None:
        self.checker.error(spec, line, col, reason, sid)

    def objects(self, name: str, kind: Kind, build: Callable[[Values], Built]) -> None:
        """Read a file of objects: check, build, resolve references, add to the bundle."""
        opened = self.open(name)
        if opened is None:
            return
        spec, table, stream = opened
        extras = ext_columns(spec, table)
        header = table.header
        candidates: list[_Candidate] = []
        with stream:
            for line, sid, fields, deleting in self.rows(spec, table):
                if deleting:
                    self.delete(kind, sid)
                    continue
                try:
                    built = build(dict(zip(header, fields, strict=False)))
                except Fault as fault:
                    self.error(spec, line, fault.column, fault.reason, sid)
                    continue
                built.data["$ext"] = ext(extras, fields, built.ext)
                candidates.append(_Candidate(line, sid, built))
        comparison = self.skipping.comparisons.get(name)
        if comparison is not None:  # skipped lines stand: nothing they refer to is gone
            self.accepted[kind].update((s, s) for s in comparison.unchanged)
        taken = self.skipping.taken.get(name)
        for c in self._resolve(spec, kind, candidates):
            self._add(kind, c.sid, c.built)
            if taken is not None:
                taken.add(c.line - 1, c.sid)

    def _add(self, kind: Kind, sid: str, built: Built) -> None:
        year = built.school_year
        if kind == "term" and year is not None:
            self.term_years[sid] = year
        elif kind == "course":
            year = _first_year(self.term_years, built.refs, "school_year")
            self.course_years[sid] = year
        elif kind == "section":
            year = _first_year(self.term_years, built.refs, "terms")
            if year is None:
                year = self.course_years.get(built.refs[0][1].source_id)
        refs = tuple([ref for _, ref in built.refs])
        obj = SourceObject(kind, sid, built.subtype, built.label, year, built.data, refs)
        self.bundle.objects.append(obj)
        if kind == "person":
            self.persons[sid] = obj

    def _resolve(
        self, spec: FileSpec, kind: Kind, candidates: list[_Candidate]
    ) -> list[_Candidate]:
        """The candidates whose references resolve; the others become errors.

        References to other kinds are checked once. References to the same kind are checked
        again and again, each round against what is still accepted, until a round rejects
        nothing (a chain of parents falls link by link); only candidates that have such
        references take part.
        """
        ok: list[_Candidate] = []
        selfish: list[_Candidate] = []
        for c in candidates:
            bad = self._bad_ref(c.built, kind, same=False)
            if bad is not None:
                self.error(spec, c.line, bad[0], bad[1], c.sid)
                continue
            ok.append(c)
            if kind in _SELF_REFERRING and any(ref.kind == kind for _, ref in c.built.refs):
                selfish.append(c)
        accepted = self.accepted[kind]
        for c in ok:
            accepted[c.sid] = c.sid
        fallen: set[str] = set()
        changed = bool(selfish)
        while changed:
            changed, keep = False, []
            for c in selfish:
                bad = self._bad_ref(c.built, kind, same=True)
                if bad is None:
                    keep.append(c)
                else:
                    self.error(spec, c.line, bad[0], bad[1], c.sid)
                    del accepted[c.sid]
                    fallen.add(c.sid)
                    changed = True
            selfish = keep
        return [c for c in ok if c.sid not in fallen] if fallen else ok

    def _bad_ref(self, built: Built, kind: Kind, *, same: bool) -> tuple[str, str] | None:
        """(column, reason) of the first reference that does not resolve, among the references
        to ``kind`` itself (``same``) or among those to other kinds."""
        exists = self.exists
        for col, ref in built.refs:
            if (ref.kind == kind) is same and not exists(ref.kind, ref.source_id):
                return col, self.unknown(ref.kind, ref.source_id)
        return None


def _in_memory(opened: people.Opened) -> bool:
    """Whether an opened file's lines are in memory (read whole, :mod:`.skipping`), so that
    they can still be read once the bundle is closed."""
    _, _, stream = opened
    return isinstance(stream, nullcontext)


def _first_year(years: dict[str, int], refs: list[tuple[str, Any]], rel: str) -> int | None:
    """The school year of the first term of relationship ``rel`` that this bundle states."""
    for _, ref in refs:
        if ref.rel == rel and ref.source_id in years:
            return years[ref.source_id]
    return None
