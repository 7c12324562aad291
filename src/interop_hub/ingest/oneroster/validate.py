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

from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Any, Protocol

from interop_hub.ingest.oneroster import mapping, people
from interop_hub.ingest.oneroster.bundle import DATA_FILES, Source
from interop_hub.ingest.oneroster.csvrows import Table
from interop_hub.ingest.oneroster.files import SPECS, FileSpec
from interop_hub.ingest.oneroster.lines import (
    LINE_FILES,
    READ_WHOLE,
    Comparison,
    FileLines,
    Remembered,
    compare,
    pack_keys,
    source_ids,
    split_file,
)
from interop_hub.ingest.oneroster.mapping import Built, Fault, Values
from interop_hub.ingest.oneroster.rows import Row, RowChecker, ext, ext_columns
from interop_hub.ingest.records import (
    FILE_KINDS,
    KINDS,
    Bundle,
    BundleError,
    Kind,
    Mode,
    SourceObject,
)

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


_SELF_REFERRING: frozenset[Kind] = frozenset({"org", "term", "person"})
"""Kinds with references to their own kind (parents, agents), settled after their file."""


class Referrers(Protocol):
    """What in the Repository refers to given objects (source ids by kind): how a reader
    finds the remembered lines that an object gone since the last collection concerns."""

    def objects(self, kind: Kind, targets: Mapping[Kind, AbstractSet[str]]) -> set[str]:
        """The source ids of the objects of ``kind`` that refer to one of ``targets``."""
        ...

    def memberships(self, targets: Mapping[Kind, AbstractSet[str]]) -> set[str]:
        """The source ids of memberships whose person, section or school is one of
        ``targets``."""
        ...


REMEMBERED_FILE_BYTES = 256 * 1024**2
"""A file of :data:`LINE_FILES` is held whole in memory to be split into lines (with its
lines, about twice its size); a larger one is streamed and its lines are not remembered (the
enrollments of a 100,000-student district are 73 MB)."""


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
        self.remembered = remembered or {}
        self.referrers = referrers
        self.split: dict[str, FileLines | None] = {}
        """The bulk files of :data:`LINE_FILES` read so far: as lines, None if they are not
        line-safe."""
        self.file_lines: dict[str, FileLines] = {}
        """Those that are line-safe."""
        self.same: dict[str, bool] = {}
        """The files of :data:`READ_WHOLE`: whether their lines are those remembered."""
        self.comparisons: dict[str, Comparison] = {}
        """Those of them whose remembered lines are skipped."""
        self.taken: dict[str, list[tuple[int, str]]] = {}
        """(line index, sourcedId) of each line of those files parsed and accepted."""

    def run(self) -> Bundle:
        self.objects("orgs", "org", mapping.org)
        self.objects("academicSessions", "term", mapping.term)
        self.objects("courses", "course", mapping.course)
        self.objects("classes", "section", mapping.section)
        roles = people.read_roles(self)
        self.objects("users", "person", roles.person)
        roles.report_unused()
        people.read_enrollments(self)
        people.read_demographics(self)
        self.objects("categories", "grading_category", mapping.category)
        self.bundle.errors.sort(key=lambda e: (_FILE_ORDER.get(e.file, 99), e.line))
        self._remember()
        return self.bundle

    # -- remembered lines (see lines.py) ------------------------------------------------------

    def _remember(self) -> None:
        """What the next collection may skip: every line of the line-safe files accepted now,
        and the lines skipped now (still accepted)."""
        for name, lines in self.file_lines.items():
            taken = self.taken.get(name, [])
            keys = [lines.keys[i] for i, _ in taken]
            ids = [s for _, s in taken]
            comparison = self.comparisons.get(name)
            if comparison is not None:
                keys += [lines.keys[i] for i in comparison.unchanged.values()]
                ids += comparison.unchanged
                self.bundle.unchanged[name] = set(comparison.unchanged)
                self.bundle.previous[name] = self.remembered[name].source_ids
                self.bundle.rows_read += len(comparison.unchanged)
            self.bundle.remember[name] = Remembered(lines.context, pack_keys(keys), ids)

    def _lines(self, name: str) -> FileLines | None:
        """File ``name`` (bulk, of :data:`LINE_FILES`) as lines, or None when it is not
        line-safe or larger than :data:`REMEMBERED_FILE_BYTES` (it is then streamed as any
        other file); read once."""
        if name not in self.split:
            stored = self.source.find(self.specs[name].file)
            if stored is None:
                raise BundleError(f"{self.specs[name].file} is missing")
            with self.source.open(stored) as stream:
                data = stream.read(REMEMBERED_FILE_BYTES + 1)
            lines = None
            if len(data) <= REMEMBERED_FILE_BYTES:
                lines = split_file(data, self.bundle.version, self.bundle.modes)
            del data
            self.split[name] = lines
            if lines is not None:
                self.file_lines[name] = lines
                self.taken[name] = []
        return self.split[name]

    def _compare(self, name: str, lines: FileLines) -> Comparison | None:
        """The lines of file ``name`` to parse and those to skip, or None to parse them all.

        A remembered line is skipped when nothing outside it changed what it gives: a user's
        demographics row (new, changed or gone), an org or person it refers to that is gone
        (the person's own file: any whose line changed or vanished, followed through the
        agents that refer to it), an enrollment's user, class or school that is gone."""
        remembered = self.remembered.get(name)
        comparison = None if remembered is None else compare(lines, remembered)
        if name in READ_WHOLE:
            self.same[name] = comparison is not None and comparison.same(lines)
            return None
        if comparison is None:
            return None
        if name == "classes" and not self._settle_sections(comparison):
            return None
        if name == "users" and not self._settle_users(comparison):
            return None
        if name == "enrollments" and not self._settle_enrollments(comparison):
            return None
        if name == "demographics":
            users = self.comparisons.get("users")
            if users is None:
                return None
            comparison.force({s for s in comparison.unchanged if s not in users.unchanged})
        self.comparisons[name] = comparison
        return comparison

    def _settle_sections(self, comparison: Comparison) -> bool:
        """A class's school year comes from its terms and course: its line is skipped only
        when their files are as last time (then a term or course it names that is not gone
        has the year it had), and not when one of them, or its school, is gone."""
        modes = self.bundle.modes
        if self.referrers is None or not all(
            self.same.get(name, modes.get(name, "absent") == "absent") for name in READ_WHOLE
        ):
            return False
        targets: dict[Kind, set[str]] = {
            "course": self._gone("course"),
            "term": self._gone("term"),
            "org": self._gone("org"),
        }
        if any(targets.values()):
            comparison.force(self.referrers.objects("section", targets))
        return True

    def _settle_users(self, comparison: Comparison) -> bool:
        modes = self.bundle.modes
        if modes.get("roles", "absent") != "absent" or self.referrers is None:
            return False  # a 1.2 role row may change a person: users.csv is read whole
        if modes.get("demographics", "absent") == "bulk":
            lines = self._lines("demographics")
            remembered = self.remembered.get("demographics")
            if lines is None or remembered is None:
                return False
            said = compare(lines, remembered)
            if said is None:
                return False
            comparison.force(set(source_ids(lines, said.changed)) | said.vanished)
        elif modes.get("demographics", "absent") != "absent":
            return False
        orgs = self._gone("org")
        if orgs:
            comparison.force(self.referrers.objects("person", {"org": orgs}))
        # every remembered person whose line is parsed or gone may be rejected or deleted
        frontier = {s for s in self.remembered["users"].source_ids if s not in comparison.unchanged}
        while frontier:
            found = self.referrers.objects("person", {"person": frontier})
            frontier = {s for s in found if s in comparison.unchanged}
            comparison.force(frontier)
        return True

    def _settle_enrollments(self, comparison: Comparison) -> bool:
        users = self.remembered.get("users") if "users" in self.comparisons else None
        persons = (
            {s for s in users.source_ids if not self.exists("person", s)}
            if users is not None
            else self._gone("person")
        )
        targets: dict[Kind, set[str]] = {
            "person": persons,
            "section": self._gone("section"),
            "org": self._gone("org"),
        }
        if any(targets.values()):
            if self.referrers is None:
                return False
            comparison.force(self.referrers.memberships(targets))
        return True

    def _gone(self, kind: Kind) -> set[str]:
        """The objects of ``kind`` that the Repository has but this bundle no longer states."""
        return {s for s in self.existing.get(kind, ()) if not self.exists(kind, s)}

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
        lines = self._lines(name) if mode == "bulk" and name in LINE_FILES else None
        if lines is not None:
            comparison = self._compare(name, lines)
            indexes = lines.records() if comparison is None else comparison.changed
            header = lines.lines[lines.header_at]
            table = Table.of_lines(spec.file, header, lines.lines, indexes)
            self._check_columns(name, spec, table)
            return spec, table, nullcontext()
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
        comparison = self.comparisons.get(name)
        if comparison is not None:  # skipped lines stand: nothing they refer to is gone
            self.accepted[kind].update((s, s) for s in comparison.unchanged)
        taken = self.taken.get(name)
        for c in self._resolve(spec, kind, candidates):
            self._add(kind, c.sid, c.built)
            if taken is not None:
                taken.append((c.line - 1, c.sid))

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


def _first_year(years: dict[str, int], refs: list[tuple[str, Any]], rel: str) -> int | None:
    """The school year of the first term of relationship ``rel`` that this bundle states."""
    for _, ref in refs:
        if ref.rel == rel and ref.source_id in years:
            return years[ref.source_id]
    return None
