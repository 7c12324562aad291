"""What a source reader produces: normalized objects and memberships, plus row errors.

A reader (first: OneRoster CSV, :mod:`interop_hub.ingest.oneroster`) turns a bundle into these
records; the collection service compares them with the Repository and applies the difference.
Nothing here knows about the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Never, overload

from interop_hub.kit.ondemand import OnDemand

if TYPE_CHECKING:
    from interop_hub.ingest.oneroster.lines import Remembered

Kind = Literal["org", "person", "course", "section", "term", "grading_category"]
Mode = Literal["bulk", "delta", "absent"]

KINDS: tuple[Kind, ...] = ("org", "term", "course", "person", "section", "grading_category")
"""In dependency order: what a kind refers to comes before it."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another object by its source id (``rel`` names the relationship)."""

    rel: str  # "parent" | "org" | "orgs" | "course" | "terms" | "schools" | "agents" | ...
    kind: Kind
    source_id: str


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One object as the source states it.

    ``data`` holds the object's own fields as the Data API shows them (``name``, ``local_id``,
    ``title``, ``start_date``, ...) and ``"$ext"`` (everything from the source without a field of
    its own); never relationships, which are ``refs``.
    """

    kind: Kind
    source_id: str
    subtype: str | None  # org_type / person_type / term_type; None for other kinds
    label: str
    school_year: int | None
    data: dict[str, Any]
    refs: tuple[Ref, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceMembership:
    """A person's membership of a section (a OneRoster enrollment)."""

    source_id: str
    person_source_id: str
    section_source_id: str
    school_source_id: str | None
    role: str  # "student" | "teacher" | "aide" | "administrator" | "proctor" | ...
    data: dict[str, Any]  # "primary", "begin_date", "end_date", "$ext"


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: where it is and why. The rest of the bundle still goes in."""

    file: str  # the file's name in the bundle, e.g. "users.csv"
    line: int  # 1-based physical line of the row's start in the file (the header is line 1)
    column: str | None
    reason: str
    source_id: str | None = None


@dataclass
class Bundle:
    """Everything read from one bundle.

    ``modes`` maps each OneRoster file name (``orgs``, ``users``, ...) to how the manifest
    declares it. For a ``bulk`` kind the objects are the full state (what is missing is
    deleted); for a ``delta`` kind only ``deleted`` removes objects.
    """

    version: str  # "1.1" | "1.2"
    modes: dict[str, Mode]
    objects: list[SourceObject] = field(default_factory=list)
    memberships: list[SourceMembership] | OnDemand[SourceMembership] | WrittenElsewhere = field(
        default_factory=list
    )
    """An :class:`~interop_hub.kit.ondemand.OnDemand` when the reader deferred them, a
    :class:`WrittenElsewhere` when another process reads and writes them: then the errors,
    ``rows_read``, ``skipped`` and ``remember`` are complete only once they are all read
    (:meth:`read_all`)."""
    deleted: list[tuple[Kind, str]] = field(default_factory=list)
    deleted_memberships: list[str] = field(default_factory=list)
    person_patches: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Demographics for persons not in this bundle's users file (users delta or absent):
    fields to set on the existing person, by person source id."""
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    skipped: dict[str, Skipped] = field(default_factory=dict)
    """By file (``users``, ``enrollments``, ...): the lines skipped as remembered from the last
    collection. What they state stands as the Repository has it: neither records here nor
    deleted."""
    remember: dict[str, Remembered] = field(default_factory=dict)
    """By file: what the next collection may skip (a
    :class:`~interop_hub.ingest.oneroster.lines.Remembered`), to store if this one applies."""
    remembered_elsewhere: dict[str, str] = field(default_factory=dict)
    """By file (none of :attr:`remember`'s): the table in which the process that read it stored
    what the next collection may skip, as a row of ``ingest_remembered_lines`` without its
    cloud, file, order and collection (:mod:`interop_hub.ingest.loader`)."""

    @property
    def reading(self) -> bool:
        """Whether memberships the reader deferred are still (partly) unread."""
        members = self.memberships
        return isinstance(members, OnDemand | WrittenElsewhere) and not members.complete

    def read_all(self) -> None:
        """Read what the reader deferred (nothing if it deferred nothing)."""
        if isinstance(self.memberships, OnDemand):
            self.memberships.produce_all()
        elif isinstance(self.memberships, WrittenElsewhere):
            self.memberships.wait()

    def bulk_kinds(self) -> set[Kind]:
        """Kinds whose source file is bulk (their missing objects are deletions)."""
        return {kind for name, kind in FILE_KINDS.items() if self.modes.get(name) == "bulk"}


FILE_KINDS: dict[str, Kind] = {
    "orgs": "org",
    "academicSessions": "term",
    "courses": "course",
    "classes": "section",
    "users": "person",
    "categories": "grading_category",
}
"""OneRoster files that hold objects; ``enrollments`` holds memberships and ``demographics``
adds fields to persons."""


@dataclass(frozen=True)
class Skipped:
    """A file's lines that a read skipped as remembered from the last collection."""

    remembered: list[str]
    """The source ids of every line the last collection accepted from the file."""
    dropped: frozenset[str]
    """Those whose line was not skipped now (it is gone, changed, or parsed after all)."""

    @property
    def count(self) -> int:
        return len(self.remembered) - len(self.dropped)

    def source_ids(self) -> set[str]:
        """The source ids of the skipped lines."""
        return set(self.remembered).difference(self.dropped)


class BundleError(Exception):
    """The bundle cannot be read at all; the ingestion fails and nothing changes."""


@dataclass(frozen=True)
class LoadedMemberships:
    """What another process that read enrollments.csv and wrote its memberships found
    (:mod:`interop_hub.ingest.loader`): all that reading the file gives a bundle."""

    count: int
    rows_read: int
    errors: list[RowError]
    lines_table: str | None
    """The table it stored the file's lines to remember in (None: it remembers none)."""


class WrittenElsewhere(Sequence[Never]):
    """Memberships that another process reads and writes into a table of their own
    (:mod:`interop_hub.ingest.loader`): here they have a number, once that process is done,
    but no records. Reading an item is an error, never an empty sequence."""

    def __init__(self, table: str, stamp: dt.datetime, wait: Callable[[], int]) -> None:
        self.table = table
        """Where they are: the table that becomes the cloud's partition of memberships."""
        self.stamp = stamp
        """Their ``created_at``."""
        self._wait = wait
        self._count: int | None = None

    @property
    def complete(self) -> bool:
        return self._count is not None

    def wait(self) -> int:
        """Wait for the other process to be done (its outcome merged into the bundle once);
        the number of memberships written."""
        if self._count is None:
            self._count = self._wait()
        return self._count

    def __len__(self) -> int:
        return self.wait()

    def __bool__(self) -> bool:
        return self.wait() > 0

    def __iter__(self) -> Iterator[Never]:
        raise RuntimeError("these memberships were written by another process: no records here")

    @overload
    def __getitem__(self, index: int) -> Never: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Never]: ...
    def __getitem__(self, index: int | slice) -> Sequence[Never]:
        raise RuntimeError("these memberships were written by another process: no records here")
