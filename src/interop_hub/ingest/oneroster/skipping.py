"""Which lines of a bundle's files a read skips as remembered from the last collection, and
what it remembers for the next one (:mod:`.lines` says what a remembered line is).

A remembered line is skipped when nothing outside it changed what it gives. For each file:

- ``classes``: a class's school year comes from its terms and course, so its line is skipped
  only when the terms and courses files (remembered, always parsed) are as last time, and not
  when its course, a term or its school is gone;
- ``users``: not when the person's demographics row is new, changed or gone, nor when an org
  or person it refers to is gone (a person whose line changed or vanished may be: followed
  through the agents that refer to it); not at all when 1.2 roles are read;
- ``enrollments``: not when its user, class or school is gone;
- ``demographics``: only when its person's users line is skipped too.

What refers to an object is looked up in the Repository (:class:`Referrers`): the lines
skipped were accepted last time, so the Repository holds what they state.
"""

from __future__ import annotations

import array
import contextlib
import io
import itertools
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Protocol

from interop_hub.ingest.oneroster.csvrows import Table
from interop_hub.ingest.oneroster.files import FileSpec
from interop_hub.ingest.oneroster.lines import (
    LINE_FILES,
    READ_WHOLE,
    Comparison,
    FileLines,
    Remembered,
    compare,
    remember,
    source_ids,
    split_file,
)
from interop_hub.ingest.records import BundleError, Kind, Skipped

if TYPE_CHECKING:
    from interop_hub.ingest.oneroster.splitter import SplitElsewhere
    from interop_hub.ingest.oneroster.validate import Reader


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
"""A file of :data:`LINE_FILES` is held whole in memory to be split into lines (its size and
16 bytes a line: a key and where the line starts); a larger one is streamed and its lines are
not remembered (the enrollments of a 100,000-student district are 137 MB)."""


class Taken:
    """The lines of a file parsed and accepted: their indexes and ``sourcedId``s (two arrays,
    not a tuple a line: a million lines)."""

    __slots__ = ("ids", "indexes")

    def __init__(self) -> None:
        self.indexes: array.array[int] = array.array("q")
        self.ids: list[str] = []

    def add(self, index: int, source_id: str) -> None:
        self.indexes.append(index)
        self.ids.append(source_id)

    def in_order(self) -> tuple[array.array[int], list[str]]:
        """The indexes and ids by line (the readers add them in that order already)."""
        indexes = self.indexes
        if all(a < b for a, b in itertools.pairwise(indexes)):
            return indexes, self.ids
        pairs = sorted(zip(indexes, self.ids, strict=True))
        return array.array("q", [i for i, _ in pairs]), [s for _, s in pairs]


class Skipping:
    """The remembered lines of one read of a bundle: compared file by file as the reader
    opens them, in its order (what a file's lines depend on is read before it)."""

    def __init__(
        self,
        reader: Reader,
        remembered: Mapping[str, Remembered] | None,
        referrers: Referrers | None,
        splitters: Mapping[str, SplitElsewhere] | None = None,
    ) -> None:
        self.reader = reader
        self.splitters = dict(splitters or {})
        """Files split by a process of their own (:mod:`.splitter`), until taken."""
        self.remembered: Mapping[str, Remembered] = {} if remembered is None else remembered
        self.ahead = remembered is not None
        """Whether every file of :data:`LINE_FILES` is split before the first one is compared:
        with remembered lines, which may still be loading (:class:`~interop_hub.ingest.
        remembered.Loading`); without, each is split as it is read (one file in memory)."""
        self.referrers = referrers
        self.split: dict[str, FileLines | None] = {}
        """The bulk files of :data:`LINE_FILES` read so far: as lines, None if they are not
        line-safe."""
        self.compared: dict[str, Comparison | None] = {}
        self.same: dict[str, bool] = {}
        """The files of :data:`READ_WHOLE`: whether their lines are those remembered."""
        self.comparisons: dict[str, Comparison] = {}
        """Those of them whose remembered lines are skipped."""
        self.taken: dict[str, Taken] = {}
        """The lines of those files parsed and accepted."""

    def table(self, name: str, spec: FileSpec) -> Table | None:
        """The table of bulk file ``name``'s lines to parse, or None when it is not one whose
        lines are remembered (it is streamed)."""
        if name not in LINE_FILES:
            return None
        if self.ahead:
            self.ahead = False
            self._split_ahead()
        lines = self._lines(name)
        if lines is None:
            return None
        comparison = self._compare(name, lines)
        if comparison is None:  # every line
            if lines.unquoted and lines.line_end is not None:  # split at the commas
                header = lines.lines[lines.header_at]
                found = lines.unquoted_file()
                return Table.of_unquoted(spec.file, header, lines.header_at + 1, found)
            # the csv module reads the file as any other
            return Table(io.BytesIO(lines.whole()), spec.file)
        return Table.of_lines(spec.file, *lines.chosen(comparison.changed))

    def finish(self) -> None:
        """What the next collection may skip: every line of the line-safe files accepted now
        (those skipped now still are), in the files' order."""
        bundle = self.reader.bundle
        for name, lines in self.split.items():
            if lines is None:
                continue
            comparison = self.comparisons.get(name)
            if comparison is not None:
                bundle.skipped[name] = Skipped(
                    self.remembered[name].source_ids, frozenset(comparison.not_skipped())
                )
                bundle.rows_read += comparison.count
            indexes, ids = self.taken[name].in_order()
            bundle.remember[name] = remember(lines, indexes, ids, comparison)

    def _lines(self, name: str) -> FileLines | None:
        """File ``name`` (bulk, of :data:`LINE_FILES`) as lines, or None when it is not
        line-safe or larger than :data:`REMEMBERED_FILE_BYTES` (it is then streamed as any
        other file); read once."""
        if name not in self.split:
            stored = self.reader.source.find(self.reader.specs[name].file)
            if stored is None:
                raise BundleError(f"{self.reader.specs[name].file} is missing")
            with self.reader.source.open(stored) as stream:
                data = stream.read(REMEMBERED_FILE_BYTES + 1)
            lines = None
            splitter = self.splitters.pop(name, None)
            if len(data) > REMEMBERED_FILE_BYTES:
                if splitter is not None:
                    splitter.stop()
            elif splitter is not None:
                lines = splitter.lines(data)
            else:
                lines = split_file(data, self.reader.bundle.version, self.reader.bundle.modes)
            self.split[name] = lines
            if lines is not None:
                self.taken[name] = Taken()
        return self.split[name]

    def _split_ahead(self) -> None:
        """Split the bulk files of :data:`LINE_FILES` (a missing one is left to the reader to
        report when it gets to it)."""
        modes = self.reader.bundle.modes
        for name in LINE_FILES:
            # a file split elsewhere is taken when it is read (the process has time meanwhile)
            if modes.get(name) == "bulk" and name not in self.splitters:
                with contextlib.suppress(BundleError):
                    self._lines(name)

    def _compare(self, name: str, lines: FileLines) -> Comparison | None:
        """The lines of file ``name`` to parse and those to skip (see the module docstring),
        or None to parse them all."""
        comparison = self._compared(name, lines)
        if name in READ_WHOLE:
            self.same[name] = comparison is not None and comparison.same()
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
            comparison.force(comparison.unchanged - users.unchanged)
        self.comparisons[name] = comparison
        return comparison

    def _compared(self, name: str, lines: FileLines) -> Comparison | None:
        """File ``name`` compared with its remembered lines, once (users ask for their
        demographics' before those are read)."""
        if name not in self.compared:
            remembered = self.remembered.get(name)
            self.compared[name] = None if remembered is None else compare(lines, remembered)
        return self.compared[name]

    def _settle_sections(self, comparison: Comparison) -> bool:
        """A class's school year comes from its terms and course: its line is skipped only
        when their files are as last time (then a term or course it names that is not gone
        has the year it had), and not when one of them, or its school, is gone."""
        modes = self.reader.bundle.modes
        if self.referrers is None or not all(
            self.same.get(name, modes.get(name, "absent") == "absent") for name in READ_WHOLE
        ):
            return False
        targets: dict[Kind, set[str]] = {
            "course": self.reader.gone("course"),
            "term": self.reader.gone("term"),
            "org": self.reader.gone("org"),
        }
        if any(targets.values()):
            comparison.force(self.referrers.objects("section", targets))
        return True

    def _settle_users(self, comparison: Comparison) -> bool:
        modes = self.reader.bundle.modes
        if modes.get("roles", "absent") != "absent" or self.referrers is None:
            return False  # a 1.2 role row may change a person: users.csv is read whole
        if modes.get("demographics", "absent") == "bulk":
            lines = self._lines("demographics")
            said = None if lines is None else self._compared("demographics", lines)
            if lines is None or said is None:
                return False
            comparison.force(set(source_ids(lines, said.changed)) | said.vanished)
        elif modes.get("demographics", "absent") != "absent":
            return False
        orgs = self.reader.gone("org")
        if orgs:
            comparison.force(self.referrers.objects("person", {"org": orgs}))
        # every remembered person whose line is parsed or gone may be rejected or deleted
        frontier = comparison.not_skipped()
        while frontier:
            found = self.referrers.objects("person", {"person": frontier})
            frontier = found & comparison.unchanged
            comparison.force(frontier)
        return True

    def _settle_enrollments(self, comparison: Comparison) -> bool:
        users = self.comparisons.get("users")
        persons = (  # a skipped users line was accepted: only the others may be gone
            {s for s in users.not_skipped() if not self.reader.exists("person", s)}
            if users is not None
            else self.reader.gone("person")
        )
        targets: dict[Kind, set[str]] = {
            "person": persons,
            "section": self.reader.gone("section"),
            "org": self.reader.gone("org"),
        }
        if any(targets.values()):
            if self.referrers is None:
                return False
            comparison.force(self.referrers.memberships(targets))
        return True
